#include "probes/attachments.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <tuple>

#include "core/errors.h"
#include "core/log.h"
#include "leakscope_bpf.skel.h"
#include "probes/uprobe_multi.h"

namespace leakscope {

namespace {

std::string attach_error(const ProbeSite& site, int err) {
  std::string msg = site.symbol + " in " + site.module_path + ": " + std::strerror(err);
  if (err == EINVAL)
    msg += " (another tracer, e.g. a BCC tool, may hold a uprobe at the same place with a "
           "different reference counter; stop it and retry)";
  return msg;
}

// A file's device and inode, "dev:inode": one probe per place in one file,
// whatever path it was reached by. Nullopt and "PATH: why" when it cannot be
// looked at.
std::optional<std::string> file_identity(const std::string& path, std::string* error) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    *error = path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  return std::to_string(st.st_dev) + ':' + std::to_string(st.st_ino);
}

[[noreturn]] void throw_exited_while_attaching(pid_t pid) {
  throw FatalError(ExitCode::NoSuchProcess, "PID " + std::to_string(pid) + " exited while probes were attached");
}

}  // namespace

Attachments::Attachments(const BpfObject& object, bool probes_at_entry)
    : object_(object), probes_at_entry_(probes_at_entry) {
  // Each allocator shape's program, by the name the list in
  // bpf/leakscope.h gives it: a list and a heap.bpf.c that disagree fail
  // here, at start, not when a process is attached.
  for (const AllocShapeInfo& s : kAllocShapes) {
    bpf_program* prog =
        bpf_object__find_program_by_name(object_.skel().obj, std::string(s.program).c_str());
    if (!prog)
      throw FatalError(ExitCode::Failure, "the BPF object has no program " + std::string(s.program) +
                                              " (bpf/leakscope.h and heap.bpf.c disagree)");
    entry_programs_[static_cast<size_t>(s.shape)] = prog;
  }
}

Attachments::~Attachments() {
  // Every link goes before the object does (it is destroyed after us).
  std::vector<Link> links = std::move(tracepoints_);
  for (auto& [pid, probes] : uprobes_)
    for (Link& l : probes.links) links.push_back(std::move(l));
  uprobes_.clear();
  reaper_.reap(std::move(links));
  reaper_.finish();
}

void Attachments::attach_tracepoints(const std::string& tracefs) {
  attach_lifecycle();
  attach_syscalls(tracefs);
  attach_faults();
}

void Attachments::attach_lifecycle() {
  auto& progs = object_.skel().progs;
  for (bpf_program* prog : {progs.lifecycle_fork, progs.lifecycle_exec, progs.lifecycle_exit}) {
    bpf_link* link = bpf_program__attach(prog);
    if (!link)
      throw FatalError(ExitCode::KernelUnsupported,
                       std::string("cannot attach the scheduler tracepoints (fork, exec, exit): ") +
                           std::strerror(errno));
    tracepoints_.emplace_back(link);
  }
}

void Attachments::attach_syscalls(const std::string& tracefs) {
  auto& progs = object_.skel().progs;
  switch (object_.syscall_probes()) {
    case SyscallProbes::None: return;
    case SyscallProbes::RawTracepoints:
      for (bpf_program* prog : {progs.sys_enter_raw, progs.sys_exit_raw}) {
        bpf_link* link = bpf_program__attach(prog);
        if (!link)
          throw FatalError(ExitCode::KernelUnsupported,
                           std::string("cannot attach the raw syscall tracepoints: ") + std::strerror(errno));
        tracepoints_.emplace_back(link);
      }
      log_verbose("syscall kinds: raw tracepoints sys_enter/sys_exit (no tracefs at " + tracefs +
                  "; every syscall on the host passes the tgid check)");
      return;
    case SyscallProbes::Tracepoints: {
      size_t attached = 0;
      for (const TracedSyscall& syscall : kTracedSyscalls) {
        for (bool enter : {true, false}) {
          std::string tp = std::string(enter ? "sys_enter_" : "sys_exit_") + std::string(syscall.name);
          bpf_program* prog = enter ? progs.sys_enter_tp : progs.sys_exit_tp;
          bpf_link* link = bpf_program__attach_tracepoint(prog, "syscalls", tp.c_str());
          if (!link) {
            log_verbose("syscall tracepoint " + tp + " not attached: " + std::strerror(errno));
            continue;
          }
          tracepoints_.emplace_back(link);
          ++attached;
        }
      }
      log_verbose("syscall kinds: " + std::to_string(attached) +
                  " tracepoints syscalls:sys_{enter,exit}_* (tracefs at " + tracefs + ")");
      return;
    }
  }
}

