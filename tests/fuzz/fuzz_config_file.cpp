// cli/trace_command: a --config file (TOML: trace's flags in a [trace]
// table), read by CLI11's config parser into trace's flags and checked into
// a TraceConfig, as `leakscope trace --config FILE` does at start and on
// SIGHUP. A service's file that a ConfigMap or another admin wrote: any
// input ends in a TraceConfig or in one of the two errors run_app turns
// into a one-line message (CLI::ParseError, FatalError), never in anything
// else.
#include <CLI/CLI.hpp>

#include "cli/trace_command.h"
#include "core/errors.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  leakscope::fuzz::MemFile file(data, size);
  const std::string path = file.path();
  const char* argv[] = {"leakscope", "trace", "--config", path.c_str(), "-p", "1"};
  CLI::App app;
  app.require_subcommand(1);
  leakscope::TraceCommand trace(app);
  try {
    app.parse(static_cast<int>(std::size(argv)), argv);
    (void)trace.config(false);
  } catch (const CLI::ParseError&) {
  } catch (const leakscope::FatalError&) {
  }
  return 0;
}
