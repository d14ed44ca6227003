#include "core/service_notify.h"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <cstdint>

namespace leakscope {

namespace {

uint64_t monotonic_usec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace

void notify_ready(const std::string& status) {
  static bool sent = false;
  if (sent) return;
  sent = true;
  // STATUS= is one line: a newline would start another assignment.
  std::string line = status.substr(0, status.find('\n'));
  (void)sd_notify(0, ("READY=1\nSTATUS=" + line).c_str());
}

void notify_watchdog() {
  // Read once: the environment does not change under a running service.
  static const uint64_t period = [] {
    uint64_t usec = 0;
    return sd_watchdog_enabled(0, &usec) > 0 ? usec : 0;
  }();
  if (period == 0) return;
  static uint64_t last = 0;
  const uint64_t now = monotonic_usec();
  if (last != 0 && now - last < period / 4) return;
  last = now;
  (void)sd_notify(0, "WATCHDOG=1");
}

}  // namespace leakscope
