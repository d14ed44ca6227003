// The Linux capabilities a trace needs, as measured on Linux 6.18 (README
// "Capabilities": which call needs which, and what fails without it), and
// the effective set of this process. packaging/capabilities.txt lists the
// same set for the systemd unit and the Kubernetes DaemonSet; a unit test
// holds the two together.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace leakscope {

enum class Capability : int {
  DacReadSearch = 2,  // CAP_DAC_READ_SEARCH
  SysPtrace = 19,     // CAP_SYS_PTRACE
  SysAdmin = 21,      // CAP_SYS_ADMIN
  Perfmon = 38,       // CAP_PERFMON
  Bpf = 39,           // CAP_BPF
};

// "CAP_SYS_ADMIN".
const char* capability_name(Capability cap);

// CapEff of /proc/self/status (bit N for capability N); 0 when unreadable.
uint64_t effective_capabilities();

// What a trace will ask of the kernel.
struct PrivilegeNeeds {
  bool uprobes = false;      // allocator probes (kind heap, --all's drill-downs)
  bool other_users = false;  // processes of other users (--all, or a -p PID not ours)
};

struct MissingCapability {
  Capability cap;
  const char* needed_for;  // "allocator uprobes (perf_event_open of a uprobe)"
};

// The capabilities `effective` lacks for `needs`, in the README's order.
// Without uprobes, CAP_BPF with CAP_PERFMON load and attach the rest (or
// CAP_SYS_ADMIN, which holds both).
std::vector<MissingCapability> missing_capabilities(const PrivilegeNeeds& needs,
                                                    uint64_t effective);

// Everything a trace may need (the unit's and the DaemonSet's set): the
// capabilities of --all.
std::vector<Capability> service_capabilities();

}  // namespace leakscope
