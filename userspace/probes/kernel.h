// The kernel side as the tracer sees it: one interface, plain values in and
// out. No file descriptor and no kernel key layout crosses it; BpfKernel
// (bpf_kernel.h) implements it over libbpf, and the tracer's parts are
// unit-tested against a fake.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "core/types.h"
#include "leakscope.h"
#include "target/allocator.h"

namespace leakscope {

struct MapSizes {
  uint32_t max_objects = 1u << 20;  // live objects across all images
  // Ledger rows (image x kind x stack x allocator function): above the
  // stacks stored, since one stack has a row per kind and function and per
  // image that runs it; a full ledger drops allocations outright.
  uint32_t max_stacks = 1u << 17;
  // Distinct user stacks the kernel side stores (ledger.bpf.h): a slot of
  // 256 bytes each, taken only by a new stack (16 MiB at 65536), plus ~100
  // bytes per stack seen in the hash -> id map. Past it new stacks are lost
  // (counted); ids stay below it, far below the ids userspace gives the
  // stacks it composes.
  uint32_t max_stack_traces = 1u << 16;
  uint32_t max_images = 1024;
  uint32_t max_threads = 1u << 14;  // threads inside an allocator at once
  // Words of the array holding every unwind table (8 bytes each, allocated
  // at load): 16 MiB hold node's 3 MB table, libc's and libstdc++'s many
  // times over. A module whose table does not fit is walked by frame pointer.
  uint32_t unwind_words = 1u << 21;
};

struct KernelOptions {
  MapSizes sizes;
  std::string btf_path = "/sys/kernel/btf/vmlinux";
  uint32_t kinds_mask = ~0u;  // LS_KIND_BIT() of the kinds to account
  std::string tracefs = "/sys/kernel/tracing";
  bool force_raw_syscalls = false;      // skip tracefs even when it is there
  bool probes_at_entry = false;         // never move an entry probe (see probe_placement.h)
  bool per_probe_uprobe_links = false;  // one perf-event link a probe even where uprobe_multi exists
  uint32_t sample_every = 1;            // heap: account 1 block in N, chosen by address
  uint32_t fault_stacks_per_sec = 256;  // fault: stacks each image may send a second
};

// The kernel's maps whose fill is shown in status (Images: traced tgid ->
// image, the kernel's filter).
enum class MapName { Images, Objects, Ledger };

// Kernel memory one BPF map holds, from its fdinfo ("memlock").
struct MapMemory {
  std::string name;
  uint32_t max_entries = 0;
  uint64_t bytes = 0;      // the kernel's figure now
  uint64_t max_bytes = 0;  // at most, every entry used (maps whose memory follows their entries grow)
};

// How the syscall kinds reach the kernel's syscalls.
enum class SyscallProbes { None, Tracepoints, RawTracepoints };

// How allocator uprobes are linked: one uprobe_multi link per program and
// file (Linux 6.10+), or one perf-event link per probe (see uprobe_multi.h).
enum class UprobeLinks { Multi, PerProbe };

// What could be attached for one process.
struct AttachResult {
  size_t probes = 0;                 // probes created by this call
  std::vector<std::string> skipped;  // "symbol: reason" for sites that failed
};

// The kernel's health counters, indexed by enum ls_counter.
using Counters = std::array<uint64_t, LS_CNT__COUNT>;

// A traced process as the kernel's filter holds it.
struct KernelImage {
  TraceId id = 0;               // its current image
  bool follow_children = false;
};

// A successful syscall of a traced image (the syscall kinds).
struct SyscallEvent {
  uint32_t op = 0;  // enum ls_sys_op
  uint32_t tgid = 0;
  TraceId trace_id = 0;
  uint64_t ts_ns = 0;
  int64_t ret = 0;
  std::array<uint64_t, 5> args{};
  // The user stack, innermost first (frames[0] inside the libc wrapper):
  // unless `unwound`, the frame-pointer walk's, with the top words of the user stack among which is the
  // wrapper's return address; both empty for calls that create nothing.
  std::vector<uint64_t> frames;
  std::vector<uint64_t> stack_top;
  // The frames were walked by CFI in the kernel: exact, the wrapper's pc
  // first, LS_FRAME_TRUNCATED last when the walk was cut; stack_top empty.
  bool unwound = false;
};

// A traced process forked, exec'd or exited.
struct LifecycleEvent {
  enum class Op { Fork, Exec, Exit };
  Op op = Op::Exit;
  uint32_t tgid = 0;
  TraceId trace_id = 0;   // the image the event happened to
  uint32_t child_tgid = 0;  // Fork: the child process
  TraceId next_id = 0;      // Fork: the child's image; Exec: the new image
};

// A first touch of a page of private anonymous memory (kind fault).
struct FaultEvent {
  // Full: registers and a copy of the stack to unwind. SamePlace: the
  // thread is where its last full event was (one memset over many pages).
  // NoStack: over the image's budget of stacks a second.
  enum class Stack { Full, SamePlace, None };
  uint32_t tgid = 0;
  TraceId trace_id = 0;
  uint32_t tid = 0;
  uint64_t ts_ns = 0;
  uint64_t address = 0;
  // Pages this event stands for: 1, or 2^shift while the kernel sampled
  // the faults of a ring filling faster than it drained (LS_FAULT_WEIGHT_SHIFT).
  uint32_t weight = 1;
  Stack stack = Stack::None;
  // Only for Stack::Full: either the frames the kernel walked by CFI
  // (innermost first, the faulting pc first; LS_FRAME_TRUNCATED last when
  // cut), or, when `frames` is empty, what userspace needs to unwind: the
  // registers (DWARF numbering, see LS_DWARF_REGS) and a copy of the stack.
  std::vector<uint64_t> frames;
  std::array<uint64_t, LS_DWARF_REGS> regs{};
  std::vector<uint64_t> hijacked;  // return addresses a uretprobe replaced, innermost first
  std::span<const uint8_t> stack_bytes;  // from regs[sp] up
};

// Ages of the live objects behind one ledger row.
struct ObjectAges {
  TraceId trace_id = 0;
  Kind kind = Kind::Heap;
  int32_t stack_id = LS_STACK_UNKNOWN;
  uint32_t fn = 0;
  double oldest_seconds = 0;
  double median_seconds = 0;
  uint64_t objects = 0;
};

// Reads the ages of the live objects of the images it is given (see
// Kernel::object_age_scan).
using ObjectAgeScan = std::function<std::vector<ObjectAges>(const std::set<TraceId>& ids)>;

struct EventHandlers {
  std::function<void(const SyscallEvent&)> syscall;
  std::function<void(const LifecycleEvent&)> lifecycle;
};

using Deadline = std::chrono::steady_clock::time_point;

// What one drain of an event ring did.
struct Drained {
  size_t events = 0;
  bool more = false;  // stopped at its deadline with events left
};

class Kernel {
 public:
  virtual ~Kernel() = default;

