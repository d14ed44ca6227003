#include "probes/event_rings.h"

#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "core/errors.h"
#include "leakscope_bpf.skel.h"

namespace leakscope {

namespace {

static_assert(sizeof(SyscallEvent::args) == sizeof(ls_sys_event::args), "every argument is kept");

// A callback's value that stops ring_buffer__consume (any negative one does).
constexpr int kStopDraining = -ECANCELED;

std::optional<LifecycleEvent::Op> lifecycle_op(uint32_t op) {
  switch (op) {
    case LS_LIFE_FORK: return LifecycleEvent::Op::Fork;
    case LS_LIFE_EXEC: return LifecycleEvent::Op::Exec;
    case LS_LIFE_EXIT: return LifecycleEvent::Op::Exit;
    default: return std::nullopt;
  }
}

void decode_lifecycle(const EventHandlers& h, LifecycleEvent::Op op, const void* data,
                      size_t size) {
  if (size < sizeof(ls_life_event) || !h.lifecycle) return;
  ls_life_event e{};
  std::memcpy(&e, data, sizeof e);
  LifecycleEvent ev;
  ev.op = op;
  ev.tgid = e.tgid;
  ev.trace_id = e.trace_id;
  if (op == LifecycleEvent::Op::Fork) ev.child_tgid = e.child_tgid;
  if (op != LifecycleEvent::Op::Exit) ev.next_id = e.next_id;
  h.lifecycle(ev);
}

void decode_syscall(const EventHandlers& h, const void* data, size_t size) {
  if (size < LS_SYS_EVENT_SHORT || !h.syscall) return;
  // Events without a stack end before frames[].
  ls_sys_event e{};
  std::memcpy(&e, data, std::min(size, sizeof e));
  SyscallEvent ev;
  ev.op = e.op;
  ev.tgid = e.tgid;
  ev.trace_id = e.trace_id;
  ev.ts_ns = e.ts_ns;
  ev.ret = e.ret;
  std::copy(std::begin(e.args), std::end(e.args), ev.args.begin());
  if (e.nframes > 0 && size >= sizeof e) {
    ev.frames.assign(e.frames, e.frames + std::min<size_t>(e.nframes, LS_MAX_STACK_DEPTH));
    ev.unwound = e.stack_flags & LS_SYS_STACK_UNWOUND;
    if (!ev.unwound) ev.stack_top.assign(std::begin(e.stack_top), std::end(e.stack_top));
  }
  h.syscall(ev);
}

}  // namespace

EventRings::EventRings(const BpfObject& object) {
  events_ = ring_buffer__new(bpf_map__fd(object.skel().maps.sys_events), on_event, this, nullptr);
  if (!events_)
    throw FatalError(ExitCode::KernelUnsupported,
                     std::string("cannot open the syscall event ring buffer: ") + std::strerror(errno));
  if (!object.kind_enabled(LS_KIND_FAULT)) return;
  faults_ = ring_buffer__new(bpf_map__fd(object.skel().maps.fault_events), on_fault, this, nullptr);
  if (!faults_)
    throw FatalError(ExitCode::KernelUnsupported,
                     std::string("cannot open the page-fault ring buffer: ") + std::strerror(errno));
}

EventRings::~EventRings() {
  if (events_) ring_buffer__free(events_);
  if (faults_) ring_buffer__free(faults_);
}

int EventRings::on_event(void* ctx, void* data, size_t size) {
  auto* self = static_cast<EventRings*>(ctx);
  if (size < sizeof(uint32_t) || !self->handlers_) return self->go_on() ? 0 : kStopDraining;
  // Both structs on this ring begin with their op, and the ops of the two
  // are apart (leakscope.h): the op says which struct this is.
  uint32_t op;
  std::memcpy(&op, data, sizeof op);
  if (auto life = lifecycle_op(op))
    decode_lifecycle(*self->handlers_, *life, data, size);
  else
    decode_syscall(*self->handlers_, data, size);
  return self->go_on() ? 0 : kStopDraining;
}

int EventRings::on_fault(void* ctx, void* data, size_t size) {
  auto* self = static_cast<EventRings*>(ctx);
  if (size < LS_FAULT_EVENT_SHORT || !self->fault_visit_) return 0;
  // An event with LS_FAULT_SAME_STACK or LS_FAULT_NO_STACK is only the
  // head: nothing past it is read.
  auto* e = static_cast<const ls_fault_event*>(data);
  FaultEvent ev;
  ev.tgid = e->tgid;
  ev.trace_id = e->trace_id;
  ev.tid = e->tid;
  ev.ts_ns = e->ts_ns;
  ev.address = e->address;
  // A shift past the kernel's largest would be a corrupt event: one page.
  const uint32_t shift = e->flags >> LS_FAULT_WEIGHT_SHIFT;
  ev.weight = shift <= LS_FAULT_MAX_WEIGHT_SHIFT ? 1u << shift : 1u;
  if (e->flags & LS_FAULT_NO_STACK) {
    ev.stack = FaultEvent::Stack::None;
  } else if (e->flags & LS_FAULT_SAME_STACK) {
    ev.stack = FaultEvent::Stack::SamePlace;
  } else if (e->flags & LS_FAULT_UNWOUND) {
    if (size < LS_FAULT_EVENT_UNWOUND) return 0;
    ev.stack = FaultEvent::Stack::Full;
    const size_t n = std::min<size_t>(e->stack_len / sizeof(uint64_t), LS_MAX_STACK_DEPTH);
    ev.frames.resize(n);
    std::memcpy(ev.frames.data(), e->stack, n * sizeof(uint64_t));
  } else {
    if (size < sizeof(ls_fault_event)) return 0;
    ev.stack = FaultEvent::Stack::Full;
    std::copy(std::begin(e->regs), std::end(e->regs), ev.regs.begin());
    for (uint64_t ret : e->hijacked) {
      if (!ret) break;
      ev.hijacked.push_back(ret);
    }
    ev.stack_bytes = std::span<const uint8_t>(e->stack, std::min<size_t>(e->stack_len, sizeof e->stack));
  }
  (*self->fault_visit_)(ev);
  return self->go_on() ? 0 : kStopDraining;
}

bool EventRings::go_on() {
  // The clock is read every 64 events: an event costs microseconds.
  return ++drained_ % 64 != 0 || std::chrono::steady_clock::now() < until_;
}

Drained EventRings::drain(struct ring_buffer* ring, Deadline until) {
  until_ = until;
  drained_ = 0;
  // libbpf consumes the event whose callback stops the drain, and returns
  // the callback's value.
  int rc = ring_buffer__consume(ring);
  return Drained{drained_, rc == kStopDraining};
}

Drained EventRings::drain_events(const EventHandlers& handlers, Deadline until) {
  if (!events_) return {};
  handlers_ = &handlers;
  Drained d = drain(events_, until);
  handlers_ = nullptr;
  return d;
}

Drained EventRings::drain_faults(const std::function<void(const FaultEvent&)>& visit, Deadline until) {
  if (!faults_) return {};
  fault_visit_ = &visit;
  Drained d = drain(faults_, until);
  fault_visit_ = nullptr;
  return d;
}

}  // namespace leakscope
