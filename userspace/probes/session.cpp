#include "probes/session.h"

#include <bpf/bpf.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/errors.h"
#include "core/log.h"
#include "leakscope_bpf.skel.h"
#include "probes/map_iter.h"

namespace leakscope {

namespace {

int libbpf_print(enum libbpf_print_level level, const char* format, va_list args) {
  char buf[1024];
  std::vsnprintf(buf, sizeof buf, format, args);
  std::string line = std::string("libbpf: ") + buf;
  if (level == LIBBPF_WARN)
    log_verbose(line);
  else
    log_debug(line);
  return 0;
}

// Effective capabilities from /proc/self/status.
uint64_t effective_caps() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("CapEff:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  return 0;
}

void check_privileges() {
  constexpr int kCapSysAdmin = 21, kCapPerfmon = 38, kCapBpf = 39;
  uint64_t caps = effective_caps();
  auto has = [caps](int cap) { return (caps >> cap) & 1; };
  if (has(kCapSysAdmin) || (has(kCapBpf) && has(kCapPerfmon))) return;
  throw FatalError(ExitCode::Permission,
                   "permission denied: loading BPF programs needs root (CAP_BPF and CAP_PERFMON, "
                   "or CAP_SYS_ADMIN); run leakscope with sudo");
}

void check_btf(const std::string& path) {
  if (::access(path.c_str(), R_OK) == 0) return;
  throw FatalError(ExitCode::KernelUnsupported,
                   "no kernel BTF at " + path + " (" + std::strerror(errno) +
                       "): leakscope needs a kernel built with CONFIG_DEBUG_INFO_BTF=y, or --btf FILE");
}

bpf_program* entry_program(struct ::leakscope_bpf* skel, AllocFn fn) {
  switch (fn) {
    case AllocFn::Malloc: return skel->progs.malloc_enter;
    case AllocFn::Calloc: return skel->progs.calloc_enter;
    case AllocFn::Realloc: return skel->progs.realloc_enter;
    case AllocFn::Reallocarray: return skel->progs.reallocarray_enter;
    case AllocFn::PosixMemalign: return skel->progs.posix_memalign_enter;
    case AllocFn::AlignedAlloc: return skel->progs.aligned_alloc_enter;
    case AllocFn::Memalign: return skel->progs.memalign_enter;
    case AllocFn::Valloc: return skel->progs.valloc_enter;
    case AllocFn::Pvalloc: return skel->progs.pvalloc_enter;
    case AllocFn::OperatorNew: return skel->progs.operator_new_enter;
    case AllocFn::Free: return skel->progs.free_enter;
  }
  return nullptr;
}

std::string attach_error(const ProbeSite& site, int err) {
  std::string msg = site.symbol + " in " + site.module_path + ": " + std::strerror(err);
  if (err == EINVAL)
    msg += " (another tracer, e.g. a BCC tool, may hold a uprobe at the same place with a "
           "different reference counter; stop it and retry)";
  return msg;
}

bool has_syscall_tracepoints(const std::string& tracefs) {
  return ::access((tracefs + "/events/syscalls/sys_enter_mmap/id").c_str(), R_OK) == 0;
}

// Classic syscall tracepoints need tracefs; mount it when it is missing.
bool ensure_tracefs(const std::string& tracefs) {
  if (has_syscall_tracepoints(tracefs)) return true;
  if (::mount("tracefs", tracefs.c_str(), "tracefs", 0, nullptr) == 0) {
    log_verbose("mounted tracefs at " + tracefs);
  } else {
    log_verbose("tracefs not mounted at " + tracefs + " and mount failed: " + std::strerror(errno));
  }
  return has_syscall_tracepoints(tracefs);
}

constexpr const char* kSyscalls[] = {
    "mmap",   "munmap",   "mremap",          "brk",          "timerfd_create",
    "timerfd_settime", "epoll_create", "epoll_create1", "epoll_ctl", "close",
    "close_range", "dup", "dup2", "dup3", "fcntl"};

}  // namespace

void Session::SkelDeleter::operator()(struct ::leakscope_bpf* skel) const { leakscope_bpf__destroy(skel); }

Session::Session(const MapSizes& sizes) : sizes_(sizes) {}

Session::~Session() {
  if (events_) ring_buffer__free(events_);
  if (faults_) ring_buffer__free(faults_);
  // Links first, then the object.
  std::vector<Link> links = std::move(syscall_links_);
  for (auto& [pid, target] : targets_)
    for (Link& l : target.links) links.push_back(std::move(l));
  targets_.clear();
  reaper_.reap(std::move(links));
  reaper_.finish();
  skel_.reset();
}

std::unique_ptr<Session> Session::open(const SessionOptions& options) {
  check_privileges();
  check_btf(options.btf_path);
  libbpf_set_print(libbpf_print);

  std::unique_ptr<Session> session(new Session(options.sizes));
  bpf_object_open_opts open_opts{};
  open_opts.sz = sizeof(open_opts);
  if (options.btf_path != "/sys/kernel/btf/vmlinux") open_opts.btf_custom_path = options.btf_path.c_str();
  struct ::leakscope_bpf* skel = leakscope_bpf__open_opts(&open_opts);
  if (!skel)
    throw FatalError(ExitCode::KernelUnsupported,
                     std::string("cannot open the BPF object: ") + std::strerror(errno));
  session->skel_.reset(skel);

  const MapSizes& s = options.sizes;
  bpf_map__set_max_entries(skel->maps.objects, s.max_objects);
  bpf_map__set_max_entries(skel->maps.ledger, s.max_stacks);
  bpf_map__set_max_entries(skel->maps.stacks, s.max_stack_traces);
  bpf_map__set_max_entries(skel->maps.targets, s.max_targets);
  bpf_map__set_max_entries(skel->maps.inflight, s.max_threads);
  skel->rodata->page_size = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  skel->rodata->kinds_mask = options.kinds_mask;
  skel->rodata->sample_every = options.sample_every ? options.sample_every : 1;
  skel->rodata->fault_stacks_per_sec = options.fault_stacks_per_sec;
  session->kinds_mask_ = options.kinds_mask;
  session->probes_at_entry_ = options.probes_at_entry;

  // Which way in for the syscall kinds; the other pair is not loaded.
  const uint32_t syscall_kinds = LS_KIND_BIT(LS_KIND_MMAP) | LS_KIND_BIT(LS_KIND_BRK) |
                                 LS_KIND_BIT(LS_KIND_TIMERFD) | LS_KIND_BIT(LS_KIND_EPOLL);
  if (options.kinds_mask & syscall_kinds)
    session->syscall_probes_ = !options.force_raw_syscalls && ensure_tracefs(options.tracefs)
                                   ? SyscallProbes::Tracepoints
                                   : SyscallProbes::RawTracepoints;
  bool classic = session->syscall_probes_ == SyscallProbes::Tracepoints;
  bool raw = session->syscall_probes_ == SyscallProbes::RawTracepoints;
  bpf_program__set_autoload(skel->progs.sys_enter_tp, classic);
  bpf_program__set_autoload(skel->progs.sys_exit_tp, classic);
  bpf_program__set_autoload(skel->progs.sys_enter_raw, raw);
  bpf_program__set_autoload(skel->progs.sys_exit_raw, raw);
  bpf_program__set_autoload(skel->progs.fault_user,
                            (options.kinds_mask & LS_KIND_BIT(LS_KIND_FAULT)) != 0);
  if (!(options.kinds_mask & LS_KIND_BIT(LS_KIND_FAULT)))
    bpf_map__set_max_entries(skel->maps.fault_events, 4096);  // unused: the smallest ring

  if (int err = leakscope_bpf__load(skel)) {
    int e = -err;
    if (e == EPERM || e == EACCES)
      throw FatalError(ExitCode::Permission,
                       std::string("the kernel refused to load BPF programs: ") + std::strerror(e) +
                           " (needs CAP_BPF and CAP_PERFMON; is kernel.unprivileged_bpf_disabled "
                           "or a lockdown in force?)");
    throw FatalError(ExitCode::KernelUnsupported,
                     std::string("cannot load the BPF programs: ") + std::strerror(e) +
                         " (run with -v for the verifier's words)");
  }
  session->attach_lifecycle();
  session->attach_syscalls(options.tracefs);
  session->attach_faults();
  session->open_events();
  return session;
}

void Session::attach_lifecycle() {
  for (bpf_program* prog : {skel_->progs.lifecycle_fork, skel_->progs.lifecycle_exec,
                            skel_->progs.lifecycle_exit}) {
    bpf_link* link = bpf_program__attach(prog);
    if (!link)
      throw FatalError(ExitCode::KernelUnsupported,
                       std::string("cannot attach the scheduler tracepoints (fork, exec, exit): ") +
                           std::strerror(errno));
    syscall_links_.emplace_back(link);
  }
}

void Session::attach_syscalls(const std::string& tracefs) {
  if (syscall_probes_ == SyscallProbes::None) return;
  if (syscall_probes_ == SyscallProbes::RawTracepoints) {
    for (bpf_program* prog : {skel_->progs.sys_enter_raw, skel_->progs.sys_exit_raw}) {
      bpf_link* link = bpf_program__attach(prog);
      if (!link)
        throw FatalError(ExitCode::KernelUnsupported,
                         std::string("cannot attach the raw syscall tracepoints: ") + std::strerror(errno));
      syscall_links_.emplace_back(link);
    }
    log_verbose("syscall kinds: raw tracepoints sys_enter/sys_exit (no tracefs at " + tracefs +
                "; every syscall on the host passes the tgid check)");
  } else {
    size_t attached = 0;
    for (const char* name : kSyscalls) {
      for (bool enter : {true, false}) {
        std::string tp = std::string(enter ? "sys_enter_" : "sys_exit_") + name;
        bpf_program* prog = enter ? skel_->progs.sys_enter_tp : skel_->progs.sys_exit_tp;
        bpf_link* link = bpf_program__attach_tracepoint(prog, "syscalls", tp.c_str());
        if (!link) {
          log_verbose("syscall tracepoint " + tp + " not attached: " + std::strerror(errno));
          continue;
        }
        syscall_links_.emplace_back(link);
        ++attached;
      }
    }
    log_verbose("syscall kinds: " + std::to_string(attached) +
                " tracepoints syscalls:sys_{enter,exit}_* (tracefs at " + tracefs + ")");
  }
}

void Session::attach_faults() {
  if (!(kinds_mask_ & LS_KIND_BIT(LS_KIND_FAULT))) return;
  bpf_link* link = bpf_program__attach(skel_->progs.fault_user);
  if (!link)
    throw FatalError(ExitCode::KernelUnsupported,
                     std::string("cannot attach the page-fault tracepoint (kind fault): ") +
                         std::strerror(errno));
  syscall_links_.emplace_back(link);
  log_verbose("kind fault: BTF tracepoint exceptions:page_fault_user");
}

void Session::open_events() {
  events_ = ring_buffer__new(
      bpf_map__fd(skel_->maps.sys_events),
      [](void* ctx, void* data, size_t size) -> int {
        auto* visit = static_cast<const std::function<void(const ls_sys_event&)>*>(ctx);
        if (size < LS_SYS_EVENT_SHORT || !*visit) return 0;
        // Events without a stack end before frames[].
        ls_sys_event event{};
        std::memcpy(&event, data, std::min(size, sizeof event));
        (*visit)(event);
        return 0;
      },
      &current_visit_, nullptr);
  if (!events_)
    throw FatalError(ExitCode::KernelUnsupported,
                     std::string("cannot open the syscall event ring buffer: ") + std::strerror(errno));
  if (!(kinds_mask_ & LS_KIND_BIT(LS_KIND_FAULT))) return;
  faults_ = ring_buffer__new(
      bpf_map__fd(skel_->maps.fault_events),
      [](void* ctx, void* data, size_t size) -> int {
        auto* visit = static_cast<const std::function<void(const ls_fault_event&)>*>(ctx);
        // An event with LS_FAULT_SAME_STACK or LS_FAULT_NO_STACK is only the
        // head; the visitor reads nothing past it (see ls_fault_event).
        if (size < LS_FAULT_EVENT_SHORT || !*visit) return 0;
        auto* head = static_cast<const ls_fault_event*>(data);
        const bool short_event = head->flags & (LS_FAULT_SAME_STACK | LS_FAULT_NO_STACK);
        if (!short_event && size < sizeof(ls_fault_event)) return 0;
        (*visit)(*static_cast<const ls_fault_event*>(data));
        return 0;
      },
      &current_fault_visit_, nullptr);
  if (!faults_)
    throw FatalError(ExitCode::KernelUnsupported,
                     std::string("cannot open the page-fault ring buffer: ") + std::strerror(errno));
}

size_t Session::drain_faults(const std::function<void(const ls_fault_event&)>& visit) {
  if (!faults_) return 0;
  current_fault_visit_ = visit;
  int n = ring_buffer__consume(faults_);
  current_fault_visit_ = nullptr;
  return n > 0 ? static_cast<size_t>(n) : 0;
}

size_t Session::drain_events(const std::function<void(const ls_sys_event&)>& visit) {
  if (!events_) return 0;
  current_visit_ = visit;
  int n = ring_buffer__consume(events_);
  current_visit_ = nullptr;
  return n > 0 ? static_cast<size_t>(n) : 0;
}

void Session::track(pid_t pid, TraceId id, bool follow_children) {
  uint32_t tgid = static_cast<uint32_t>(pid);
  ls_target value{id, follow_children ? LS_TARGET_FOLLOW : 0u};
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.targets), &tgid, &value, BPF_ANY))
    throw FatalError(ExitCode::Failure, "cannot trace PID " + std::to_string(pid) +
                                            ": target map full (" + std::strerror(errno) + ")");
}

