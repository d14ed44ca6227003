// Everything attached to the kernel: the always-on tracepoints (lifecycle,
// syscall kinds, page faults) and each traced process's allocator uprobes.
// Owns every link; detaching happens in the background (link_reaper.h).
#pragma once

#include <sys/types.h>

#include <array>
#include <map>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "core/bpf_contract.h"
#include "probes/bpf_object.h"
#include "probes/link.h"
#include "probes/link_reaper.h"

struct bpf_program;

namespace leakscope {

class Attachments {
 public:
  // Throws FatalError when the object lacks an allocator shape's entry
  // program (see kAllocShapes).
  Attachments(const BpfObject& object, bool probes_at_entry);
  ~Attachments();
  Attachments(const Attachments&) = delete;
  Attachments& operator=(const Attachments&) = delete;

  // The tracepoints every session has: fork/exec/exit, then those of the
  // kinds enabled. Throws FatalError(KernelUnsupported).
  void attach_tracepoints(const std::string& tracefs);

  AttachResult attach_allocator(pid_t pid, const AllocatorPlan& plan);
  void detach_allocator(pid_t pid);
  bool has_allocator_probes(pid_t pid) const;
  size_t probes_attached() const;

 private:
  struct ProcessProbes {
    std::vector<Link> links;      // a uprobe_multi link holds several probes
    std::set<std::string> sites;  // "dev:inode:offset:ret" (uprobes) or "usdt:dev:inode:name" already attached
    bool otel_memory = false;     // the links are the otel_memory USDT probes
  };

  // One allocator uprobe to attach.
  struct Probe {
    const ProbeSite* site = nullptr;
    bool retprobe = false;
    uint64_t offset = 0;  // in the file
    std::string id;       // as ProcessProbes::sites has it
  };

  // The plan's otel_memory probes in place of allocator uprobes (those
  // placed before go once these are in: a command's, planned on leakscope's
  // own maps before its exec). Throws FatalError(KernelUnsupported) when
  // alloc or free cannot be attached; the process keeps what it had.
  AttachResult attach_otel_memory(pid_t pid, const AllocatorPlan& plan);
  // Its links go (reaped in the background), and the sites they record.
  void drop_probes(ProcessProbes& probes);

  // Attach `wanted` for `pid` into `probes`, one link each or one link per
  // program and file; the probes attached. A probe the kernel refuses is
  // left out (an entry probe's reason in result.skipped). Throws FatalError
  // (NoSuchProcess) when the process is gone.
  std::vector<Probe> attach_per_probe(pid_t pid, std::span<const Probe> wanted, ProcessProbes& probes,
                                      AttachResult& result);
  std::vector<Probe> attach_multi(pid_t pid, std::span<const Probe> wanted, ProcessProbes& probes,
                                  AttachResult& result);
  void keep(ProcessProbes& probes, Link link, std::span<const Probe> attached, AttachResult& result);
  bpf_program* program_for(const Probe& probe) const;

  void attach_lifecycle();
  void attach_syscalls(const std::string& tracefs);
  void attach_faults();

  const BpfObject& object_;
  bool probes_at_entry_;
  std::array<bpf_program*, std::size(kAllocShapes)> entry_programs_{};  // by AllocShape
  std::vector<Link> tracepoints_;
  std::map<pid_t, ProcessProbes> uprobes_;  // processes with allocator probes
  LinkReaper reaper_;
};

}  // namespace leakscope
