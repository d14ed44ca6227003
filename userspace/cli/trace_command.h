// `leakscope trace`: its flags, and turning them into one TraceConfig.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>

#include "tracer/config.h"

namespace leakscope {

struct TraceFlags;

// Adds the subcommand and its --config (a TOML file whose [trace] table
// gives any of its flags; flags on the command line override it); run()
// runs it after parsing.
class TraceCommand {
 public:
  explicit TraceCommand(CLI::App& app);
  ~TraceCommand();
  bool selected() const;
  // The flags, from the command line and the config file, as one checked
  // TraceConfig; a bad one throws FatalError (ExitCode::Usage).
  // command_after_separator: argv had "--", so a command given is meant as one.
  const TraceConfig& config(bool command_after_separator);
  // config(), the preflight checks, then the trace itself.
  int run(bool command_after_separator);

 private:
  CLI::App* sub_;
  std::unique_ptr<TraceFlags> flags_;
};

}  // namespace leakscope
