#include "probes/uprobe_multi.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/unique_fd.h"

namespace leakscope::uprobe_multi {

namespace {

// BPF_LINK_CREATE's attributes for a uprobe_multi link, laid out as the
// kernel's union bpf_attr has them (include/uapi/linux/bpf.h, link_create).
struct LinkCreateAttr {
  uint32_t prog_fd;
  uint32_t target_fd;
  uint32_t attach_type;
  uint32_t flags;
  uint64_t path;             // const char*
  uint64_t offsets;          // const uint64_t*
  uint64_t ref_ctr_offsets;  // const uint64_t*, none here
  uint64_t cookies;          // const uint64_t*
  uint32_t cnt;
  uint32_t multi_flags;
  uint32_t pid;
  uint32_t pad;
};
static_assert(sizeof(LinkCreateAttr) == 64);

constexpr uint32_t kReturn = 1;  // BPF_F_UPROBE_MULTI_RETURN

int link_create(const LinkCreateAttr& attr) {
  const long fd = ::syscall(SYS_bpf, BPF_LINK_CREATE, &attr, sizeof attr);
  return fd < 0 ? -errno : static_cast<int>(fd);
}

}  // namespace

bool release_at_least(const char* release, int major, int minor) {
  int have_major = 0, have_minor = 0;
  if (std::sscanf(release, "%d.%d", &have_major, &have_minor) != 2) return false;
  return have_major > major || (have_major == major && have_minor >= minor);
}

bool kernel_supports() {
  utsname uts{};
  if (::uname(&uts) != 0 || !release_at_least(uts.release, 6, 10)) return false;
  // r0 = 0; exit
  const std::array<bpf_insn, 2> insns{{
      {BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0},
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  }};
  bpf_prog_load_opts opts{};
  opts.sz = sizeof(opts);
  opts.expected_attach_type = static_cast<bpf_attach_type>(kAttachType);
  UniqueFd prog(bpf_prog_load(BPF_PROG_TYPE_KPROBE, "ls_probe_multi", "GPL", insns.data(),
                              insns.size(), &opts));
  if (prog.get() < 0) return false;
  const uint64_t offset = 0;
  LinkCreateAttr attr{};
  attr.prog_fd = static_cast<uint32_t>(prog.get());
  attr.attach_type = kAttachType;
  attr.path = reinterpret_cast<uint64_t>("/");
  attr.offsets = reinterpret_cast<uint64_t>(&offset);
  attr.cnt = 1;
  const int fd = link_create(attr);
  if (fd >= 0) {
    ::close(fd);  // "/" probed: not expected, but the attach type is known
    return true;
  }
  return fd == -EBADF;
}

int attach(int prog_fd, pid_t pid, const std::string& path, std::span<const uint64_t> offsets,
           std::span<const uint64_t> cookies, bool retprobe) {
  if (offsets.empty() || offsets.size() != cookies.size() || prog_fd < 0 || pid <= 0) return -EINVAL;
  LinkCreateAttr attr{};
  attr.prog_fd = static_cast<uint32_t>(prog_fd);
  attr.attach_type = kAttachType;
  attr.path = reinterpret_cast<uint64_t>(path.c_str());
  attr.offsets = reinterpret_cast<uint64_t>(offsets.data());
  attr.cookies = reinterpret_cast<uint64_t>(cookies.data());
  attr.cnt = static_cast<uint32_t>(offsets.size());
  attr.multi_flags = retprobe ? kReturn : 0;
  attr.pid = static_cast<uint32_t>(pid);
  return link_create(attr);
}

}  // namespace leakscope::uprobe_multi
