// Reading and writing the kernel's maps: the images filter, the per-stack
// ledger, the stack store, the live objects, the health counters. The only
// place that knows their key and value layouts.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <set>
#include <vector>

#include "probes/bpf_object.h"

namespace leakscope {

class KernelMaps {
 public:
  // `heap_scale`: N under --sample N; heap rows are scaled by it.
  KernelMaps(const BpfObject& object, uint32_t heap_scale);

  void track(pid_t pid, TraceId id, bool follow_children);
  void untrack(pid_t pid);
  std::map<pid_t, KernelImage> read_images() const;

  std::optional<std::vector<LedgerRow>> read_ledger() const;
  std::vector<uint64_t> read_stack(int32_t stack_id) const;
  ObjectAgeScan object_age_scan() const;
  void drop_image(TraceId id, bool objects);

  Counters counters() const;
  size_t entries(MapName map) const;
  void set_heap_sample_shift(uint32_t shift);
  uint64_t live_object_entries() const;
  std::vector<MapMemory> map_memory() const;

 private:
  const BpfObject& object_;
  uint32_t heap_scale_;
};

// CLOCK_MONOTONIC now, the clock of the kernel's birth times.
uint64_t monotonic_now_ns();

}  // namespace leakscope
