#include "probes/bpf_object.h"

#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <fstream>
#include <string>

#include "core/bpf_contract.h"
#include "core/errors.h"
#include "core/log.h"
#include "leakscope_bpf.skel.h"
#include "probes/uprobe_multi.h"

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

}  // namespace

void check_can_load(const std::string& btf_path) {
  check_privileges();
  check_btf(btf_path);
}

void BpfObject::SkelDeleter::operator()(struct ::leakscope_bpf* skel) const { leakscope_bpf__destroy(skel); }

BpfObject::BpfObject(const KernelOptions& options)
    : sizes_(options.sizes), kinds_mask_(options.kinds_mask) {
  check_can_load(options.btf_path);
  libbpf_set_print(libbpf_print);

  bpf_object_open_opts open_opts{};
  open_opts.sz = sizeof(open_opts);
  if (options.btf_path != "/sys/kernel/btf/vmlinux") open_opts.btf_custom_path = options.btf_path.c_str();
  struct ::leakscope_bpf* skel = leakscope_bpf__open_opts(&open_opts);
  if (!skel)
    throw FatalError(ExitCode::KernelUnsupported,
                     std::string("cannot open the BPF object: ") + std::strerror(errno));
  skel_.reset(skel);

  const MapSizes& s = options.sizes;
  bpf_map__set_max_entries(skel->maps.objects, s.max_objects);
  bpf_map__set_max_entries(skel->maps.ledger, s.max_stacks);
  // One slot per stack, one id per filled slot: the id map needs no more
  // entries than the slots (see ledger.bpf.h).
  bpf_map__set_max_entries(skel->maps.stacks, s.max_stack_traces);
  bpf_map__set_max_entries(skel->maps.stack_ids, s.max_stack_traces);
  bpf_map__set_max_entries(skel->maps.images, s.max_images);
  bpf_map__set_max_entries(skel->maps.unwind_spaces, s.max_images);
  bpf_map__set_max_entries(skel->maps.unwind_words, s.unwind_words);
  bpf_map__set_max_entries(skel->maps.inflight, s.max_threads);
  skel->rodata->page_size = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  skel->rodata->kinds_mask = options.kinds_mask;
  skel->rodata->sample_every = options.sample_every ? options.sample_every : 1;
  skel->rodata->fault_stacks_per_sec = options.fault_stacks_per_sec;

  // Which way in for the syscall kinds; the other pair is not loaded.
  if (options.kinds_mask & syscall_kinds())
    syscall_probes_ = !options.force_raw_syscalls && ensure_tracefs(options.tracefs)
                          ? SyscallProbes::Tracepoints
                          : SyscallProbes::RawTracepoints;
  bool classic = syscall_probes_ == SyscallProbes::Tracepoints;
  bool raw = syscall_probes_ == SyscallProbes::RawTracepoints;
  bpf_program__set_autoload(skel->progs.sys_enter_tp, classic);
  bpf_program__set_autoload(skel->progs.sys_exit_tp, classic);
  bpf_program__set_autoload(skel->progs.sys_enter_raw, raw);
  bpf_program__set_autoload(skel->progs.sys_exit_raw, raw);
  bpf_program__set_autoload(skel->progs.fault_user, kind_enabled(LS_KIND_FAULT));
  if (!kind_enabled(LS_KIND_FAULT))
    bpf_map__set_max_entries(skel->maps.fault_events, 4096);  // unused: the smallest ring

  // The allocator programs load for the way they will be linked; the
  // otel_memory USDT programs always go by perf-event links (libbpf's).
  if (kind_enabled(LS_KIND_HEAP) && !options.per_probe_uprobe_links && uprobe_multi::kernel_supports()) {
    uprobe_links_ = UprobeLinks::Multi;
    const auto multi = static_cast<bpf_attach_type>(uprobe_multi::kAttachType);
    for (const AllocShapeInfo& shape : kAllocShapes)
      if (bpf_program* prog = bpf_object__find_program_by_name(skel->obj, std::string(shape.program).c_str()))
        bpf_program__set_expected_attach_type(prog, multi);
    bpf_program__set_expected_attach_type(skel->progs.alloc_return, multi);
  }
  if (kind_enabled(LS_KIND_HEAP))
    log_verbose(uprobe_links_ == UprobeLinks::Multi
                    ? "allocator uprobes: uprobe_multi links, one per program and file"
                    : "allocator uprobes: one perf-event link per probe");

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
}

BpfObject::~BpfObject() = default;

}  // namespace leakscope
