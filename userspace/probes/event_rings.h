// The kernel's event streams: syscall and lifecycle events on one ring,
// page-fault events (kind fault) on another. Each event is decoded into a
// plain value (kernel.h) and handed to the caller while it drains.
#pragma once

#include <functional>

#include "probes/bpf_object.h"
#include "probes/kernel.h"

struct ring_buffer;

namespace leakscope {

class EventRings {
 public:
  // Throws FatalError(KernelUnsupported) when a ring cannot be opened.
  explicit EventRings(const BpfObject& object);
  ~EventRings();
  EventRings(const EventRings&) = delete;
  EventRings& operator=(const EventRings&) = delete;

  // Until the ring is empty or `until` has passed (kernel.h).
  Drained drain_events(const EventHandlers& handlers, Deadline until);
  Drained drain_faults(const std::function<void(const FaultEvent&)>& visit, Deadline until);

 private:
  static int on_event(void* ctx, void* data, size_t size);
  static int on_fault(void* ctx, void* data, size_t size);
  // After an event: false when the drain must stop (its deadline passed).
  bool go_on();
  Drained drain(struct ring_buffer* ring, Deadline until);

  struct ring_buffer* events_ = nullptr;
  struct ring_buffer* faults_ = nullptr;
  const EventHandlers* handlers_ = nullptr;  // while draining
  const std::function<void(const FaultEvent&)>* fault_visit_ = nullptr;
  Deadline until_{};    // of the drain under way
  size_t drained_ = 0;  // events of the drain under way
};

}  // namespace leakscope
