// The trace loop: attaches to the configured targets, samples the ledger each
// tick into the timeline, prints the periodic table, and builds the final
// report when stopped (signal, --duration, or every target gone).
#pragma once

#include "tracer/config.h"
#include "tracer/config_reload.h"

namespace leakscope {

// Runs a whole trace session; returns the process exit code. Fatal user
// errors are thrown as FatalError. `reread` (started with --config): the
// config read again on SIGHUP.
int run_trace(const TraceConfig& config, ConfigReader reread = {});

}  // namespace leakscope