void Session::untrack(pid_t pid) {
  uint32_t tgid = static_cast<uint32_t>(pid);
  bpf_map_delete_elem(bpf_map__fd(skel_->maps.targets), &tgid);
  detach_allocator(pid);
}

std::map<pid_t, ls_target> Session::read_targets() const {
  std::map<pid_t, ls_target> out;
  for_each_entry(bpf_map__fd(skel_->maps.targets), sizeof(uint32_t), sizeof(ls_target),
                 [&](const void* k, const void* v) {
                   out[static_cast<pid_t>(*static_cast<const uint32_t*>(k))] =
                       *static_cast<const ls_target*>(v);
                 });
  return out;
}

AttachResult Session::attach_allocator(pid_t pid, const AllocatorPlan& plan) {
  if (!heap_enabled()) return {};
  Target& target = targets_[pid];
  AttachResult result;
  bool have_malloc = false, have_free = false;

  auto attach_one = [&](const ProbeSite& site, bool retprobe) {
    const uint64_t offset = probes_at_entry_ || retprobe ? site.entry_offset : site.file_offset;
    struct stat st {};
    if (::stat(site.attach_path.c_str(), &st) != 0) {
      result.skipped.push_back(site.symbol + ": " + site.attach_path + ": " + std::strerror(errno));
      return false;
    }
    std::ostringstream id;
    id << st.st_dev << ':' << st.st_ino << ':' << offset << ':' << retprobe;
    if (target.sites.count(id.str())) return true;
    bpf_uprobe_opts opts{};
    opts.sz = sizeof(opts);
    opts.retprobe = retprobe;
    bpf_program* prog = retprobe ? skel_->progs.alloc_return : entry_program(skel_.get(), site.fn);
    bpf_link* link = bpf_program__attach_uprobe_opts(prog, pid, site.attach_path.c_str(),
                                                     offset, &opts);
    if (!link) {
      int err = errno;
      if (err == ESRCH)
        throw FatalError(ExitCode::NoSuchProcess,
                         "PID " + std::to_string(pid) + " exited while probes were attached");
      result.skipped.push_back(attach_error(site, err));
      return false;
    }
    target.links.emplace_back(link);
    target.sites.insert(id.str());
    ++result.probes;
    return true;
  };

  // Return probes before entry probes: an entry that records a call always
  // has its return probe in place, so per-thread state cannot go stale.
  for (const ProbeSite& site : plan.sites)
    if (site.fn != AllocFn::Free) attach_one(site, true);
  for (const ProbeSite& site : plan.sites) {
    bool ok = attach_one(site, false);
    if (site.fn == AllocFn::Malloc) have_malloc |= ok;
    if (site.fn == AllocFn::Free) have_free |= ok;
  }
  bool first_time = target.links.size() == result.probes;
  if (first_time && (!have_malloc || !have_free)) {
    std::string why = result.skipped.empty() ? "malloc/free not in plan" : result.skipped.front();
    detach_allocator(pid);
    throw FatalError(ExitCode::KernelUnsupported,
                     "cannot attach allocator probes to PID " + std::to_string(pid) + ": " + why);
  }
  return result;
}