  // --- which processes are traced (the in-kernel filter) ---
  // Starts accounting for `pid` under `id`; with `follow_children` its
  // children are traced from birth under ids of their own. Throws
  // FatalError when the filter is full.
  virtual void track(pid_t pid, TraceId id, bool follow_children) = 0;
  // Stops accounting for `pid` and detaches its allocator probes.
  virtual void untrack(pid_t pid) = 0;
  // The filter as the kernel holds it now: tgid -> image.
  virtual std::map<pid_t, KernelImage> read_images() const = 0;

  // --- allocator probes ---
  // Attaches the uprobes of `plan` filtered to `pid` (tracked already).
  // Sites attached before for the pid are skipped, so a plan can be
  // re-applied when the process maps new objects. Throws FatalError when
  // not even malloc and free attach.
  virtual AttachResult attach_allocator(pid_t pid, const AllocatorPlan& plan) = 0;
  virtual void detach_allocator(pid_t pid) = 0;  // in the background
  virtual bool has_allocator_probes(pid_t pid) const = 0;
  virtual size_t probes_attached() const = 0;

  // --- what the kernel counted ---
  // Every ledger row (heap rows scaled by --sample); nullopt when the map
  // cannot be read.
  virtual std::optional<std::vector<LedgerRow>> read_ledger() const = 0;
  // The user stack behind a kernel stack id, innermost frame first.
  virtual std::vector<uint64_t> read_stack(int32_t stack_id) const = 0;
  // A scan of the ages of the live objects of the images `ids`: one pass
  // over the objects map (a million entries take a second), for reports,
  // not ticks. The scan holds its own descriptor of the map: it may run on
  // any thread, and after the Kernel is gone (it then finds nothing).
  virtual ObjectAgeScan object_age_scan() const = 0;
  // Deletes an ended image's ledger rows and, when it has any (`objects`:
  // a heap row of it holds something), its live objects from the maps. The
  // objects map is walked whole for that (a million entries take seconds):
  // under --all most images that end never had allocator probes.
  virtual void drop_image(TraceId id, bool objects) = 0;

