#include "probes/signal_reader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "leakscope.h"
#include "leakscope_signals.skel.h"
#include "probes/link.h"

namespace leakscope {

namespace {

// Closes a file descriptor when it goes out of scope.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

void SignalReader::SkelDeleter::operator()(struct ::leakscope_signals* skel) const {
  leakscope_signals__destroy(skel);
}

SignalReader::~SignalReader() = default;

bool SignalReader::load() {
  if (skel_) return true;
  if (load_failed_) return false;
  bpf_object_open_opts open_opts{};
  open_opts.sz = sizeof(open_opts);
  if (btf_path_ != "/sys/kernel/btf/vmlinux") open_opts.btf_custom_path = btf_path_.c_str();
  struct ::leakscope_signals* skel = leakscope_signals__open_opts(&open_opts);
  if (!skel) {
    log_verbose(std::string("signal dispositions: cannot open the BPF object: ") + std::strerror(errno));
    load_failed_ = true;
    return false;
  }
  if (int err = leakscope_signals__load(skel)) {
    log_verbose(std::string("signal dispositions: cannot load the task iterator: ") + std::strerror(-err));
    leakscope_signals__destroy(skel);
    load_failed_ = true;
    return false;
  }
  skel_.reset(skel);
  return true;
}

std::optional<uint64_t> SignalReader::handler(pid_t pid, int signo) {
  if (pid <= 0 || signo < 1 || signo > LS_SIG_MAX) return std::nullopt;
  std::lock_guard lock(mutex_);
  if (!load()) return std::nullopt;

  skel_->bss->target_tgid = static_cast<uint32_t>(pid);
  skel_->bss->target_signo = static_cast<uint32_t>(signo);
  skel_->bss->written = 0;

  // Walk only the threads of `pid` (the kernel refuses a pid that is not
  // there).
  union bpf_iter_link_info info{};
  info.task.pid = static_cast<uint32_t>(pid);
  bpf_iter_attach_opts opts{};
  opts.sz = sizeof(opts);
  opts.link_info = &info;
  opts.link_info_len = sizeof(info);
  Link link(bpf_program__attach_iter(skel_->progs.sig_disposition, &opts));
  if (!link) {
    log_debug("signal dispositions: no task iterator for pid " + std::to_string(pid) + ": " +
              std::strerror(errno));
    return std::nullopt;
  }
  Fd iter{bpf_iter_create(bpf_link__fd(link.get()))};
  if (iter.fd < 0) {
    log_debug(std::string("signal dispositions: bpf_iter_create: ") + std::strerror(errno));
    return std::nullopt;
  }

  ls_sig_record rec{};
  size_t got = 0;
  char buf[256];
  for (;;) {
    ssize_t n = ::read(iter.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      log_debug(std::string("signal dispositions: reading the iterator: ") + std::strerror(errno));
      return std::nullopt;
    }
    if (n == 0) break;
    if (got < sizeof rec) {
      size_t take = std::min(sizeof rec - got, static_cast<size_t>(n));
      std::memcpy(reinterpret_cast<char*>(&rec) + got, buf, take);
    }
    got += static_cast<size_t>(n);
  }
  if (got < sizeof rec || rec.tgid != static_cast<uint32_t>(pid) || rec.signo != static_cast<uint32_t>(signo))
    return std::nullopt;
  return rec.handler;
}

}  // namespace leakscope
