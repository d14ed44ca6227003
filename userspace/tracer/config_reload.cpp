#include "tracer/config_reload.h"

#include <algorithm>

namespace leakscope {

namespace {

// One field of TraceConfig: the flag that sets it, whether a running trace
// takes a new value (the parts read it from the session's TraceConfig each
// time they use it), and how to compare and copy it.
struct Field {
  const char* flag;
  bool reloadable;
  bool (*same)(const TraceConfig&, const TraceConfig&);
  void (*copy)(TraceConfig&, const TraceConfig&);
};

template <auto Get>
constexpr Field field(const char* flag, bool reloadable) {
  return Field{flag, reloadable, [](const TraceConfig& a, const TraceConfig& b) { return Get(a) == Get(b); },
               [](TraceConfig& a, const TraceConfig& b) { Get(a) = Get(b); }};
}

bool same_thresholds(const DetectorOptions& a, const DetectorOptions& b) {
  for (Kind k : {Kind::Heap, Kind::Mmap, Kind::Brk, Kind::Timerfd, Kind::Epoll, Kind::Rss, Kind::Fault, Kind::Js})
    if (a.for_kind(k).min_rate != b.for_kind(k).min_rate) return false;
  return true;
}

constexpr bool kApply = true, kRestart = false;

// Every field of TraceConfig. A field added there is added here, reloadable
// only if every part that uses it reads it afresh from the session's config.
const Field kFields[] = {
    field<[](auto& c) -> auto& { return c.pids; }>("--pid", kRestart),
    field<[](auto& c) -> auto& { return c.command; }>("command", kRestart),
    field<[](auto& c) -> auto& { return c.follow_children; }>("--follow-children", kRestart),
    field<[](auto& c) -> auto& { return c.all; }>("--all", kRestart),
    field<[](auto& c) -> auto& { return c.drill_rate; }>("--drill-rate", kApply),
    field<[](auto& c) -> auto& { return c.drill_seconds; }>("--drill-for", kApply),
    field<[](auto& c) -> auto& { return c.drill_max; }>("--drill-max", kApply),
    field<[](auto& c) -> auto& { return c.comms; }>("--comm", kRestart),
    field<[](auto& c) -> auto& { return c.cgroup_filter; }>("--cgroup", kRestart),
    field<[](auto& c) -> auto& { return c.exclude_pids; }>("--exclude-pid", kRestart),
    field<[](auto& c) -> auto& { return c.keep_exited; }>("--keep-exited", kRestart),
    field<[](auto& c) -> auto& { return c.report_stacks; }>("--report-stacks", kApply),
    field<[](auto& c) -> auto& { return c.tick_seconds; }>("--tick", kRestart),
    field<[](auto& c) -> auto& { return c.interval_seconds; }>("--interval", kApply),
    field<[](auto& c) -> auto& { return c.duration_seconds; }>("--duration", kRestart),
    field<[](auto& c) -> auto& { return c.top; }>("--top", kApply),
    field<[](auto& c) -> auto& { return c.quiet; }>("--quiet", kApply),
    field<[](auto& c) -> auto& { return c.json_path; }>("--json", kRestart),
    field<[](auto& c) -> auto& { return c.kernel.sizes.max_objects; }>("--max-objects", kRestart),
    field<[](auto& c) -> auto& { return c.kernel.sizes.max_stacks; }>("--max-stacks", kRestart),
    field<[](auto& c) -> auto& { return c.kernel.sizes.max_stack_traces; }>("--max-stack-traces", kRestart),
    field<[](auto& c) -> auto& { return c.kernel.sizes.max_images; }>("--all", kRestart),  // set by --all
    field<[](auto& c) -> auto& { return c.kernel.sizes.max_threads; }>("max_threads", kRestart),  // no flag sets it
    field<[](auto& c) -> auto& { return c.kernel.sizes.unwind_words; }>("unwind_words", kRestart),  // nor this
    field<[](auto& c) -> auto& { return c.kernel.btf_path; }>("--btf", kRestart),
    field<[](auto& c) -> auto& { return c.kernel.kinds_mask; }>("--kinds", kRestart),
    field<[](auto& c) -> auto& { return c.kernel.tracefs; }>("tracefs", kRestart),  // no flag sets it
    field<[](auto& c) -> auto& { return c.kernel.force_raw_syscalls; }>("--syscall-probes", kRestart),
    field<[](auto& c) -> auto& { return c.kernel.probes_at_entry; }>("--probe-placement", kRestart),
    field<[](auto& c) -> auto& { return c.kernel.per_probe_uprobe_links; }>("--uprobe-links", kRestart),
    field<[](auto& c) -> auto& { return c.kernel.sample_every; }>("--sample", kRestart),
    field<[](auto& c) -> auto& { return c.kernel.fault_stacks_per_sec; }>("--fault-stacks", kRestart),
    field<[](auto& c) -> auto& { return c.detector.window_seconds; }>("--window", kApply),
    field<[](auto& c) -> auto& { return c.detector.min_span_seconds; }>("--window", kApply),  // follows it
    Field{"--min-rate", kApply,
          [](const TraceConfig& a, const TraceConfig& b) { return same_thresholds(a.detector, b.detector); },
          [](TraceConfig& a, const TraceConfig& b) {
            for (Kind k : {Kind::Heap, Kind::Mmap, Kind::Brk, Kind::Timerfd, Kind::Epoll, Kind::Rss, Kind::Fault,
                           Kind::Js})
              a.detector.thresholds_for(k) = b.detector.for_kind(k);
          }},
    field<[](auto& c) -> auto& { return c.alerts.pending_seconds; }>("--alert-pending", kApply),
    field<[](auto& c) -> auto& { return c.alerts.resolve_seconds; }>("--alert-resolve", kApply),
    field<[](auto& c) -> auto& { return c.alerts.repeat_seconds; }>("--alert-repeat", kApply),
    // The sinks' threads and queues live in the Judge's dispatcher, made once.
    field<[](auto& c) -> auto& { return c.alert_sinks; }>("--alert", kRestart),
    field<[](auto& c) -> auto& { return c.metrics_address; }>("--metrics", kRestart),
    field<[](auto& c) -> auto& { return c.control_path; }>("--control", kRestart),
    field<[](auto& c) -> auto& { return c.report_dir; }>("--report-dir", kRestart),
    field<[](auto& c) -> auto& { return c.report_every_seconds; }>("--report-every", kApply),
    field<[](auto& c) -> auto& { return c.report_keep; }>("--report-keep", kApply),
    field<[](auto& c) -> auto& { return c.report_formats; }>("--format", kApply),
    field<[](auto& c) -> auto& { return c.folded_weight; }>("--weight", kApply),
    field<[](auto& c) -> auto& { return c.unwind_cfi; }>("--unwind", kRestart),
    field<[](auto& c) -> auto& { return c.js; }>("--js", kRestart),
    field<[](auto& c) -> auto& { return c.drill_js; }>("--drill-js", kRestart),
    field<[](auto& c) -> auto& { return c.js_sampling_interval; }>("--js-interval", kRestart),
    field<[](auto& c) -> auto& { return c.js_pull_seconds; }>("--js-every", kRestart),
    field<[](auto& c) -> auto& { return c.max_memory_bytes; }>("--max-memory", kApply),
};

void add_once(std::vector<std::string>& names, const char* flag) {
  if (std::find(names.begin(), names.end(), flag) == names.end()) names.emplace_back(flag);
}

}  // namespace

ConfigChanges diff_configs(const TraceConfig& running, const TraceConfig& next) {
  ConfigChanges changes;
  for (const Field& f : kFields)
    if (!f.same(running, next)) add_once(f.reloadable ? changes.applied : changes.needs_restart, f.flag);
  return changes;
}

void apply_reloadable(TraceConfig& running, const TraceConfig& next) {
  for (const Field& f : kFields)
    if (f.reloadable) f.copy(running, next);
}

}  // namespace leakscope
