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

// CLI11's errors about the config file, said as ours: which file, and what
// in it ("INI was not able to parse trace.bogus" -> "--config FILE: 'bogus'
// is not a flag of trace ...").
std::string config_error_text(const CLI::App& app, const CLI::ParseError& e) {
  std::string file;
  if (const CLI::Option* option = app.get_config_ptr(); option && !option->results().empty())
    file = option->results().back();
  const std::string what = e.what();
  auto item = [](std::string name) {
    if (name.rfind("trace.", 0) == 0) name.erase(0, 6);
    return "'" + name + "'";
  };
  std::string text = "--config " + file + ": ";
  if (dynamic_cast<const CLI::FileError*>(&e)) return text + "cannot be read (missing?)";
  if (const std::string extras = "INI was not able to parse "; what.rfind(extras, 0) == 0) {
    const std::string name = what.substr(extras.size());
    for (const CLI::App* sub : app.get_subcommands())
      if (sub->get_name() == "trace" && sub->get_option_no_throw("--" + name))
        return text + item(name) + " is a flag of trace: put it in the [trace] table";
    return text + item(name) +
           " is not a flag of trace (keys are trace's long flag names, in a [trace] table)";
  }
  if (const size_t at = what.find(": This option is not allowed"); at != std::string::npos)
    return text + item(what.substr(0, at)) + " cannot be set in a config file";
  return text + what;
}

// A parse error as one line: ours for the config file's, CLI11's otherwise.
std::string parse_error_text(const CLI::App& app, const CLI::ParseError& e) {
  std::string message = e.what();
  if (dynamic_cast<const CLI::ConfigError*>(&e) || dynamic_cast<const CLI::FileError*>(&e))
    message = config_error_text(app, e);
  for (char& c : message)
    if (c == '\n') c = ' ';
  return message;
}

// trace's config read again as at start (SIGHUP, tracer/config_reload.h): a
// fresh parser over the same command line, so the file is read anew and the
// command line still overrides it. A bad file throws FatalError.
TraceConfig reread_trace_config(int argc, char** argv, bool separator) {
  CLI::App app;
  app.require_subcommand(1);
  TraceCommand trace(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    throw FatalError(ExitCode::Usage, parse_error_text(app, e));
  }
  refuse_empty_values(app);
  return trace.config(separator);
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
    log_error(parse_error_text(app, e) + " (see --help)");
    return static_cast<int>(ExitCode::Usage);
  }

  try {
    refuse_empty_values(app);
    if (trace.selected()) {
      const bool separator = std::find(argv + 1, argv + argc, std::string_view("--")) != argv + argc;
      ConfigReader reread;
      if (trace.has_config_file())
        reread = [argc, argv, separator] { return reread_trace_config(argc, argv, separator); };
      return trace.run(separator, std::move(reread));
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
