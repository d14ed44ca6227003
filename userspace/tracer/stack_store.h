// Every stack the session has seen, by id, and its symbolized frames. Heap
// stacks have the kernel's stack ids; stacks of syscall and page-fault
// events are composed here (from the event's frames, or unwound from its
// copy of the thread's stack) and get ids from kUserStackBase up. Frames are
// resolved once per (image, stack), against the process's maps of the time.
//
// No garbage frames: this is where every kind's stack becomes frames, so the
// rule lives here. Walking from the leak site outwards, the first address
// that is not code of the process (Symbolizer::is_code: an executable file
// mapping, the vDSO, or JIT code its perf map names) ends the stack; what
// followed it is dropped and the stack is marked truncated. A frame-pointer
// walk through code without frame pointers reads data words (ASCII, stack
// and heap pointers) as return addresses, and after the first such word
// nothing further can be trusted.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "core/types.h"
#include "probes/kernel.h"
#include "symbols/symbolizer.h"
#include "target/address_space.h"

namespace leakscope {

inline constexpr int32_t kUserStackBase = 1 << 24;
// Stacks whose frames came named (a runtime's profiler: JS stacks).
inline constexpr int32_t kNamedStackBase = 1 << 25;

class StackStore {
 public:
  // At most `max_user_stacks` composed stacks; past that a new one is unknown.
  StackStore(const Kernel& kernel, Symbolizer& symbolizer, const AddressSpaces& spaces, size_t max_user_stacks);

  // The frames of a stack, leak site first, and whether the walk was cut
  // at an address that is not code (see above). A stack that simply ends
  // (at _start, or shorter than the walk's limit) is not truncated.
  struct Resolved {
    std::vector<Frame> frames;
    bool truncated = false;
    size_t leak_site = 0;  // index in frames (see StackEntry::leak_site)
    // Frames located (module+offset) whose names a worker is still looking
    // up (Naming::Background): index in frames, and where to name it from.
    std::vector<std::pair<size_t, NameTicket>> unnamed;
    bool named() const { return unnamed.empty(); }
  };

  // Stack `stack_id` in image `id` of process `pid`. Located against the
  // process's maps on the first call; with a Symbolizer that names in the
  // background, frames not named yet are named by a later call once their
  // lookups are done (until then they read module+offset).
  const Resolved& resolved(TraceId id, pid_t pid, int32_t stack_id);
  const std::vector<Frame>& frames(TraceId id, pid_t pid, int32_t stack_id) {
    return resolved(id, pid, stack_id).frames;
  }
  bool has_frames(TraceId id, int32_t stack_id) const { return frames_.count({id, stack_id}) != 0; }

  // The id of a composed stack (LS_STACK_UNKNOWN for an empty one).
  int32_t intern(std::vector<uint64_t> addresses);
  // The id of a stack of image `id` whose frames a runtime named (a JS
  // allocation stack), innermost first, with the index of its leak site.
  // Stacks are one when their `identity` is (the runtime says which
  // differences matter): the first one's frames stand for all. Empty frames
  // or past `max_user_stacks` named stacks: LS_STACK_UNKNOWN.
  int32_t intern_named(TraceId id, std::string identity, std::vector<Frame> frames, size_t leak_site);
  // Return addresses behind any stack id, innermost first.
  std::vector<uint64_t> addresses(int32_t stack_id) const;

  // The stack of a syscall event, leak site first. Walked by CFI in the
  // kernel: its frames without the libc wrapper's pc. Walked by frame
  // pointer: the wrapper's frame is replaced by the return address into its
  // caller, the first word near the top of the user stack that points into
  // code (see ls_sys_event).
  int32_t syscall_stack(pid_t pid, const SyscallEvent& event);
  // The faulting thread's stack, leak site first: walked by CFI in the
  // kernel, or unwound here from the event's copy of the stack with the
  // modules' CFI; the frames inside runtime libraries (the allocator,
  // memset) dropped from the top.
  int32_t fault_stack(pid_t pid, const FaultEvent& event);

  // Folds each heap row whose stack was walked by frame pointer (the
  // process had no unwind tables yet) into the row of the same image, kind
  // and function walked by CFI whose stack begins with it, when exactly one
  // does: one call site, seen before and after its tables loaded (the FP
  // walk stops where frame pointers do, e.g. in libc's start code). Rows
  // with no such twin stay as they are.
  void fold_frame_pointer_rows(std::vector<LedgerRow>& rows);

  // Drops the frames kept for an image that is forgotten.
  void forget(TraceId id);

 private:
  // The pcs of a fault event's copied stack, unwound here.
  std::vector<uint64_t> unwind_fault(pid_t pid, const FaultEvent& event);

  const Kernel& kernel_;
  Symbolizer& symbolizer_;
  const AddressSpaces& spaces_;
  size_t max_user_stacks_;
  std::map<std::pair<TraceId, int32_t>, Resolved> frames_;
  std::map<std::vector<uint64_t>, int32_t> user_ids_;
  // Kernel stacks read for folding; an id names the same frames all session.
  std::map<int32_t, std::vector<uint64_t>> kernel_addresses_;
  std::vector<std::vector<uint64_t>> user_stacks_;  // index: id - kUserStackBase
  // Named stacks by image and identity; their frames are in frames_. Ids
  // are never reused.
  std::map<std::pair<TraceId, std::string>, int32_t> named_ids_;
  int32_t next_named_id_ = kNamedStackBase;
};

}  // namespace leakscope
