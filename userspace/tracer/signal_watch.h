// Signals as events: SIGINT/SIGTERM stop, SIGCHLD wakes, SIGUSR1 asks for a
// report, SIGHUP (an event of its own) reloads the config, or stops a trace
// started without one. Blocked and read from a signalfd, polled together with
// other descriptors (the control socket) by the trace loop.
#pragma once

#include <signal.h>

#include <vector>

namespace leakscope {

class SignalWatch {
 public:
  SignalWatch();
  ~SignalWatch();
  SignalWatch(const SignalWatch&) = delete;
  SignalWatch& operator=(const SignalWatch&) = delete;

  // The mask to restore in a child before exec.
  const sigset_t& original() const { return original_; }

  struct Events {
    std::vector<int> signals;  // every one but SIGHUP
    bool hangup = false;       // SIGHUP came
    bool extra_ready = false;  // `extra_fd` is readable
  };
  // Waits up to `seconds` for a signal or for `extra_fd` (-1: none).
  Events wait(double seconds, int extra_fd);

 private:
  sigset_t mask_{}, original_{};
  int fd_ = -1;
};

}  // namespace leakscope
