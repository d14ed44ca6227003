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
};

class Collector {
 public:
  Collector(int ledger_fd, int stacks_fd) : ledger_fd_(ledger_fd), stacks_fd_(stacks_fd) {}

  // Every ledger row, read in batches. nullopt when the map cannot be read.
  std::optional<std::vector<LedgerRow>> read_ledger() const;

  // The user stack behind `stack_id`, innermost frame first.
  std::vector<uint64_t> read_stack(int32_t stack_id) const;

 private:
  int ledger_fd_;
  int stacks_fd_;
};

}  // namespace leakscope
