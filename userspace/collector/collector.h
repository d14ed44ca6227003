// Reads the kernel's per-stack ledger and user stacks each tick. Its cost
// follows the number of distinct stacks, not the allocation rate.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "core/types.h"
#include "leakscope.h"

namespace leakscope {

struct LedgerRow {
  uint32_t trace_id = 0;  // the process image (TraceId)
  Kind kind = Kind::Heap;
  int32_t stack_id = LS_STACK_UNKNOWN;
  uint32_t fn = 0;  // enum ls_alloc_fn for the heap; MmapBacking for mmap/brk
  ls_ledger_val value{};
  int64_t armed = 0;  // timerfd: live timers that are armed
  // Under --sample N, heap values are estimates (N times what was counted);
  // this is the live objects actually counted, for the error bars.
  int64_t counted_objects = -1;
};

class Collector {
 public:
  // `heap_scale`: N under --sample N; heap rows are scaled by it.
  Collector(int ledger_fd, int stacks_fd, uint32_t heap_scale = 1)
      : ledger_fd_(ledger_fd), stacks_fd_(stacks_fd), heap_scale_(heap_scale ? heap_scale : 1) {}

  // Every ledger row, read in batches. nullopt when the map cannot be read.
  std::optional<std::vector<LedgerRow>> read_ledger() const;

  // The user stack behind `stack_id`, innermost frame first.
  std::vector<uint64_t> read_stack(int32_t stack_id) const;

 private:
  void scale(LedgerRow& row) const;

  int ledger_fd_;
  int stacks_fd_;
  uint32_t heap_scale_;
};

}  // namespace leakscope