void Session::detach_allocator(pid_t pid) {
  auto it = targets_.find(pid);
  if (it == targets_.end()) return;
  reaper_.reap(std::move(it->second.links));
  targets_.erase(it);
}

bool Session::has_allocator_probes(pid_t pid) const {
  auto it = targets_.find(pid);
  return it != targets_.end() && !it->second.links.empty();
}

namespace {

// Deletes the entries of `fd` whose key's first 32 bits are `id`.
size_t delete_by_trace_id(int fd, size_t key_size, size_t value_size, TraceId id) {
  std::vector<uint8_t> doomed;
  for_each_entry(fd, key_size, value_size, [&](const void* k, const void*) {
    uint32_t key_id;
    std::memcpy(&key_id, k, sizeof key_id);
    if (key_id != id) return;
    auto* bytes = static_cast<const uint8_t*>(k);
    doomed.insert(doomed.end(), bytes, bytes + key_size);
  });
  delete_keys(fd, key_size, doomed);
  return doomed.size() / key_size;
}

}  // namespace

size_t Session::drop_objects(TraceId id) {
  static_assert(offsetof(ls_obj_key, trace_id) == 0);
  return delete_by_trace_id(objects_fd(), sizeof(ls_obj_key), sizeof(ls_obj_val), id);
}

