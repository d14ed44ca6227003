#include "cli/app.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <algorithm>
#include <exception>
#include <string>
#include <vector>

#include "cli/duration.h"
#include "cli/quantity.h"
#include "core/errors.h"
#include "core/log.h"
#include "tracer/tracer.h"

namespace leakscope {

namespace {

// CLI11 validator for durations.
struct DurationValidator : CLI::Validator {
  explicit DurationValidator(double min_seconds) {
    name_ = "DURATION";
    func_ = [min_seconds](const std::string& s) -> std::string {
      auto d = parse_duration(s);
      if (!d) return "'" + s + "' is not a duration (like 500ms, 5s, 2m, 1h)";
      if (*d < min_seconds) return "'" + s + "' is too short";
      return {};
    };
  }
};

std::vector<pid_t> parse_pids(const std::vector<std::string>& specs) {
  std::vector<pid_t> pids;
  for (const std::string& spec : specs) {
    size_t start = 0;
    while (start <= spec.size()) {
      size_t comma = spec.find(',', start);
      std::string item = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      char* end = nullptr;
      long v = std::strtol(item.c_str(), &end, 10);
      if (item.empty() || *end != '\0' || v <= 0 || v > 0x3fffffff)
        throw FatalError(ExitCode::Usage, "-p: '" + item + "' is not a PID");
      pids.push_back(static_cast<pid_t>(v));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return pids;
}

}  // namespace

int run_app(int argc, char** argv) {
  CLI::App app{"leakscope: find the call stacks whose memory keeps growing, in running processes"};
  app.set_version_flag("--version", std::string("leakscope ") + LEAKSCOPE_VERSION);
  app.require_subcommand(1);

  TraceConfig config;
  std::vector<std::string> pid_specs;
  std::string tick = "1s", interval = "5s", duration;
  int verbose = 0;
  uint32_t max_objects = config.session.sizes.max_objects;
  uint32_t max_stacks = config.session.sizes.max_stacks;
  uint32_t max_traces = config.session.sizes.max_stack_traces;

  CLI::App* trace = app.add_subcommand("trace", "Trace processes (-p) or a command (-- CMD ...)");
  trace->add_option("-p,--pid", pid_specs, "PID(s) to trace: -p 4242 or -p 4242,4250 (repeatable)");
  trace->add_option("--interval", interval, "How often to print the top stacks")
      ->check(DurationValidator(0.05))->capture_default_str();
  trace->add_option("--tick", tick, "How often to sample the ledger")
      ->check(DurationValidator(0.05))->capture_default_str();
  trace->add_option("--duration", duration, "Stop after this long (default: until Ctrl-C or the targets exit)")
      ->check(DurationValidator(0.05));
  trace->add_option("--top", config.top, "Stacks shown in tables and the text report")
      ->check(CLI::Range(1, 100000))->capture_default_str();
  trace->add_option("--json", config.json_path, "Also write the final report as JSON to FILE");
  trace->add_flag("-q,--quiet", config.quiet, "No periodic table, only the final report");
  trace->add_flag("-v,--verbose", verbose, "More detail on stderr (-vv: libbpf debug)");
  trace->add_option("--max-objects", max_objects, "Live objects the kernel map can hold")
      ->check(CLI::Range(1024u, 1u << 26))->capture_default_str();
  trace->add_option("--max-stacks", max_stacks, "Ledger rows (process x kind x stack)")
      ->check(CLI::Range(64u, 1u << 22))->capture_default_str();
  trace->add_option("--max-stack-traces", max_traces, "Distinct user stacks kept")
      ->check(CLI::Range(64u, 1u << 20))->capture_default_str();
  trace->add_option("--btf", config.session.btf_path, "Kernel BTF file")->capture_default_str();
  std::string window = "60s", alert_pending = "10s", alert_resolve = "10s", alert_repeat = "60s";
  std::vector<std::string> min_rates;
  trace->add_option("--window", window, "History the leak detector judges each stack on")
      ->check(DurationValidator(1))->capture_default_str()->group("Detector");
  trace->add_option("--min-rate", min_rates,
                    "Growth that can count as a leak: RATE for heap/mmap/brk (bytes/s, e.g. 4KiB) "
                    "or KIND=RATE (timerfd/epoll in objects/s); repeatable")
      ->group("Detector");
  trace->add_option("--alert", config.alert_sinks,
                    "Send leak alerts to SINK: stdout, jsonl:FILE, alertmanager:URL, journald, "
                    "exec:COMMAND (repeatable)")
      ->group("Alerts");
  trace->add_option("--alert-pending", alert_pending, "A leak verdict must hold this long to fire")
      ->check(DurationValidator(0))->capture_default_str()->group("Alerts");
  trace->add_option("--alert-resolve", alert_resolve, "No leak for this long resolves an alert")
      ->check(DurationValidator(0))->capture_default_str()->group("Alerts");
  trace->add_option("--alert-repeat", alert_repeat, "Re-send a firing alert this often")
      ->check(DurationValidator(1))->capture_default_str()->group("Alerts");
  trace->add_option("--metrics", config.metrics_address,
                    "Serve Prometheus metrics on ADDR:PORT at /metrics")
      ->group("Metrics");
  trace->add_option("command", config.command, "Command to start and trace (after --)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : static_cast<int>(ExitCode::Usage);
  }

  try {
    if (verbose >= 2)
      set_log_level(LogLevel::Debug);
    else if (verbose == 1)
      set_log_level(LogLevel::Verbose);
    config.pids = parse_pids(pid_specs);
    if (config.pids.empty() && config.command.empty())
      throw FatalError(ExitCode::Usage, "trace: give -p PID or -- COMMAND (see --help)");
    config.tick_seconds = *parse_duration(tick);
    config.interval_seconds = *parse_duration(interval);
    if (!duration.empty()) config.duration_seconds = *parse_duration(duration);
    config.detector.window_seconds = *parse_duration(window);
    config.detector.min_span_seconds = std::min(config.detector.min_span_seconds,
                                                config.detector.window_seconds / 2);
    for (const std::string& text : min_rates) {
      auto spec = parse_rate_spec(text);
      if (!spec)
        throw FatalError(ExitCode::Usage, "--min-rate: '" + text +
                                              "' is not a rate (like 4KiB, heap=4KiB, timerfd=0.5)");
      auto set = [&](Kind k) { config.detector.thresholds_for(k).min_rate = spec->per_second; };
      if (spec->kind) {
        set(*spec->kind);
      } else {
        for (Kind k : {Kind::Heap, Kind::Mmap, Kind::Brk}) set(k);
      }
    }
    config.alerts.pending_seconds = *parse_duration(alert_pending);
    config.alerts.resolve_seconds = *parse_duration(alert_resolve);
    config.alerts.repeat_seconds = *parse_duration(alert_repeat);
    config.session.sizes.max_objects = max_objects;
    config.session.sizes.max_stacks = max_stacks;
    config.session.sizes.max_stack_traces = max_traces;
    return run_trace(config);
  } catch (const FatalError& e) {
    log_error(e.what());
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    log_error(std::string("internal error: ") + e.what());
    return static_cast<int>(ExitCode::Failure);
  }
}

}  // namespace leakscope
