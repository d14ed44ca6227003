#include "symbols/perf_map.h"

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <iterator>
#include <limits>
#include <map>
#include <unordered_map>
#include <utility>

namespace leakscope {

namespace {

constexpr std::string_view kBlanks = " \t";

std::string_view trim(std::string_view s) {
  const size_t first = s.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  const size_t last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

// Consumes one hex number followed by at least one blank.
std::optional<uint64_t> take_hex(std::string_view& s) {
  if (s.starts_with("0x") || s.starts_with("0X")) s.remove_prefix(2);
  uint64_t value = 0;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, value, 16);
  if (ec != std::errc() || ptr == s.data() || ptr == end) return std::nullopt;
  if (*ptr != ' ' && *ptr != '\t') return std::nullopt;
  s.remove_prefix(static_cast<size_t>(ptr - s.data()));
  const size_t next = s.find_first_not_of(kBlanks);
  s.remove_prefix(next == std::string_view::npos ? s.size() : next);
  return value;
}

struct Line {
  uint64_t start;
  uint64_t size;
  std::string_view name;
};

// The next well-formed line of `text` (consumed up to it and past it).
std::optional<Line> next_line(std::string_view& text) {
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    const auto start = take_hex(line);
    if (!start) continue;
    const auto size = take_hex(line);
    if (!size || *size == 0 || line.empty()) continue;
    return Line{*start, *size, line};
  }
  return std::nullopt;
}

}  // namespace

void PerfMap::clear() {
  table_ = {};
  names_ = {};
  full_ = false;
}

size_t PerfMap::names_bytes() const {
  size_t n = 0;
  for (const std::string& block : names_) n += block.capacity();
  return n;
}

size_t PerfMap::memory_bytes() const {
  return table_.capacity() * sizeof(Entry) + names_.capacity() * sizeof(std::string) + names_bytes();
}

bool PerfMap::store_name(std::string_view name, Entry* e) {
  name = name.substr(0, kMaxName);
  if (names_.empty() || names_.back().size() + name.size() > kBlock) {
    if ((names_.size() + 1) * kBlock > std::numeric_limits<uint32_t>::max()) return false;
    names_.emplace_back().reserve(kBlock);
  }
  std::string& block = names_.back();
  e->name_at = static_cast<uint32_t>((names_.size() - 1) * kBlock + block.size());
  e->name_len = static_cast<uint32_t>(name.size());
  block.append(name);
  return true;
}

std::string_view PerfMap::name_of(const Entry& e) const {
  return std::string_view(names_[e.name_at / kBlock]).substr(e.name_at % kBlock, e.name_len);
}

void PerfMap::add(uint64_t start, uint64_t size, std::string_view name) {
  if (size == 0 || name.empty()) return;
  const uint64_t end = start + size < start ? UINT64_MAX : start + size;
  Entry e{start, end, 0, 0};
  if (table_.size() + 2 > max_symbols_ || !store_name(name, &e)) {
    full_ = true;
    return;
  }
  merge({e});
  compact_names();
}

size_t PerfMap::add_text(std::string_view text) {
  size_t added = 0;
  while (true) {
    // Each symbol added makes the table at most two entries longer (it may
    // split an older one in two): a round adds what cannot pass the bound.
    const size_t room = table_.size() < max_symbols_ ? (max_symbols_ - table_.size()) / 2 : 0;
    if (room == 0) {
      if (next_line(text)) full_ = true;  // something well-formed refused
      break;
    }
    std::vector<Entry> batch;
    bool out_of_names = false;
    while (batch.size() < room) {
      const std::optional<Line> line = next_line(text);
      if (!line) break;
      const uint64_t end =
          line->start + line->size < line->start ? UINT64_MAX : line->start + line->size;
      Entry e{line->start, end, 0, 0};
      if (!store_name(line->name, &e)) {
        out_of_names = true;
        break;
      }
      batch.push_back(e);
    }
    added += batch.size();
    if (!batch.empty()) merge(std::move(batch));
    if (out_of_names) full_ = true;
    if (out_of_names || text.empty()) break;
  }
  compact_names();
  return added;
}

namespace {

bool by_start(uint64_t start, const auto& e) { return start < e.start; }

}  // namespace