  // --- the CFI unwinder (bpf/unwind.bpf.h) ---
  // Loads an unwind table (leakscope.h's layout) into the kernel's array
  // of tables: its handle (first word), or nullopt and a one-line reason
  // when there is no room.
  virtual std::optional<uint32_t> load_unwind_table(std::span<const uint64_t> words, std::string* error) = 0;
  virtual void drop_unwind_table(uint32_t table) = 0;
  // The executable mappings the walk uses for `pid`; without them its
  // stacks are walked by frame pointer. False when the map is full.
  virtual bool set_unwind_space(pid_t pid, const ls_unwind_space& space) = 0;
  virtual void clear_unwind_space(pid_t pid) = 0;

  // --- signal dispositions ---
  // The handler process `pid` has installed for `signo` (the kernel's
  // sighand->action[signo-1].sa.sa_handler): 0 for SIG_DFL, 1 for SIG_IGN,
  // else its user-space address; nullopt when it cannot be read (no such
  // process, not loadable here). Only reads; never throws.
  virtual std::optional<uint64_t> signal_handler(pid_t pid, int signo) = 0;

  // --- events ---
  // Each drains its ring until it is empty or `until` has passed (a ring
  // that fills faster than it drains would hold the caller for ever); what
  // is left waits for the next call, and what the kernel cannot put in a
  // full ring it counts as lost.
  virtual Drained drain_events(const EventHandlers& handlers, Deadline until) = 0;
  virtual Drained drain_faults(const std::function<void(const FaultEvent&)>& visit, Deadline until) = 0;

  // --- health and cost ---
  virtual Counters counters() const = 0;
  virtual size_t entries(MapName map) const = 0;
  virtual std::vector<MapMemory> map_memory() const = 0;  // largest first
  virtual const MapSizes& sizes() const = 0;
  virtual SyscallProbes syscall_probes() const = 0;
  virtual bool heap_enabled() const = 0;

  // --- heap sampling (tracer/heap_sampling.h) ---
  // From now on 1 in 2^shift new heap blocks are kept, each weighted 2^shift
  // in the ledger; blocks kept before keep their weight.
  virtual void set_heap_sample_shift(uint32_t shift) = 0;
  // Entries in the objects map now (a counter, not a walk of the map).
  virtual uint64_t live_object_entries() const = 0;

  uint64_t map_bytes() const {
    uint64_t total = 0;
    for (const MapMemory& m : map_memory()) total += m.bytes;
    return total;
  }
};

// Checks privileges and BTF, loads the BPF object, attaches the
// always-on tracepoints. Throws FatalError (Permission, KernelUnsupported).
std::unique_ptr<Kernel> open_kernel(const KernelOptions& options);

}  // namespace leakscope
