// `leakscope report|attach|detach|status`: clients of a running tracer.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>

namespace leakscope {

struct ControlFlags;

class ControlCommands {
 public:
  explicit ControlCommands(CLI::App& app);
  ~ControlCommands();
  // Runs whichever of the subcommands was given; -1 when none was.
  int run_selected();

 private:
  CLI::App* report_;
  CLI::App* attach_;
  CLI::App* detach_;
  CLI::App* status_;
  std::unique_ptr<ControlFlags> flags_;
};

}  // namespace leakscope
