// `leakscope trace --config FILE` reloaded on SIGHUP: the file read again
// with the same parser and command line (ConfigReader, from the CLI), the
// new TraceConfig compared field by field with the running one, what a
// running trace can take applied, every other change named as needing a
// restart. Without --config there is nothing to reload: SIGHUP stops the
// trace (signal_watch.h).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "tracer/config.h"

namespace leakscope {

// Reads the configuration again exactly as at start (the file under the
// command line's flags); throws FatalError on a bad file.
using ConfigReader = std::function<TraceConfig()>;

// What differs between the running configuration and a reloaded one, by
// long flag name ("--top", "--tick"), each once, in TraceConfig's order.
struct ConfigChanges {
  std::vector<std::string> applied;        // taken by the running trace
  std::vector<std::string> needs_restart;  // kept as they are until a restart
  bool empty() const { return applied.empty() && needs_restart.empty(); }
};

// Compares `running` with `next`, field by field.
ConfigChanges diff_configs(const TraceConfig& running, const TraceConfig& next);

// Copies into `running` the fields of `next` a running trace can take
// (those diff_configs lists as applied); leaves every other field as it is.
void apply_reloadable(TraceConfig& running, const TraceConfig& next);

}  // namespace leakscope
