// Names frames off the trace loop. Finding a frame's module and offset is
// cheap and needs the process's maps of the moment, so the loop does it;
// naming it (function, file, line) reads the module's symbol table and DWARF,
// which costs up to ~10 ms per new address in a big module and 0.4 s for a
// module's first lookup (measured: node, python3.11 with its debug file), so
// a worker thread does it. The loop asks Module::lookup_ready later.
//
// The worker is not joined: a destroyed FrameNamer stops it after the lookup
// it is in (waited for a moment, so that the tracer exits with no lookup under
// way), and the modules it was given stay alive until it lets them go.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "symbols/module.h"

namespace leakscope {

class FrameNamer {
 public:
  // At most `max_queued` lookups wait; past that, submit() refuses (the
  // caller asks again later).
  explicit FrameNamer(size_t max_queued = 1 << 17);
  ~FrameNamer();
  FrameNamer(const FrameNamer&) = delete;
  FrameNamer& operator=(const FrameNamer&) = delete;

  // Queues the lookup of `vaddr` in `module` (once: one queued or under way
  // is not queued again). False when the queue is full.
  bool submit(std::shared_ptr<Module> module, uint64_t vaddr);
  // Waits until no lookup is queued or under way, or until `deadline`:
  // true when idle.
  bool wait_idle(std::chrono::steady_clock::time_point deadline) const;
  // Lookups queued or under way.
  size_t pending() const;

 private:
  struct State;
  std::shared_ptr<State> state_;  // shared with the worker, which may outlive us
};

}  // namespace leakscope
