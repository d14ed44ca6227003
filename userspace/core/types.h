// Plain values shared by every module.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace leakscope {

// Numbers are enum ls_kind's in bpf/leakscope.h (types.cpp checks each).
// Heap to Epoll and Fault are counted by the BPF side; Rss is a process's
// anonymous resident memory, sampled from /proc under --all (its number is
// reserved there); Fault is anonymous memory first touched (page faults) per
// stack, still resident; Js is live JavaScript objects per JS allocation
// stack, sampled by V8's heap profiler (runtimes/), never by the kernel.
enum class Kind : uint32_t { Heap = 0, Mmap = 1, Brk = 2, Timerfd = 3, Epoll = 4, Rss = 5, Fault = 6, Js = 7 };

std::string_view kind_name(Kind kind);
std::optional<Kind> parse_kind(std::string_view name);

// Name of the allocator function (its id, core/alloc_families.h) a heap row
// came from; "unknown" for an id no family's table has.
std::string_view alloc_fn_name(uint32_t fn);

// What created a ledger row's objects: the allocator function for the heap,
// "mmap (anonymous)"/"mmap (file)", "brk", "timerfd_create", "epoll_ctl ADD".
std::string origin_name(Kind kind, uint32_t fn);

// Natural unit of a kind's growth: "bytes/s", or "objects/s" for timerfd and
// epoll, whose live count matters more than bytes.
bool counts_objects(Kind kind);

// Identity of one traced process image: a process between its start (or an
// exec) and its exec or exit. Ledgers are keyed by it, never by PID (see
// LS_FIRST_KERNEL_ID in bpf/leakscope.h).
using TraceId = uint32_t;

// Sub-kinds of mmap and brk rows, stored where the heap keeps its
// allocator function.
enum class MmapBacking : uint32_t { Anonymous = 0, File = 1 };

// What one ledger row holds: the kernel's per-stack counts, or the same
// figures kept in userspace for the syscall kinds, page faults and rss.
struct LedgerValue {
  int64_t live_bytes = 0;
  int64_t live_objects = 0;
  uint64_t allocs = 0;
  uint64_t frees = 0;
  uint64_t bytes_allocated = 0;
  uint64_t first_ns = 0;  // when this stack first allocated
};

// One (image, kind, stack, sub) row of a ledger.
struct LedgerRow {
  TraceId trace_id = 0;
  Kind kind = Kind::Heap;
  int32_t stack_id = -1;  // LS_STACK_UNKNOWN when none
  uint32_t fn = 0;        // the allocator function's id for the heap; MmapBacking for mmap/brk
  LedgerValue value;
  int64_t armed = 0;  // timerfd: live timers that are armed
  // Under --sample N, heap values are estimates (N times what was counted);
  // this is the live objects actually counted, for the error bars.
  int64_t counted_objects = -1;
  // Heap: the stack was walked by frame pointer (LS_FN_FP_WALKED), not by
  // CFI; fn holds the allocator function alone.
  bool fp_walked = false;
};

// One line of /proc/PID/maps.
struct MapEntry {
  uint64_t start = 0;
  uint64_t end = 0;
  uint64_t offset = 0;  // file offset of `start`
  std::string perms;    // "r-xp"
  uint32_t dev_major = 0;
  uint32_t dev_minor = 0;
  uint64_t inode = 0;
  std::string path;  // may be empty, "[heap]", "/x (deleted)"

  bool executable() const { return perms.size() > 2 && perms[2] == 'x'; }
  bool file_backed() const { return inode != 0 && !path.empty() && path[0] == '/'; }
  bool contains(uint64_t addr) const { return addr >= start && addr < end; }
};

// The module of a frame a runtime named (a JavaScript function, from V8's
// profiler): it has no address; file, line and column say where it is.
inline constexpr const char* kJsModule = "[js]";

// One symbolized frame of a user stack.
struct Frame {
  uint64_t address = 0;        // as captured in the target
  std::string function;        // demangled; empty when unknown
  std::string file;            // source file from DWARF; empty when unknown
  int line = 0;                // 0 when unknown
  int column = 0;              // JS frames: 1-based column; 0 when unknown
  std::string module;          // path of the mapped object, "[jit]", "[unknown]"
  uint64_t module_offset = 0;  // file offset inside `module`
  std::string build_id;        // of `module`, hex; empty when unknown

  // "function" or "module+0xoffset" when the function is unknown.
  std::string display_name() const;
};

}  // namespace leakscope
