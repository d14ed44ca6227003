#include "collector/collector.h"

#include <bpf/bpf.h>

#include <array>

#include "probes/map_iter.h"

namespace leakscope {

void Collector::scale(LedgerRow& row) const {
  const int64_t n = heap_scale_;
  row.counted_objects = row.value.live_objects;
  row.value.live_bytes *= n;
  row.value.live_objects *= n;
  row.value.allocs *= static_cast<uint64_t>(n);
  row.value.frees *= static_cast<uint64_t>(n);
  row.value.bytes_allocated *= static_cast<uint64_t>(n);
}

std::optional<std::vector<LedgerRow>> Collector::read_ledger() const {
  std::vector<LedgerRow> rows;
  bool ok = for_each_entry(ledger_fd_, sizeof(ls_ledger_key), sizeof(ls_ledger_val),
                           [&](const void* k, const void* v) {
                             auto* key = static_cast<const ls_ledger_key*>(k);
                             LedgerRow row;
                             row.trace_id = key->trace_id;
                             row.kind = static_cast<Kind>(key->kind);
                             row.stack_id = key->stack_id;
                             row.fn = key->fn;
                             row.value = *static_cast<const ls_ledger_val*>(v);
                             if (heap_scale_ > 1 && row.kind == Kind::Heap) scale(row);
                             rows.push_back(row);
                           });
  if (!ok) return std::nullopt;
  return rows;
}

std::vector<uint64_t> Collector::read_stack(int32_t stack_id) const {
  std::vector<uint64_t> out;
  if (stack_id < 0) return out;
  std::array<uint64_t, LS_MAX_STACK_DEPTH> ips{};
  uint32_t id = static_cast<uint32_t>(stack_id);
  if (bpf_map_lookup_elem(stacks_fd_, &id, ips.data()) != 0) return out;
  for (uint64_t ip : ips) {
    if (ip == 0) break;
    out.push_back(ip);
  }
  return out;
}

}  // namespace leakscope
