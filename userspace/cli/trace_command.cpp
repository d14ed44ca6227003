#include "cli/trace_command.h"

#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cli/preflight.h"
#include "cli/quantity.h"
#include "cli/validators.h"
#include "control/protocol.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/types.h"

namespace leakscope {

struct TraceFlags {
  TraceConfig config;
  std::vector<std::string> pid_specs;
  std::string tick = "1s", interval = "5s", duration;
  int verbose = 0;
  uint32_t max_objects = TraceConfig{}.kernel.sizes.max_objects;
  uint32_t max_stacks = TraceConfig{}.kernel.sizes.max_stacks;
  uint32_t max_traces = TraceConfig{}.kernel.sizes.max_stack_traces;

  std::string window = "60s", alert_pending = "10s", alert_resolve = "10s", alert_repeat = "60s";
  std::vector<std::string> min_rates;
  std::string control = "auto";
  bool no_control = false;
  std::string report_dir, report_every;
  size_t report_keep = 10;
  std::vector<std::string> report_formats;
  std::string weight = "live";
  std::vector<std::string> kinds;
  std::string syscall_probes = "auto";
  std::string probe_placement = "auto";
  std::string uprobe_links = "auto";
  std::string unwind = "cfi";
  bool follow_children = false, no_follow_children = false;
  std::string drill_rate = "256KiB", drill_for = "60s";
  std::vector<std::string> exclude_pid_specs;
  bool js = false;
  std::string js_interval = "32KiB";
  std::string max_memory = "512MiB";
  std::string js_every;
  std::string config_file;
};

namespace {

std::vector<pid_t> parse_pids(std::string_view flag, const std::vector<std::string>& specs) {
  std::vector<pid_t> pids;
  for (const std::string& spec : specs) {
    size_t start = 0;
    for (;;) {
      const size_t comma = spec.find(',', start);
      pids.push_back(parse_pid(flag, spec.substr(start, comma == std::string::npos ? std::string::npos
                                                                                   : comma - start)));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return pids;
}

}  // namespace

TraceCommand::TraceCommand(CLI::App& app)
    : sub_(app.add_subcommand("trace", "Trace processes (-p) or a command (-- CMD ...)")),
      flags_(std::make_unique<TraceFlags>()) {
  TraceFlags& f = *flags_;
  // The config file is CLI11's own: it reads the file after the command line
  // and gives each option the file names only if the command line did not.
  // CLI11 reads it for the top-level app only, so the file's keys sit in a
  // [trace] table (its options are trace's) and trace's --config hands its
  // path to the top level's (hidden) one as it is parsed. A key that is no
  // flag of trace is an error, not ignored.
  CLI::Option* file = app.set_config("--config", "", "Read trace's flags from a TOML file", false);
  file->group("");
  app.allow_config_extras(CLI::config_extras_mode::error);
  sub_->allow_config_extras(CLI::config_extras_mode::error);
  sub_->add_option("--config", f.config_file,
                   "Read flags from this TOML file, in its [trace] table, each key a long flag "
                   "name (all = true, metrics = \"127.0.0.1:9464\", alert = [\"journald\"]); "
                   "flags given here override it")
      ->each([file](const std::string& path) { file->add_result(path); })
      ->trigger_on_parse()
      ->configurable(false);
  sub_->add_option("-p,--pid", f.pid_specs, "PID(s) to trace: -p 4242 or -p 4242,4250 (repeatable)")
      ->allow_extra_args(false);
  sub_->add_option("--interval", f.interval, "How often to print the top stacks")
      ->check(DurationValidator(0.05))->capture_default_str();
  sub_->add_option("--tick", f.tick, "How often to sample the ledger (at most 1m)")
      ->check(DurationValidator(0.05, 60))->capture_default_str();
  sub_->add_option("--duration", f.duration, "Stop after this long (default: until Ctrl-C or the targets exit)")
      ->check(DurationValidator(0.05));
  sub_->add_option("--top", f.config.top, "Stacks shown in tables and the text report")
      ->check(CLI::Range(1, 100000))->capture_default_str();
  sub_->add_option("--json", f.config.json_path, "Also write the final report as JSON to FILE");
  sub_->add_flag("-q,--quiet", f.config.quiet, "No periodic table, only the final report");
  sub_->add_flag("-v,--verbose", f.verbose, "More detail on stderr (-vv: libbpf debug)");
  sub_->add_option("--max-objects", f.max_objects, "Live objects the kernel map can hold")
      ->check(CLI::Range(1024u, 1u << 26))->capture_default_str();
  sub_->add_option("--max-stacks", f.max_stacks, "Ledger rows (process x kind x stack)")
      ->check(CLI::Range(64u, 1u << 22))->capture_default_str();
  sub_->add_option("--max-stack-traces", f.max_traces, "Distinct user stacks kept")
      ->check(CLI::Range(64u, 1u << 20))->capture_default_str();
  sub_->add_option("--btf", f.config.kernel.btf_path, "Kernel BTF file")->capture_default_str();
  sub_->add_option("--window", f.window, "History the leak detector judges each stack on")
      ->check(DurationValidator(1))->capture_default_str()->group("Detector");
  sub_->add_option("--min-rate", f.min_rates,
                    "Growth that can count as a leak: RATE for heap/mmap/brk (bytes/s, e.g. 4KiB) "
                    "or KIND=RATE (timerfd/epoll in objects/s); repeatable")
      ->allow_extra_args(false)
      ->group("Detector");
  sub_->add_option("--alert", f.config.alert_sinks,
                    "Send leak alerts to SINK: stdout, jsonl:FILE, alertmanager:URL, journald, "
                    "exec:COMMAND (repeatable)")
      ->allow_extra_args(false)
      ->group("Alerts");
  sub_->add_option("--alert-pending", f.alert_pending, "A leak verdict must hold this long to fire")
      ->check(DurationValidator(0))->capture_default_str()->group("Alerts");
  sub_->add_option("--alert-resolve", f.alert_resolve, "No leak for this long resolves an alert")
      ->check(DurationValidator(0))->capture_default_str()->group("Alerts");
  sub_->add_option("--alert-repeat", f.alert_repeat, "Re-send a firing alert this often")
      ->check(DurationValidator(1))->capture_default_str()->group("Alerts");
  sub_->add_option("--metrics", f.config.metrics_address,
                    "Serve Prometheus metrics on ADDR:PORT at /metrics")
      ->group("Metrics");
  sub_->add_option("--control", f.control,
                    "Control socket for report/attach/detach/status (default: "
                    "/run/leakscope/leakscope-PID.sock)")
      ->group("Reports");
  sub_->add_flag("--no-control", f.no_control, "Open no control socket")->group("Reports");
  sub_->add_option("--report-dir", f.report_dir,
                   "Write reports here on SIGUSR1 and every --report-every")
      ->group("Reports");
  sub_->add_option("--report-every", f.report_every, "Write a report this often")
      ->check(DurationValidator(1))
      ->group("Reports");
  sub_->add_option("--report-keep", f.report_keep, "Reports kept in --report-dir (oldest pruned)")
      ->check(CLI::Range(size_t{1}, size_t{100000}))
      ->capture_default_str()
      ->group("Reports");
  sub_->add_option("--format", f.report_formats,
                   "Formats of the --report-dir reports: text, json, folded, pprof, html "
                   "(repeatable or comma-separated; default json,text)")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->group("Reports");
  sub_->add_option("--weight", f.weight, "Folded stacks weigh live bytes or growth")
      ->check(CLI::IsMember({"live", "growth"}))
      ->capture_default_str()
      ->group("Reports");
  sub_->add_option("--kinds", f.kinds,
                   "Kinds to trace: heap, mmap, brk, timerfd, epoll, fault, js (comma-separated; default: "
                   "all but fault and js; with --all: fault, and heap for drill-downs)")
      ->delimiter(',')
      ->allow_extra_args(false);
  sub_->add_flag("--js", f.js,
                 "Node.js: also sample the JS heap per JavaScript stack (kind js), through the "
                 "process's inspector, opened on 127.0.0.1 in its network namespace while tracing")
      ->group("Node.js");
  sub_->add_option("--max-memory", f.max_memory,
                   "The tracer's own resident memory is kept under this: near it, symbol caches are "
                   "shed; past it, the report says so (64MiB to 64GiB)")
      ->capture_default_str();
  sub_->add_option("--js-interval", f.js_interval,
                   "Kind js: bytes allocated between V8's heap samples, on average (e.g. 32KiB)")
      ->capture_default_str()
      ->group("Node.js");
  sub_->add_option("--js-every", f.js_every,
                   "Kind js: pull V8's profile this often (default: every --tick); each pull costs "
                   "the process time on its main thread")
      ->check(DurationValidator(0.05, 600))
      ->group("Node.js");
  sub_->add_flag("--drill-js", f.config.drill_js,
                 "--all: Node.js processes drilled into also get their JS heap sampled (opens their "
                 "inspector while the drill-down lasts)")
      ->group("Node.js");
  sub_->add_option("--syscall-probes", f.syscall_probes,
                   "How the syscall kinds are probed: auto (syscall tracepoints, mounting tracefs "
                   "if needed, else raw), or raw (sys_enter/sys_exit, no tracefs)")
      ->check(CLI::IsMember({"auto", "raw"}))
      ->capture_default_str();
  sub_->add_option("command", f.config.command, "Command to start and trace (after --)");
  sub_->add_option("--report-stacks", f.config.report_stacks,
                   "Stacks a report carries, the first of the ranking (only those are symbolized)")
      ->check(CLI::Range(size_t{1}, size_t{10000000}))
      ->capture_default_str()
      ->group("Reports");
  sub_->add_option("--sample", f.config.kernel.sample_every,
                   "Heap: account 1 allocation in N, chosen by a hash of its address (so its "
                   "free is too); reports scale by N and give error bars")
      ->check(CLI::Range(1u, 1u << 20))
      ->capture_default_str();
  sub_->add_option("--fault-stacks", f.config.kernel.fault_stacks_per_sec,
                   "Kind fault: page-fault stacks each process may send a second; faults past "
                   "that still count, under an unknown stack")
      ->check(CLI::Range(0u, 1u << 20))
      ->capture_default_str();
  sub_->add_option("--probe-placement", f.probe_placement,
                   "auto: entry probes on an instruction the kernel emulates where that is safe "
                   "(free after its NULL check); entry: at function entries")
      ->check(CLI::IsMember({"auto", "entry"}))
      ->capture_default_str();
  sub_->add_option("--uprobe-links", f.uprobe_links,
                   "auto: one uprobe_multi link per program and file where the kernel has them "
                   "(Linux 6.10+; detaching takes a fraction of the time), else one link per probe; "
                   "per-probe: one perf-event link per probe")
      ->check(CLI::IsMember({"auto", "per-probe"}))
      ->capture_default_str();
  sub_->add_option("--unwind", f.unwind,
                   "cfi: user stacks walked in the kernel by the modules' call-frame information "
                   "where their unwind tables load, by frame pointer elsewhere; fp: by frame "
                   "pointer only (no unwind tables; a diagnostic)")
      ->check(CLI::IsMember({"cfi", "fp"}))
      ->capture_default_str();
  auto* follow = sub_->add_flag("--follow-children", f.follow_children,
                                "Trace children forked by traced processes from birth (default: "
                                "on for -- CMD and --all, off for -p)")
                     ->group("Processes");
  sub_->add_flag("--no-follow-children", f.no_follow_children, "Trace no children")
      ->excludes(follow)
      ->group("Processes");
  sub_->add_option("--keep-exited", f.config.keep_exited,
                   "Ended processes whose ledgers stay in reports (the most recent)")
      ->check(CLI::Range(size_t{0}, size_t{1000000}))
      ->capture_default_str()
      ->group("Processes");
  sub_->add_flag("--all", f.config.all,
                 "Watch every process of the host cheaply (memory, first-touch page faults); attach "
                 "allocator probes where memory grows")
      ->group("Whole host");
  sub_->add_option("--drill-rate", f.drill_rate,
                   "--all: memory growth (bytes/s, e.g. 256KiB) that puts allocator probes on a process")
      ->capture_default_str()
      ->group("Whole host");
  sub_->add_option("--drill-for", f.drill_for,
                   "--all: how long allocator probes stay on unless a heap leak is confirmed")
      ->check(DurationValidator(1))
      ->capture_default_str()
      ->group("Whole host");
  sub_->add_option("--drill-max", f.config.drill_max, "--all: processes drilled into at once")
      ->check(CLI::Range(size_t{0}, size_t{1024}))
      ->capture_default_str()
      ->group("Whole host");
  sub_->add_option("--comm", f.config.comms,
                   "--all: only processes with this command name (comm; repeatable or comma-separated)")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->group("Whole host");
  sub_->add_option("--cgroup", f.config.cgroup_filter,
                   "--all: only processes in this cgroup or below (path as in /proc/PID/cgroup)")
      ->group("Whole host");
  sub_->add_option("--exclude-pid", f.exclude_pid_specs, "--all: never trace these PIDs (repeatable)")
      ->allow_extra_args(false)
      ->group("Whole host");

  // Flags that mean nothing without another are refused without it, not ignored.
  auto needs = [this](const char* flag, const char* other) { sub_->get_option(flag)->needs(sub_->get_option(other)); };
  for (const char* flag : {"--drill-rate", "--drill-for", "--drill-max"}) needs(flag, "--all");
  for (const char* flag : {"--format", "--report-keep"}) needs(flag, "--report-dir");
  sub_->get_option("--control")->excludes(sub_->get_option("--no-control"));
}

TraceCommand::~TraceCommand() = default;

bool TraceCommand::selected() const { return sub_->parsed(); }

const TraceConfig& TraceCommand::config(bool command_after_separator) {
  TraceFlags& f = *flags_;
    if (f.verbose >= 2)
      set_log_level(LogLevel::Debug);
    else if (f.verbose == 1)
      set_log_level(LogLevel::Verbose);
    if (!f.config.command.empty() && !command_after_separator)
      throw FatalError(ExitCode::Usage, "trace: '" + f.config.command.front() +
                                            "' is not a flag; a command to start goes after --");
    f.config.pids = parse_pids("-p", f.pid_specs);
    if (f.config.pids.empty() && f.config.command.empty() && !f.config.all)
      throw FatalError(ExitCode::Usage, "trace: give -p PID, -- COMMAND or --all (see --help)");
    if (f.config.all && (!f.config.pids.empty() || !f.config.command.empty()))
      throw FatalError(ExitCode::Usage, "trace: --all traces every process; it takes no -p or command");
    if (!f.config.all && (!f.config.comms.empty() || !f.config.cgroup_filter.empty() ||
                          !f.exclude_pid_specs.empty()))
      throw FatalError(ExitCode::Usage, "trace: --comm, --cgroup and --exclude-pid filter --all");
    f.config.follow_children =
        f.follow_children || (!f.no_follow_children && (!f.config.command.empty() || f.config.all));
    f.config.exclude_pids = parse_pids("--exclude-pid", f.exclude_pid_specs);
    {
      auto rate = parse_rate_spec(f.drill_rate);
      if (!rate || rate->kind || rate->per_second <= 0)
        throw FatalError(ExitCode::Usage, "--drill-rate: '" + f.drill_rate + "' is not a rate like 256KiB");
      f.config.drill_rate = rate->per_second;
    }
    f.config.drill_seconds = *parse_duration(f.drill_for);
    if (f.config.all) f.config.kernel.sizes.max_images = 1u << 16;
    f.config.tick_seconds = *parse_duration(f.tick);
    f.config.interval_seconds = *parse_duration(f.interval);
    if (!f.duration.empty()) f.config.duration_seconds = *parse_duration(f.duration);
    f.config.detector.window_seconds = *parse_duration(f.window);
    f.config.detector.min_span_seconds = std::min(f.config.detector.min_span_seconds,
                                                f.config.detector.window_seconds / 2);
    for (const std::string& text : f.min_rates) {
      auto spec = parse_rate_spec(text);
      if (!spec)
        throw FatalError(ExitCode::Usage, "--min-rate: '" + text +
                                              "' is not a rate (like 4KiB, heap=4KiB, timerfd=0.5)");
      auto set = [&](Kind k) { f.config.detector.thresholds_for(k).min_rate = spec->per_second; };
      if (spec->kind) {
        set(*spec->kind);
      } else {
        for (Kind k : {Kind::Heap, Kind::Mmap, Kind::Brk, Kind::Rss, Kind::Fault}) set(k);
      }
    }
    f.config.alerts.pending_seconds = *parse_duration(f.alert_pending);
    f.config.alerts.resolve_seconds = *parse_duration(f.alert_resolve);
    f.config.alerts.repeat_seconds = *parse_duration(f.alert_repeat);
    f.config.kernel.sizes.max_objects = f.max_objects;
    f.config.kernel.sizes.max_stacks = f.max_stacks;
    f.config.kernel.sizes.max_stack_traces = f.max_traces;
    if (!f.no_control) {
      f.config.control_path = f.control == "auto" ? default_control_path(::getpid()) : f.control;
      // The server makes the socket's directory: "x.sock" lives in ".".
      if (f.config.control_path.find('/') == std::string::npos) f.config.control_path.insert(0, "./");
    }
    f.config.report_dir = f.report_dir;
    if (!f.report_every.empty()) f.config.report_every_seconds = *parse_duration(f.report_every);
    if (f.config.report_every_seconds > 0 && f.report_dir.empty())
      throw FatalError(ExitCode::Usage, "--report-every needs --report-dir");
    f.config.report_keep = f.report_keep;
    if (!f.report_formats.empty()) {
      f.config.report_formats.clear();
      for (const std::string& name : f.report_formats) {
        auto format = parse_format(name);
        if (!format)
          throw FatalError(ExitCode::Usage,
                           "--format: '" + name + "' is not one of text, json, folded, pprof, html");
        f.config.report_formats.push_back(*format);
      }
    }
    // Defaults: everything but fault for named processes (their allocator
    // probes see the heap exactly); under --all the cheap always-on kinds
    // (fault; heap only for drill-downs): syscall tracepoints would put
    // every task of the host on the slow syscall path.
    f.config.kernel.kinds_mask =
        f.config.all ? LS_KIND_BIT(LS_KIND_HEAP) | LS_KIND_BIT(LS_KIND_FAULT)
                     : LS_KIND_BIT(LS_KIND_HEAP) | LS_KIND_BIT(LS_KIND_MMAP) | LS_KIND_BIT(LS_KIND_BRK) |
                           LS_KIND_BIT(LS_KIND_TIMERFD) | LS_KIND_BIT(LS_KIND_EPOLL);
    if (!f.kinds.empty()) {
      f.config.kernel.kinds_mask = 0;
      for (const std::string& name : f.kinds) {
        auto kind = parse_kind(name);
        if (!kind)
          throw FatalError(ExitCode::Usage,
                           "--kinds: '" + name + "' is not one of heap, mmap, brk, timerfd, epoll, fault, js");
        f.config.kernel.kinds_mask |= 1u << static_cast<uint32_t>(*kind);
      }
    }
    if (f.js) f.config.kernel.kinds_mask |= LS_KIND_BIT(LS_KIND_JS_USERSPACE);
    f.config.js = (f.config.kernel.kinds_mask & LS_KIND_BIT(LS_KIND_JS_USERSPACE)) != 0;
    if (f.config.all && f.config.js)
      throw FatalError(ExitCode::Usage,
                       "--all: kind js opens an inspector only in processes drilled into: use --drill-js");
    if (f.config.drill_js && !f.config.all) throw FatalError(ExitCode::Usage, "--drill-js goes with --all");
    if (f.config.drill_js) f.config.kernel.kinds_mask |= LS_KIND_BIT(LS_KIND_JS_USERSPACE);
    {
      auto budget = parse_quantity(f.max_memory);
      if (!budget || *budget < (64ull << 20) || *budget > (64ull << 30))
        throw FatalError(ExitCode::Usage,
                         "--max-memory: '" + f.max_memory + "' is not a size from 64MiB to 64GiB (like 512MiB)");
      f.config.max_memory_bytes = static_cast<uint64_t>(*budget);
    }
    {
      auto interval = parse_quantity(f.js_interval);
      if (!interval || *interval < 128 || *interval > (1u << 30))
        throw FatalError(ExitCode::Usage,
                         "--js-interval: '" + f.js_interval + "' is not a size from 128 B to 1 GiB (like 32KiB)");
      f.config.js_sampling_interval = static_cast<uint32_t>(*interval);
    }
    if (!f.js_every.empty()) f.config.js_pull_seconds = *parse_duration(f.js_every);
    f.config.kernel.force_raw_syscalls = f.syscall_probes == "raw";
    f.config.kernel.probes_at_entry = f.probe_placement == "entry";
    f.config.kernel.per_probe_uprobe_links = f.uprobe_links == "per-probe";
    f.config.unwind_cfi = f.unwind == "cfi";
    f.config.folded_weight = f.weight == "growth" ? FoldedWeight::Growth : FoldedWeight::LiveBytes;
    return f.config;
}

bool TraceCommand::has_config_file() const { return !flags_->config_file.empty(); }


}  // namespace leakscope
