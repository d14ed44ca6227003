// The trace loop: attaches to the configured targets, samples the ledger each
// tick into the timeline, prints the periodic table, and builds the final
// report when stopped (signal, --duration, or every target gone).
#pragma once

#include "tracer/config.h"

namespace leakscope {

// Runs a whole trace session; returns the process exit code. Fatal user
// errors are thrown as FatalError.
int run_trace(const TraceConfig& config);

}  // namespace leakscope
