// The only module that talks to libbpf and owns kernel objects: opens,
// sizes, loads the BPF object, attaches and detaches probes per target, and
// hands out read-only views (map fds, counters) to the collector.
#pragma once

#include <sys/types.h>

#include <array>
#include <functional>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "leakscope.h"
#include "probes/link.h"
#include "target/allocator.h"

struct leakscope_bpf;  // the generated skeleton

namespace leakscope {

struct MapSizes {
  uint32_t max_objects = 1u << 20;      // live objects across all targets
  uint32_t max_stacks = 1u << 16;       // ledger rows (pid x kind x stack)
  uint32_t max_stack_traces = 1u << 14; // distinct user stacks
  uint32_t max_targets = 1024;
  uint32_t max_threads = 1u << 14;      // threads inside an allocator at once
};

struct SessionOptions {
  MapSizes sizes;
  std::string btf_path = "/sys/kernel/btf/vmlinux";
  uint32_t kinds_mask = ~0u;  // LS_KIND_BIT() of the kinds to account
  std::string tracefs = "/sys/kernel/tracing";
  bool force_raw_syscalls = false;  // skip tracefs even when it is there
};

// How the syscall kinds reach the kernel's syscalls.
enum class SyscallProbes { None, Tracepoints, RawTracepoints };

// What the session could attach for one target.
struct AttachResult {
  size_t probes = 0;                 // links created by this call
  std::vector<std::string> skipped;  // "symbol: reason" for sites that failed
};

using Counters = std::array<uint64_t, LS_CNT__COUNT>;

class Session {
 public:
  // Checks privileges and BTF, opens the object, sizes the maps, loads it.
  // Throws FatalError (Permission, KernelUnsupported) on failure.
  static std::unique_ptr<Session> open(const SessionOptions& options);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Starts accounting for `pid` (in-kernel filter) and attaches the uprobes of
  // `plan` filtered to that process. Sites already attached for the pid (same
  // file and offset) are skipped, so a plan can be re-applied when a target
  // maps new objects. Throws FatalError when not even malloc and free attach.
  AttachResult attach(pid_t pid, const AllocatorPlan& plan);

  // Starts accounting for `pid` without allocator probes (the syscall
  // kinds need only this). attach() does it too.
  void track(pid_t pid);

  // Detaches every probe of `pid`, stops accounting for it and drops its
  // live-object entries. Its ledger rows stay for the final report.
  void detach(pid_t pid);

  // Hands every syscall event waiting in the ring buffer to `visit`.
  size_t drain_events(const std::function<void(const ls_sys_event&)>& visit);
  SyscallProbes syscall_probes() const { return syscall_probes_; }
  bool heap_enabled() const { return kinds_mask_ & LS_KIND_BIT(LS_KIND_HEAP); }

  int ledger_fd() const;
  int stacks_fd() const;
  int objects_fd() const;
  const MapSizes& sizes() const { return sizes_; }
  Counters counters() const;
  size_t probes_attached() const;

 private:
  explicit Session(const MapSizes& sizes);

  struct SkelDeleter {
    void operator()(struct ::leakscope_bpf* skel) const;
  };
  struct Target {
    std::vector<Link> links;
    std::set<std::string> sites;  // "dev:inode:offset:ret" already attached
  };

  void attach_syscalls(const std::string& tracefs);

  std::unique_ptr<struct ::leakscope_bpf, SkelDeleter> skel_;
  uint32_t kinds_mask_ = ~0u;
  SyscallProbes syscall_probes_ = SyscallProbes::None;
  std::vector<Link> syscall_links_;
  struct ring_buffer* events_ = nullptr;
  std::function<void(const ls_sys_event&)> current_visit_;
  MapSizes sizes_;
  std::map<pid_t, Target> targets_;
  // Detaching a uprobe waits for an RCU grace period (~0.1 s each here), so
  // links of detached targets are destroyed off the trace loop.
  std::vector<std::thread> reapers_;
};

}  // namespace leakscope
