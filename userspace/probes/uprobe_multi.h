// uprobe_multi links (Linux 6.10 and later): one BPF link puts one program
// on many offsets of one file, in one process. Debian's libbpf 1.1 has no
// API for them, so they are made here with the raw BPF_LINK_CREATE.
//
// Why: detaching is what they save. Each per-probe perf-event link waits for
// grace periods of its own on close, under a kernel-wide mutex, so closing
// them does not overlap: 80 probes on libc took 8.7 s to close here (0.11 s
// each), the same 80 offsets as 10 uprobe_multi links 0.56 s. A program
// loaded for uprobe_multi attaches only that way (its expected attach type
// says so), so the choice is made once, before the object is loaded.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>

namespace leakscope::uprobe_multi {

// BPF_TRACE_UPROBE_MULTI in the kernel's enum bpf_attach_type (newer than
// the headers Debian 12 builds with).
inline constexpr uint32_t kAttachType = 48;

// Whether this kernel makes uprobe_multi links that serve every thread of
// the process: Linux 6.10 or later (before it, a link with a pid ran its
// program only for calls on that very thread, the main one: allocations of
// other threads were missed, their frees of the main thread's blocks too),
// and a trivial program of the kind loads and a link to a path that cannot
// be probed ("/") is refused for the path (EBADF), not for its attach type
// (EINVAL).
bool kernel_supports();

// Whether the kernel release `release` (as uname -r gives it, "6.18.44")
// is at least major.minor; false when it cannot be read.
bool release_at_least(const char* release, int major, int minor);

// Attaches `prog_fd` (loaded with expected attach type kAttachType) at the
// file offsets `offsets` of `path`, in process `pid` only, each with the BPF
// cookie of the same index; return probes when `retprobe`. The link's fd,
// or -errno (the kernel attaches all of them or none).
int attach(int prog_fd, pid_t pid, const std::string& path, std::span<const uint64_t> offsets,
           std::span<const uint64_t> cookies, bool retprobe);

}  // namespace leakscope::uprobe_multi
