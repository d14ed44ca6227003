// The ledger of the syscall kinds — mmap and brk regions, timerfd timers,
// epoll registrations — kept in userspace from the kernel's event stream
// (see enum ls_sys_op in bpf/leakscope.h for what each event carries).
// Pure: events in, rows out; no /proc, no kernel.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "core/types.h"

namespace leakscope {

// One syscall event, as decoded from struct ls_sys_event. The lifecycle of
// a process (exec, exit) is not one: it has methods of its own below.
struct SysEvent {
  uint32_t op = 0;  // enum ls_sys_op
  uint32_t trace_id = 0;  // the process image that made the call
  uint64_t ts_ns = 0;
  int64_t ret = 0;
  uint64_t args[5] = {0, 0, 0, 0, 0};
  int32_t stack_id = -1;
};

// One (image, kind, stack, sub) row, like the heap's BPF ledger rows.
struct ResourceRow {
  uint32_t trace_id = 0;
  Kind kind = Kind::Mmap;
  int32_t stack_id = -1;
  uint32_t sub = 0;          // mmap/brk: MmapBacking; timerfd/epoll: 0
  int64_t live_bytes = 0;    // mmap, brk; 0 for timerfd and epoll
  int64_t live_objects = 0;  // regions (mmap, brk), timers, registrations
  uint64_t allocs = 0;       // regions mapped, timers created, registrations added
  uint64_t frees = 0;        // ... released completely
  uint64_t bytes_allocated = 0;
  int64_t armed = 0;      // timerfd: live timers currently armed
  uint64_t first_ns = 0;  // first event of this row
};

class ResourceLedger {
 public:
  explicit ResourceLedger(uint64_t page_size = 4096);
  ~ResourceLedger();
  ResourceLedger(const ResourceLedger&) = delete;
  ResourceLedger& operator=(const ResourceLedger&) = delete;

  // Applies one event; events of one process must come in the order the
  // process made the calls. Events of failed calls are never sent.
  void apply(const SysEvent& event);

  // Image `old` exec'd into image `next`: the address space is new (every
  // region goes, the break is forgotten) and the descriptors that survive
  // exec (not CLOEXEC) carry on in `next`, still charged to the rows of
  // the image that made them. `next` equal to `old` (or 0, no image) keeps
  // the id.
  void image_execd(uint32_t old, uint32_t next);

  // The process is gone: every region, timer and registration it held is
  // released (exit unmaps and closes everything). Its rows stay. (A fork
  // needs nothing: the child's inherited regions and descriptors were
  // allocated by the parent and are not counted twice.)
  void process_exited(uint32_t trace_id);

  // Drops the rows of an image whose report is no longer kept (but not
  // rows whose objects live on in a later image after an exec).
  void forget(uint32_t trace_id);

  // Every row ever seen, live or not, in a stable order.
  std::vector<ResourceRow> rows() const;

  // Live objects of one kind and image, for tests and status.
  int64_t live_objects(uint32_t trace_id, Kind kind) const;
  int64_t live_bytes(uint32_t trace_id, Kind kind) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace leakscope
