// What systemd learns of a trace run as a Type=notify service
// (packaging/leakscope.service), through libsystemd's sd_notify: READY=1
// once the probes are attached, WATCHDOG=1 from the trace loop when the unit
// has WatchdogSec=. Outside systemd (no $NOTIFY_SOCKET) both do nothing.
#pragma once

#include <string>

namespace leakscope {

// READY=1 with `status` as the unit's STATUS= ("tracing the whole host:
// ..."); once per process.
void notify_ready(const std::string& status);

// WATCHDOG=1 when systemd asked for it (sd_watchdog_enabled: $WATCHDOG_USEC
// for this PID), at most every quarter of the watchdog's period; called each
// tick of the trace loop, so a loop that stops ticking gets the service
// restarted.
void notify_watchdog();

}  // namespace leakscope
