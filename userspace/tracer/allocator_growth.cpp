#include "tracer/allocator_growth.h"

#include <algorithm>

#include "core/alloc_families.h"
#include "target/allocator.h"
#include "tracer/stack_store.h"
#include "tracer/traced_image.h"

namespace leakscope {

AllocatorCode AllocatorCode::of(const AllocatorPlan& plan) {
  AllocatorCode code;
  code.module = plan.allocator_module;
  code.module_is_program = plan.allocator_in_main;
  // kAllocFamilies[0] is malloc itself: an allocator with no API of its own (glibc's).
  code.module_maps_only_for_its_heap = !plan.allocator_family.empty() && plan.allocator_family != kAllocFamilies[0].name &&
                              !plan.allocator_wraps_os_memory_calls;
  for (const ProbeSite& site : plan.sites)
    if (site.entry_size > 0)
      code.functions.push_back({site.module_path, site.entry_offset, site.entry_offset + site.entry_size});
  return code;
}

bool AllocatorCode::in_function(const Frame& frame) const {
  // A return address points after its call: a call that is the function's
  // last instruction returns to `end`.
  return std::any_of(functions.begin(), functions.end(), [&](const Function& f) {
    return frame.module == f.module && frame.module_offset > f.begin && frame.module_offset <= f.end;
  });
}

std::optional<AllocatorGrowth> allocator_growth(Kind kind, const std::vector<Frame>& frames,
                                                const AllocatorCode* heap_allocator) {
  if (kind != Kind::Brk && kind != Kind::Mmap) return std::nullopt;
  if (heap_allocator == nullptr || heap_allocator->empty() || frames.empty()) return std::nullopt;
  // Rule 1: the outermost frame inside a probed allocator function.
  for (size_t i = frames.size(); i-- > 0;)
    if (heap_allocator->in_function(frames[i])) return AllocatorGrowth{i + 1};
  // Rule 2: a walk that stopped before it left the allocator's library.
  if (std::all_of(frames.begin(), frames.end(), [&](const Frame& f) { return heap_allocator->in_library(f); }))
    return AllocatorGrowth{frames.size()};
  // Rule 3: the syscall of an allocator library that maps only for its heap.
  if (heap_allocator->in_own_library(frames.front())) {
    size_t run = 1;
    while (run < frames.size() && heap_allocator->in_own_library(frames[run])) ++run;
    return AllocatorGrowth{run};
  }
  return std::nullopt;
}

std::optional<AllocatorGrowth> allocator_growth(const LedgerRow& row, const TracedImage& image, StackStore& stacks) {
  if (row.kind != Kind::Brk && row.kind != Kind::Mmap) return std::nullopt;
  if (!image.heap_probes || image.allocator_code.empty()) return std::nullopt;
  const StackStore::Resolved& stack = stacks.resolved(row.trace_id, image.pid(), row.stack_id);
  return allocator_growth(row.kind, stack.frames, &image.allocator_code);
}

}  // namespace leakscope
