#include "core/capabilities.h"

#include <fstream>

namespace leakscope {

namespace {

bool has(uint64_t set, Capability cap) { return (set >> static_cast<int>(cap)) & 1; }

}  // namespace

const char* capability_name(Capability cap) {
  switch (cap) {
    case Capability::DacReadSearch:
      return "CAP_DAC_READ_SEARCH";
    case Capability::SysPtrace:
      return "CAP_SYS_PTRACE";
    case Capability::SysAdmin:
      return "CAP_SYS_ADMIN";
    case Capability::Perfmon:
      return "CAP_PERFMON";
    case Capability::Bpf:
      return "CAP_BPF";
  }
  return "CAP_?";
}

uint64_t effective_capabilities() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("CapEff:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  return 0;
}

std::vector<MissingCapability> missing_capabilities(const PrivilegeNeeds& needs,
                                                    uint64_t effective) {
  std::vector<MissingCapability> missing;
  // perf_event_open of a uprobe PMU event checks CAP_SYS_ADMIN, not
  // CAP_PERFMON; CAP_SYS_ADMIN also passes the BPF checks of CAP_BPF and
  // CAP_PERFMON.
  if (needs.uprobes) {
    if (!has(effective, Capability::SysAdmin))
      missing.push_back({Capability::SysAdmin, "allocator uprobes (perf_event_open of a uprobe)"});
  } else if (!has(effective, Capability::SysAdmin)) {
    if (!has(effective, Capability::Bpf))
      missing.push_back({Capability::Bpf, "loading BPF programs and maps"});
    if (!has(effective, Capability::Perfmon))
      missing.push_back({Capability::Perfmon, "BPF tracing programs and their perf events"});
  }
  if (needs.other_users) {
    if (!has(effective, Capability::SysPtrace))
      missing.push_back(
          {Capability::SysPtrace,
           "other users' /proc/PID/root (their binaries and perf maps) and /proc/PID/mem"});
    if (!has(effective, Capability::DacReadSearch))
      missing.push_back(
          {Capability::DacReadSearch,
           "other users' /proc/PID/pagemap, environ and fd, and binaries only they can read"});
  }
  return missing;
}

std::vector<Capability> service_capabilities() {
  return {Capability::SysAdmin, Capability::SysPtrace, Capability::DacReadSearch};
}

}  // namespace leakscope
