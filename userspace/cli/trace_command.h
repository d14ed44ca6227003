// `leakscope trace`: its flags, and turning them into one TraceConfig.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>

#include "tracer/config.h"
#include "tracer/config_reload.h"

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
  // Whether --config named a file (a trace reloads it on SIGHUP).
  bool has_config_file() const;
  // config(), the preflight checks, then the trace itself; `reread` reads
  // the config again on SIGHUP (empty: SIGHUP stops the trace).
  int run(bool command_after_separator, ConfigReader reread = {});

 private:
  CLI::App* sub_;
  std::unique_ptr<TraceFlags> flags_;
};

}  // namespace leakscope
