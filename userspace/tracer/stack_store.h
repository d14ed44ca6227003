// Every stack the session has seen, by id, and its symbolized frames. Heap
// stacks have the kernel's stack ids; stacks of syscall and page-fault
// events are composed here (from the event's frames, or unwound from its
// copy of the thread's stack) and get ids from kUserStackBase up. Frames are
// resolved once per (image, stack), against the process's maps of the time.
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

class StackStore {
 public:
  // At most `max_user_stacks` composed stacks; past that a new one is unknown.
  StackStore(const Kernel& kernel, Symbolizer& symbolizer, const AddressSpaces& spaces, size_t max_user_stacks);

  // The frames of `stack_id` in image `id` of process `pid`, leak site first.
  const std::vector<Frame>& frames(TraceId id, pid_t pid, int32_t stack_id);
  bool has_frames(TraceId id, int32_t stack_id) const { return frames_.count({id, stack_id}) != 0; }

  // The id of a composed stack (LS_STACK_UNKNOWN for an empty one).
  int32_t intern(std::vector<uint64_t> addresses);
  // Return addresses behind any stack id, innermost first.
  std::vector<uint64_t> addresses(int32_t stack_id) const;

  // The stack of a syscall event, leak site first: the wrapper's frame is
  // replaced by the return address into its caller, the first word near the
  // top of the user stack that points into code (see ls_sys_event).
  int32_t syscall_stack(pid_t pid, const SyscallEvent& event);
  // The faulting thread's stack, leak site first: unwound from the copy with
  // the modules' CFI, the frames inside runtime libraries (the allocator,
  // memset) dropped from the top.
  int32_t fault_stack(pid_t pid, const FaultEvent& event);

  // Drops the frames kept for an image that is forgotten.
  void forget(TraceId id);

 private:
  const Kernel& kernel_;
  Symbolizer& symbolizer_;
  const AddressSpaces& spaces_;
  size_t max_user_stacks_;
  std::map<std::pair<TraceId, int32_t>, std::vector<Frame>> frames_;
  std::map<std::vector<uint64_t>, int32_t> user_ids_;
  std::vector<std::vector<uint64_t>> user_stacks_;  // index: id - kUserStackBase
};

}  // namespace leakscope
