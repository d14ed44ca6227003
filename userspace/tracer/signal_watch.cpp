#include "tracer/signal_watch.h"

#include <poll.h>
#include <sys/signalfd.h>
#include <unistd.h>

namespace leakscope {

SignalWatch::SignalWatch() {
  sigemptyset(&mask_);
  for (int s : {SIGINT, SIGTERM, SIGCHLD, SIGHUP, SIGUSR1}) sigaddset(&mask_, s);
  ::sigprocmask(SIG_BLOCK, &mask_, &original_);
  fd_ = ::signalfd(-1, &mask_, SFD_CLOEXEC | SFD_NONBLOCK);
}

SignalWatch::~SignalWatch() {
  if (fd_ >= 0) ::close(fd_);
  ::sigprocmask(SIG_SETMASK, &original_, nullptr);
}

SignalWatch::Events SignalWatch::wait(double seconds, int extra_fd) {
  Events events;
  pollfd p[2] = {{fd_, POLLIN, 0}, {extra_fd, POLLIN, 0}};
  int ms = seconds <= 0 ? 0 : static_cast<int>(seconds * 1000 + 0.5);
  if (::poll(p, extra_fd >= 0 ? 2 : 1, ms) > 0) {
    signalfd_siginfo info;
    while (::read(fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info))
      if (info.ssi_signo == SIGHUP)
        events.hangup = true;
      else
        events.signals.push_back(static_cast<int>(info.ssi_signo));
    events.extra_ready = extra_fd >= 0 && (p[1].revents & POLLIN);
  }
  return events;
}

}  // namespace leakscope