void Attachments::attach_faults() {
  if (!object_.kind_enabled(LS_KIND_FAULT)) return;
  bpf_link* link = bpf_program__attach(object_.skel().progs.fault_user);
  if (!link)
    throw FatalError(ExitCode::KernelUnsupported,
                     std::string("cannot attach the page-fault tracepoint (kind fault): ") +
                         std::strerror(errno));
  tracepoints_.emplace_back(link);
  log_verbose("kind fault: BTF tracepoint exceptions:page_fault_user");
}

void Attachments::drop_probes(ProcessProbes& probes) {
  reaper_.reap(std::move(probes.links));
  probes.links.clear();
  probes.sites.clear();
}

AttachResult Attachments::attach_otel_memory(pid_t pid, const AllocatorPlan& plan) {
  ProcessProbes& probes = uprobes_[pid];
  // Attached beside the uprobes placed before, which go only once these
  // are in: a process whose probes cannot be attached keeps its uprobes.
  std::vector<Link> links;
  std::set<std::string> sites = probes.otel_memory ? probes.sites : std::set<std::string>{};
  AttachResult result;
  bool have_alloc = false, have_free = false;
  for (const auto& [module_path, attach_path] : plan.otel_memory) {
    std::string error;
    const std::optional<std::string> file = file_identity(attach_path, &error);
    if (!file) {
      result.skipped.push_back("otel_memory probes: " + error);
      continue;
    }
    for (bool alloc : {true, false}) {
      const char* name = alloc ? "alloc" : "free";
      bpf_program* prog = alloc ? object_.skel().progs.otel_memory_alloc : object_.skel().progs.otel_memory_free;
      const std::string id = "usdt:" + *file + ':' + name;
      bool ok = sites.count(id) != 0;
      if (!ok) {
        const std::string provider(kOtelMemoryProvider);
        bpf_link* link = bpf_program__attach_usdt(prog, pid, attach_path.c_str(), provider.c_str(), name, nullptr);
        if (link) {
          links.emplace_back(link);
          sites.insert(id);
          ++result.probes;
          ok = true;
        } else {
          int err = errno;
          if (err == ESRCH) {
            reaper_.reap(std::move(links));
            throw_exited_while_attaching(pid);
          }
          result.skipped.push_back(module_path + ": USDT otel_memory:" + name + ": " + std::strerror(err));
        }
      }
      (alloc ? have_alloc : have_free) |= ok;
    }
  }
  if (!have_alloc || !have_free) {
    reaper_.reap(std::move(links));
    std::string why = result.skipped.empty() ? "otel_memory:alloc/free not found" : result.skipped.front();
    throw FatalError(ExitCode::KernelUnsupported,
                     "cannot attach the otel_memory probes of PID " + std::to_string(pid) + ": " + why);
  }
  if (!probes.otel_memory) {
    drop_probes(probes);
    probes.otel_memory = true;
  }
  for (Link& link : links) probes.links.push_back(std::move(link));
  probes.sites = std::move(sites);
  return result;
}

AttachResult Attachments::attach_allocator(pid_t pid, const AllocatorPlan& plan) {
  if (!object_.kind_enabled(LS_KIND_HEAP)) return {};
  if (!plan.otel_memory.empty()) return attach_otel_memory(pid, plan);
  ProcessProbes& probes = uprobes_[pid];
  if (probes.otel_memory) {
    // The module with the otel_memory probes is gone (an exec, a
    // dlclose): back to allocator uprobes, from none.
    drop_probes(probes);
    probes.otel_memory = false;
  }
  AttachResult result;

  // The probes of the plan this process has not got yet. Return probes
  // before entry probes: an entry that records a call always has its return
  // probe in place, so per-thread state cannot go stale.
  std::vector<Probe> wanted;
  std::set<std::string> wanted_ids;     // a place two symbols name (aliases) is probed once
  std::set<const ProbeSite*> in_place;  // entries already attached
  for (bool retprobe : {true, false}) {
    for (const ProbeSite& site : plan.sites) {
      if (retprobe && site.shape == AllocShape::Free) continue;
      std::string error;
      const std::optional<std::string> file = file_identity(site.attach_path, &error);
      if (!file) {
        if (!retprobe) result.skipped.push_back(site.symbol + ": " + error);
        continue;
      }
      Probe probe{&site, retprobe, probes_at_entry_ || retprobe ? site.entry_offset : site.file_offset, {}};
      probe.id = *file + ':' + std::to_string(probe.offset) + ':' + (retprobe ? "1" : "0");
      if (probes.sites.count(probe.id)) {
        if (!retprobe) in_place.insert(&site);
        continue;
      }
      if (wanted_ids.insert(probe.id).second) wanted.push_back(std::move(probe));
    }
  }
  const std::vector<Probe> attached = object_.uprobe_links() == UprobeLinks::Multi
                                          ? attach_multi(pid, wanted, probes, result)
                                          : attach_per_probe(pid, wanted, probes, result);
  for (const Probe& probe : attached)
    if (!probe.retprobe) in_place.insert(probe.site);

  bool have_alloc = false, have_free = false;
  for (const ProbeSite* site : in_place) (site->shape == AllocShape::Free ? have_free : have_alloc) = true;
  const bool first_time = probes.sites.size() == result.probes;
  if (first_time && (!have_alloc || !have_free)) {
    std::string why = result.skipped.empty() ? "malloc/free not in plan" : result.skipped.front();
    detach_allocator(pid);
    throw FatalError(ExitCode::KernelUnsupported,
                     "cannot attach allocator probes to PID " + std::to_string(pid) + ": " + why);
  }
  return result;
}

