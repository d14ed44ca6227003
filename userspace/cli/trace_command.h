// `leakscope trace`: its flags, and turning them into one TraceConfig.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>

namespace leakscope {

struct TraceFlags;

// Adds the subcommand; run_trace_command() runs it after parsing.
class TraceCommand {
 public:
  explicit TraceCommand(CLI::App& app);
  ~TraceCommand();
  bool selected() const;
  // command_after_separator: argv had "--", so a command given is meant as one.
  int run(bool command_after_separator);

 private:
  CLI::App* sub_;
  std::unique_ptr<TraceFlags> flags_;
};

}  // namespace leakscope
