// The processes being traced and what we know of each: identity (pid plus
// start time, so a reused PID is never mistaken for the target), its
// allocator plan, and whether it is still alive.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "target/allocator.h"
#include "target/process.h"

namespace leakscope {

struct TracedProcess {
  ProcessInfo info;
  std::string allocator_module;
  std::string cgroup;
  std::string container_id;
  size_t maps_hash = 0;       // of the executable mappings last planned for
  double attached_at = 0;     // seconds since tracing began
  double exited_at = -1;      // when tracing it ended (exit or detach); < 0 while traced
  bool detached = false;      // ended by a detach request, still running
  bool is_child = false;      // started by us with -- CMD
  bool warned_no_allocator = false;
  bool exited() const { return exited_at >= 0; }  // no longer traced
};

using TargetSet = std::map<pid_t, TracedProcess>;

}  // namespace leakscope
