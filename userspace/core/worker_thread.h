// A worker thread that leaves signals to the trace loop: started with every
// signal blocked (a signalfd on the loop's thread reads them), and detached
// (its state lives in what `body` holds, so it may outlive its starter and a
// stuck call in it never holds the tracer's exit).
#pragma once

#include <signal.h>

#include <thread>
#include <utility>

namespace leakscope {

template <typename Body>
void start_detached_worker(Body&& body) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  // The caller's mask comes back even when the thread cannot be made.
  struct Restore {
    sigset_t mask;
    ~Restore() { pthread_sigmask(SIG_SETMASK, &mask, nullptr); }
  } restore{old};
  std::thread(std::forward<Body>(body)).detach();
}

}  // namespace leakscope
