#include "cli/app.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <exception>
#include <string_view>
#include <string>

#include "cli/control_commands.h"
#include "cli/trace_command.h"
#include "core/errors.h"
#include "core/log.h"

namespace leakscope {

namespace {

// No flag takes an empty value: `--json ''` is a slip, never a request for
// a default.
void refuse_empty_values(const CLI::App& app) {
  for (const CLI::App* sub : app.get_subcommands()) {
    for (const CLI::Option* option : sub->get_options()) {
      if (!option->nonpositional() || option->get_type_size_min() == 0) continue;  // flags take none
      for (const std::string& value : option->results())
        if (value.empty()) throw FatalError(ExitCode::Usage, option->get_name() + ": the value is empty");
    }
  }
}

}  // namespace

int run_app(int argc, char** argv) {
  CLI::App app{"leakscope: find the call stacks whose memory keeps growing, in running processes"};
  app.set_version_flag("--version", std::string("leakscope ") + LEAKSCOPE_VERSION);
  app.require_subcommand(1);
  TraceCommand trace(app);
  ControlCommands control(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // One line, as every other error: "leakscope: error: ...".
    std::string message = e.what();
    for (char& c : message)
      if (c == '\n') c = ' ';
    log_error(message + " (see --help)");
    return static_cast<int>(ExitCode::Usage);
  }

  try {
    refuse_empty_values(app);
    if (trace.selected()) {
      const bool separator = std::find(argv + 1, argv + argc, std::string_view("--")) != argv + argc;
      return trace.run(separator);
    }
    int code = control.run_selected();
    if (code >= 0) return code;
    throw FatalError(ExitCode::Usage, "no command given (see --help)");
  } catch (const FatalError& e) {
    log_error(e.what());
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    log_error(std::string("internal error: ") + e.what());
    return static_cast<int>(ExitCode::Failure);
  }
}

}  // namespace leakscope
