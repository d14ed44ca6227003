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
#include <vector>

#include "leakscope.h"
#include "probes/link.h"
#include "probes/link_reaper.h"
#include "target/allocator.h"

struct leakscope_bpf;  // the generated skeleton

namespace leakscope {

struct MapSizes {
  uint32_t max_objects = 1u << 20;      // live objects across all targets
  uint32_t max_stacks = 1u << 16;       // ledger rows (pid x kind x stack)
  // Distinct user stacks. The kernel's stack map is a hash without chaining:
  // a stack whose slot is taken is lost (counted), so it is sized well above
  // the stacks expected (~18 MiB at 65536).
  uint32_t max_stack_traces = 1u << 16;
  uint32_t max_targets = 1024;
  uint32_t max_threads = 1u << 14;      // threads inside an allocator at once
};

struct SessionOptions {
  MapSizes sizes;
  std::string btf_path = "/sys/kernel/btf/vmlinux";
  uint32_t kinds_mask = ~0u;  // LS_KIND_BIT() of the kinds to account
  std::string tracefs = "/sys/kernel/tracing";
  bool force_raw_syscalls = false;  // skip tracefs even when it is there
  bool probes_at_entry = false;     // never move an entry probe (see probe_placement.h)
  uint32_t sample_every = 1;        // heap: account 1 block in N, chosen by address
  uint32_t fault_stacks_per_sec = 256;  // fault: stacks each image may send a second
};

enum class MapName { Targets, Objects, Ledger };

// Kernel memory one BPF map holds, from its fdinfo ("memlock").
struct MapMemory {
  std::string name;
  uint32_t max_entries = 0;
  uint64_t bytes = 0;
};

// How the syscall kinds reach the kernel's syscalls.
enum class SyscallProbes { None, Tracepoints, RawTracepoints };

// What the session could attach for one target.
struct AttachResult {
  size_t probes = 0;                 // links created by this call
  std::vector<std::string> skipped;  // "symbol: reason" for sites that failed
};

using Counters = std::array<uint64_t, LS_CNT__COUNT>;

// Identity of one traced process image in the kernel's maps (see
// LS_FIRST_KERNEL_ID in bpf/leakscope.h).
using TraceId = uint32_t;

class Session {
 public:
  // Checks privileges and BTF, opens the object, sizes the maps, loads it.
  // Throws FatalError (Permission, KernelUnsupported) on failure.
  static std::unique_ptr<Session> open(const SessionOptions& options);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Starts accounting for `pid` under trace id `id` (the in-kernel filter:
  // syscall kinds need nothing more). With `follow_children` its children
  // are traced from birth under ids of their own (see lifecycle.bpf.c).
  void track(pid_t pid, TraceId id, bool follow_children);
  // Stops accounting for `pid` and detaches its allocator probes.
  void untrack(pid_t pid);
  // The targets map as the kernel sees it now: tgid -> trace id, flags.
  std::map<pid_t, ls_target> read_targets() const;

  // Attaches the uprobes of `plan` filtered to `pid` (tracked already).
  // Sites already attached for the pid (same file and offset) are skipped,
  // so a plan can be re-applied when a target maps new objects. Throws
  // FatalError when not even malloc and free attach.
  AttachResult attach_allocator(pid_t pid, const AllocatorPlan& plan);
  // Detaches the allocator probes of `pid` (in the background).
  void detach_allocator(pid_t pid);
  bool has_allocator_probes(pid_t pid) const;

  // Deletes the kernel's entries of one trace id: its live objects (the
  // image is gone), or its ledger rows (once userspace keeps them).
  size_t drop_objects(TraceId id);
  size_t drop_ledger(TraceId id);

  // Hands every syscall event waiting in the ring buffer to `visit`.
  size_t drain_events(const std::function<void(const ls_sys_event&)>& visit);
  // Hands every page-fault event waiting (kind fault) to `visit`. Of an
  // event with LS_FAULT_SAME_STACK or LS_FAULT_NO_STACK only the head
  // (tgid .. address) is there.
  size_t drain_faults(const std::function<void(const ls_fault_event&)>& visit);
  SyscallProbes syscall_probes() const { return syscall_probes_; }
  bool heap_enabled() const { return kinds_mask_ & LS_KIND_BIT(LS_KIND_HEAP); }

  // Entries in one of the kernel's maps now (a walk of the map).
  size_t entries(MapName map) const;
  // Kernel memory of every map of the session, largest first.
  std::vector<MapMemory> map_memory() const;
  uint64_t map_bytes() const;  // their sum

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

  void attach_lifecycle();
  void attach_syscalls(const std::string& tracefs);
  void attach_faults();
  void open_events();

  std::unique_ptr<struct ::leakscope_bpf, SkelDeleter> skel_;
  uint32_t kinds_mask_ = ~0u;
  bool probes_at_entry_ = false;
  SyscallProbes syscall_probes_ = SyscallProbes::None;
  std::vector<Link> syscall_links_;  // syscall and lifecycle tracepoints
  struct ring_buffer* events_ = nullptr;
  std::function<void(const ls_sys_event&)> current_visit_;
  struct ring_buffer* faults_ = nullptr;
  std::function<void(const ls_fault_event&)> current_fault_visit_;
  MapSizes sizes_;
  std::map<pid_t, Target> targets_;  // processes with allocator probes
  LinkReaper reaper_;
};

}  // namespace leakscope
