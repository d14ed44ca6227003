#include "resources/page_ledger.h"

#include <climits>

namespace leakscope {

PageLedger::PageLedger(uint64_t page_size, size_t max_pages)
    : page_size_(page_size ? page_size : 4096), max_pages_(max_pages) {}

void PageLedger::touch(uint32_t trace_id, uint64_t address, int32_t stack_id, uint64_t ts_ns, uint32_t weight) {
  if (weight == 0) weight = 1;
  const uint64_t page = address - address % page_size_;
  auto [rit, fresh] = rows_.try_emplace({trace_id, stack_id});
  ResourceRow& row = rit->second;
  if (fresh) {
    row.trace_id = trace_id;
    row.kind = Kind::Fault;
    row.stack_id = stack_id;
    row.first_ns = ts_ns;
  }
  auto& pages = pages_[trace_id];
  auto it = pages.find(page);
  if (it != pages.end()) {
    if (it->second.row == &row) return;  // swapped back in, say: still the same growth
    release_page(pages, it);
  }
  if (tracked_ >= max_pages_) {
    dropped_ += weight;  // the pages it stood for
    return;
  }
  pages.emplace(page, Page{&row, ts_ns, weight});
  ++tracked_;
  row.live_bytes += static_cast<int64_t>(page_size_ * weight);
  row.live_objects += weight;
  row.allocs += weight;
  row.bytes_allocated += page_size_ * weight;
}

void PageLedger::release_page(std::map<uint64_t, Page>& pages, std::map<uint64_t, Page>::iterator it) {
  ResourceRow* row = it->second.row;
  const uint32_t weight = it->second.weight;
  row->live_bytes -= static_cast<int64_t>(page_size_ * weight);
  row->live_objects -= weight;
  row->frees += weight;
  pages.erase(it);
  --tracked_;
}

std::vector<uint32_t> PageLedger::images() const {
  std::vector<uint32_t> out;
  for (const auto& [id, pages] : pages_)
    if (!pages.empty()) out.push_back(id);
  return out;
}

std::vector<uint64_t> PageLedger::pages(uint32_t trace_id) const {
  std::vector<uint64_t> out;
  auto it = pages_.find(trace_id);
  if (it == pages_.end()) return out;
  out.reserve(it->second.size());
  for (const auto& [page, row] : it->second) out.push_back(page);
  return out;
}

std::vector<uint64_t> PageLedger::pages(uint32_t trace_id, uint64_t from, size_t max) const {
  std::vector<uint64_t> out;
  auto it = pages_.find(trace_id);
  if (it == pages_.end()) return out;
  for (auto p = it->second.lower_bound(from); p != it->second.end() && out.size() < max; ++p)
    out.push_back(p->first);
  return out;
}

void PageLedger::release(uint32_t trace_id, std::span<const uint64_t> gone, uint64_t seen_ns) {
  auto it = pages_.find(trace_id);
  if (it == pages_.end()) return;
  for (uint64_t page : gone) {
    auto p = it->second.find(page - page % page_size_);
    if (p != it->second.end() && p->second.touched_ns <= seen_ns) release_page(it->second, p);
  }
}

void PageLedger::process_exited(uint32_t trace_id) {
  auto it = pages_.find(trace_id);
  if (it == pages_.end()) return;
  while (!it->second.empty()) release_page(it->second, it->second.begin());
  pages_.erase(it);
}

void PageLedger::forget(uint32_t trace_id) {
  process_exited(trace_id);
  for (auto it = rows_.lower_bound({trace_id, INT32_MIN});
       it != rows_.end() && it->first.first == trace_id;)
    it = rows_.erase(it);
}

std::vector<ResourceRow> PageLedger::rows() const {
  std::vector<ResourceRow> out;
  out.reserve(rows_.size());
  for (const auto& [key, row] : rows_) out.push_back(row);
  return out;
}

}  // namespace leakscope