bpf_program* Attachments::program_for(const Probe& probe) const {
  return probe.retprobe ? object_.skel().progs.alloc_return
                        : entry_programs_[static_cast<size_t>(probe.site->shape)];
}

void Attachments::keep(ProcessProbes& probes, Link link, std::span<const Probe> attached,
                       AttachResult& result) {
  probes.links.push_back(std::move(link));
  for (const Probe& probe : attached) probes.sites.insert(probe.id);
  result.probes += attached.size();
}

std::vector<Attachments::Probe> Attachments::attach_per_probe(pid_t pid, std::span<const Probe> wanted,
                                                              ProcessProbes& probes, AttachResult& result) {
  std::vector<Probe> attached;
  for (const Probe& probe : wanted) {
    bpf_uprobe_opts opts{};
    opts.sz = sizeof(opts);
    opts.retprobe = probe.retprobe;
    // The function's id, kept by the entry program of its shape.
    opts.bpf_cookie = probe.site->fn;
    bpf_link* link = bpf_program__attach_uprobe_opts(program_for(probe), pid,
                                                     probe.site->attach_path.c_str(), probe.offset, &opts);
    if (!link) {
      int err = errno;
      if (err == ESRCH) throw_exited_while_attaching(pid);
      result.skipped.push_back(attach_error(*probe.site, err));
      continue;
    }
    keep(probes, Link(link), std::span(&probe, 1), result);
    attached.push_back(probe);
  }
  return attached;
}

std::vector<Attachments::Probe> Attachments::attach_multi(pid_t pid, std::span<const Probe> wanted,
                                                          ProcessProbes& probes, AttachResult& result) {
  // One link per program and file: the probes of a group share both, in
  // the order wanted has them (return probes first).
  std::vector<std::vector<const Probe*>> groups;
  std::map<std::tuple<bpf_program*, std::string, bool>, size_t> group_of;
  for (const Probe& probe : wanted) {
    auto key = std::make_tuple(program_for(probe), probe.site->attach_path, probe.retprobe);
    auto [it, added] = group_of.try_emplace(std::move(key), groups.size());
    if (added) groups.emplace_back();
    groups[it->second].push_back(&probe);
  }

  std::vector<Probe> attached;
  auto link_group = [&](std::span<const Probe* const> group) {
    std::vector<uint64_t> offsets, cookies;
    std::vector<Probe> members;
    for (const Probe* probe : group) {
      offsets.push_back(probe->offset);
      cookies.push_back(probe->site->fn);  // the function's id, kept by the entry program
      members.push_back(*probe);
    }
    const int fd = uprobe_multi::attach(bpf_program__fd(program_for(*group.front())), pid,
                                        group.front()->site->attach_path, offsets, cookies,
                                        group.front()->retprobe);
    if (fd == -ESRCH) throw_exited_while_attaching(pid);
    if (fd < 0) return -fd;
    keep(probes, Link::from_fd(fd), members, result);
    attached.insert(attached.end(), members.begin(), members.end());
    return 0;
  };
  for (const std::vector<const Probe*>& group : groups) {
    const int err = link_group(group);
    if (err == 0) continue;
    if (group.size() == 1) {
      result.skipped.push_back(attach_error(*group.front()->site, err));
      continue;
    }
    // The kernel takes a link whole or not at all: one probe at a time
    // finds those it refuses, and keeps the others.
    for (const Probe* probe : group)
      if (int one = link_group(std::span(&probe, 1)); one != 0)
        result.skipped.push_back(attach_error(*probe->site, one));
  }
  return attached;
}

void Attachments::detach_allocator(pid_t pid) {
  auto it = uprobes_.find(pid);
  if (it == uprobes_.end()) return;
  reaper_.reap(std::move(it->second.links));
  uprobes_.erase(it);
}

bool Attachments::has_allocator_probes(pid_t pid) const {
  auto it = uprobes_.find(pid);
  return it != uprobes_.end() && !it->second.links.empty();
}

size_t Attachments::probes_attached() const {
  size_t n = 0;
  for (const auto& [pid, probes] : uprobes_) n += probes.sites.size();
  return n;
}

}  // namespace leakscope