size_t Session::drop_ledger(TraceId id) {
  static_assert(offsetof(ls_ledger_key, trace_id) == 0);
  return delete_by_trace_id(ledger_fd(), sizeof(ls_ledger_key), sizeof(ls_ledger_val), id);
}

size_t Session::entries(MapName map) const {
  int fd = map == MapName::Targets ? bpf_map__fd(skel_->maps.targets)
           : map == MapName::Objects ? objects_fd()
                                     : ledger_fd();
  const bpf_map* m = map == MapName::Targets ? skel_->maps.targets
                     : map == MapName::Objects ? skel_->maps.objects
                                               : skel_->maps.ledger;
  size_t n = 0;
  for_each_entry(fd, bpf_map__key_size(m), bpf_map__value_size(m), [&](const void*, const void*) { ++n; });
  return n;
}

std::vector<MapMemory> Session::map_memory() const {
  std::vector<MapMemory> out;
  bpf_map* map;
  bpf_object__for_each_map(map, skel_->obj) {
    int fd = bpf_map__fd(map);
    if (fd < 0) continue;
    MapMemory m{bpf_map__name(map), bpf_map__max_entries(map), 0};
    std::ifstream in("/proc/self/fdinfo/" + std::to_string(fd));
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("memlock:", 0) == 0) m.bytes = std::stoull(line.substr(8));
    out.push_back(std::move(m));
  }
  std::sort(out.begin(), out.end(), [](const MapMemory& a, const MapMemory& b) { return a.bytes > b.bytes; });
  return out;
}

uint64_t Session::map_bytes() const {
  uint64_t total = 0;
  for (const MapMemory& m : map_memory()) total += m.bytes;
  return total;
}

int Session::ledger_fd() const { return bpf_map__fd(skel_->maps.ledger); }
int Session::stacks_fd() const { return bpf_map__fd(skel_->maps.stacks); }
int Session::objects_fd() const { return bpf_map__fd(skel_->maps.objects); }

Counters Session::counters() const {
  Counters out{};
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = __atomic_load_n(&skel_->bss->counters[i], __ATOMIC_RELAXED);
  return out;
}

size_t Session::probes_attached() const {
  size_t n = 0;
  for (const auto& [pid, target] : targets_) n += target.links.size();
  return n;
}

}  // namespace leakscope