void PerfMap::merge(std::vector<Entry> batch) {
  const auto before = [](const Entry& a, const Entry& b) { return a.start < b.start; };
  // 1. The batch among itself: later symbols win. Usually its symbols do not
  // overlap, and sorting is all it takes.
  std::vector<Entry> sorted = batch;
  std::stable_sort(sorted.begin(), sorted.end(), before);
  bool overlapping = false;
  for (size_t i = 1; i < sorted.size() && !overlapping; ++i)
    overlapping = sorted[i].start < sorted[i - 1].end;
  if (overlapping) {
    // Newest first, each keeps what no newer one covers.
    std::map<uint64_t, uint64_t> covered;  // start -> end, disjoint
    sorted.clear();
    for (auto e = batch.rbegin(); e != batch.rend(); ++e) {
      auto it = covered.upper_bound(e->start);
      if (it != covered.begin() && std::prev(it)->second > e->start) --it;
      uint64_t cur = e->start;
      uint64_t lo = e->start;
      uint64_t hi = e->end;
      while (it != covered.end() && it->first < e->end) {
        if (it->first > cur) sorted.push_back({cur, it->first, e->name_at, e->name_len});
        cur = std::max(cur, it->second);
        lo = std::min(lo, it->first);
        hi = std::max(hi, it->second);
        it = covered.erase(it);
      }
      if (cur < e->end) sorted.push_back({cur, e->end, e->name_at, e->name_len});
      covered.emplace(lo, hi);
    }
    std::sort(sorted.begin(), sorted.end(), before);
  }
  batch = {};

  // 2. Most often (a JIT appends code it put in fresh memory) nothing in the
  // table lies under the batch: the batch goes in, merged in place.
  bool covers_older = false;
  for (size_t i = 0; i < sorted.size() && !covers_older; ++i) {
    auto it = std::upper_bound(table_.begin(), table_.end(), sorted[i].start, by_start<Entry>);
    if (it != table_.begin() && std::prev(it)->end > sorted[i].start) covers_older = true;
    if (it != table_.end() && it->start < sorted[i].end) covers_older = true;
  }
  if (!covers_older) {
    const size_t old_size = table_.size();
    if (table_.capacity() < old_size + sorted.size())
      table_.reserve(std::max(old_size + sorted.size(), table_.capacity() + table_.capacity() / 4));
    table_.insert(table_.end(), sorted.begin(), sorted.end());
    std::inplace_merge(table_.begin(), table_.begin() + static_cast<std::ptrdiff_t>(old_size),
                       table_.end(), before);
    return;
  }

  // 3. Otherwise each older symbol keeps what the batch does not cover.
  std::vector<Entry> merged;
  merged.reserve(table_.size() + 2 * sorted.size());
  size_t j = 0;
  auto next_new = sorted.begin();
  auto emit = [&](const Entry& e) {
    // Batch symbols that start before `e` go first: the result stays sorted.
    while (next_new != sorted.end() && next_new->start < e.start) merged.push_back(*next_new++);
    merged.push_back(e);
  };
  for (const Entry& a : table_) {
    while (j < sorted.size() && sorted[j].end <= a.start) ++j;
    uint64_t cur = a.start;
    for (size_t k = j; k < sorted.size() && sorted[k].start < a.end && cur < a.end; ++k) {
      if (sorted[k].start > cur) emit({cur, sorted[k].start, a.name_at, a.name_len});
      cur = std::max(cur, sorted[k].end);
    }
    if (cur < a.end) emit({cur, a.end, a.name_at, a.name_len});
  }
  merged.insert(merged.end(), next_new, sorted.end());
  table_ = std::move(merged);
}

void PerfMap::compact_names() {
  // Names of symbols since replaced stay in names_ until they are most of it.
  size_t live = 0;
  for (const Entry& e : table_) live += e.name_len;
  if (names_bytes() <= 2 * live + 2 * kBlock) return;
  std::vector<std::string> old = std::move(names_);
  names_ = {};
  std::unordered_map<uint32_t, uint32_t> moved;  // old name_at -> new (pieces share a name)
  for (Entry& e : table_) {
    auto [it, fresh] = moved.try_emplace(e.name_at, 0);
    if (fresh) {
      const std::string_view name =
          std::string_view(old[e.name_at / kBlock]).substr(e.name_at % kBlock, e.name_len);
      Entry copy = e;
      store_name(name, &copy);  // fits: fewer bytes than before
      it->second = copy.name_at;
    }
    e.name_at = it->second;
  }
}

std::optional<PerfMapSymbol> PerfMap::lookup(uint64_t addr) const {
  auto it = std::upper_bound(table_.begin(), table_.end(), addr, by_start<Entry>);
  if (it == table_.begin()) return std::nullopt;
  --it;
  if (addr >= it->end) return std::nullopt;
  return PerfMapSymbol{it->start, it->end, name_of(*it)};
}

PerfMap parse_perf_map(std::string_view text) {
  PerfMap map;
  map.add_text(text);
  return map;
}

}  // namespace leakscope
