#include "tracer/tracer.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "alerts/dispatcher.h"
#include "alerts/tracker.h"
#include "collector/collector.h"
#include "collector/object_ages.h"
#include "detector/detector.h"
#include "metrics/metrics.h"
#include "target/cgroup.h"
#include "core/errors.h"
#include "core/log.h"
#include "probes/session.h"
#include "report/json.h"
#include "report/text.h"
#include "symbols/symbolizer.h"
#include "target/proc_maps.h"
#include "timeline/timeline.h"
#include "tracer/command.h"
#include "tracer/output.h"
#include "tracer/target_set.h"

namespace leakscope {

namespace {

// Identity of the executable objects a process maps: when it changes (a
// dlopen, an exec) the allocator plan is worth computing again.
size_t executable_maps_hash(const std::vector<MapEntry>& maps) {
  size_t h = 0;
  for (const MapEntry& m : maps)
    if (m.executable() && m.file_backed())
      h = h * 1000003u ^ std::hash<std::string>{}(m.path) ^ (m.inode << 1);
  return h;
}

class SignalWatch {
 public:
  SignalWatch() {
    sigemptyset(&mask_);
    for (int s : {SIGINT, SIGTERM, SIGCHLD, SIGHUP}) sigaddset(&mask_, s);
    ::sigprocmask(SIG_BLOCK, &mask_, &original_);
    fd_ = ::signalfd(-1, &mask_, SFD_CLOEXEC | SFD_NONBLOCK);
  }
  ~SignalWatch() {
    if (fd_ >= 0) ::close(fd_);
    ::sigprocmask(SIG_SETMASK, &original_, nullptr);
  }
  const sigset_t& original() const { return original_; }

  // Waits up to `seconds`; returns the signals that arrived.
  std::vector<int> wait(double seconds) {
    std::vector<int> got;
    pollfd p{fd_, POLLIN, 0};
    int ms = seconds <= 0 ? 0 : static_cast<int>(seconds * 1000 + 0.5);
    if (::poll(&p, 1, ms) > 0) {
      signalfd_siginfo info;
      while (::read(fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info))
        got.push_back(static_cast<int>(info.ssi_signo));
    }
    return got;
  }

 private:
  sigset_t mask_{}, original_{};
  int fd_ = -1;
};

class Tracer {
 public:
  explicit Tracer(const TraceConfig& config)
      : config_(config),
        session_(Session::open(config.session)),
        collector_(session_->ledger_fd(), session_->stacks_fd()),
        alerts_(config.alerts),
        host_(host_name()),
        start_(std::chrono::steady_clock::now()) {
    std::vector<std::unique_ptr<Sink>> sinks;
    for (const std::string& spec : config.alert_sinks) sinks.push_back(make_sink(spec));
    if (!sinks.empty()) dispatcher_ = std::make_unique<Dispatcher>(std::move(sinks));
    if (!config.metrics_address.empty())
      metrics_ = std::make_unique<MetricsServer>(config.metrics_address);
  }

  int run();

 private:
  double now() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  void attach_pid(pid_t pid);
  void start_command();
  void tick(double t);
  void refresh(pid_t pid, TracedProcess& proc, double t);
  void replan(pid_t pid, TracedProcess& proc, double t, bool quiet_failure);
  const std::vector<Frame>& frames_for(pid_t pid, int32_t stack_id);
  Report build_report(double t, bool final);
  bool all_exited() const;
  void judge(double t);
  void publish_metrics(double tick_seconds);
  AlertSubject subject_for(const LedgerRow& row, const Assessment& a);

  const TraceConfig& config_;
  SignalWatch signals_;
  std::unique_ptr<Session> session_;
  Collector collector_;
  Symbolizer symbolizer_;
  Timeline timeline_;
  TargetSet targets_;
  std::optional<ChildCommand> child_;
  std::map<std::pair<pid_t, int32_t>, std::vector<Frame>> frames_;
  std::vector<LedgerRow> rows_;
  std::map<SeriesKey, Assessment> assessments_;
  AlertTracker alerts_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<MetricsServer> metrics_;
  std::string host_;
  std::chrono::steady_clock::time_point start_;
  double last_tick_ = 0;
  uint64_t ticks_ = 0;
};

SeriesKey key_of(const LedgerRow& row) {
  return SeriesKey{row.pid, static_cast<uint32_t>(row.kind), row.stack_id, row.fn};
}

void Tracer::attach_pid(pid_t pid) {
  ProcessInfo info = inspect_process(pid);
  auto maps = read_maps(pid);
  if (!maps) throw FatalError(ExitCode::NoSuchProcess, "PID " + std::to_string(pid) + " exited before it could be traced");
  AllocatorPlan plan = plan_allocator(pid, *maps);
  symbolizer_.observe(pid);
  AttachResult res = session_->attach(pid, plan);
  for (const auto& s : res.skipped) log_verbose("PID " + std::to_string(pid) + ": not probed: " + s);
  log_verbose("PID " + std::to_string(pid) + " (" + info.comm + "): " + std::to_string(res.probes) +
              " probes on " + plan.allocator_module);
  TracedProcess proc;
  proc.info = std::move(info);
  proc.allocator_module = plan.allocator_module;
  proc.cgroup = process_cgroup(pid);
  proc.container_id = container_id_from_cgroup(proc.cgroup);
  proc.maps_hash = executable_maps_hash(*maps);
  proc.attached_at = now();
  targets_[pid] = std::move(proc);
}

void Tracer::start_command() {
  // Probes go on the allocator we map ourselves; uprobes follow the child
  // across exec, and the plan is computed again from its own maps later.
  auto own = read_maps(::getpid());
  AllocatorPlan plan = plan_allocator(::getpid(), own.value_or(std::vector<MapEntry>{}));
  child_.emplace(ChildCommand::spawn_suspended(config_.command, signals_.original()));
  pid_t pid = child_->pid();
  AttachResult res = session_->attach(pid, plan);
  log_verbose("command PID " + std::to_string(pid) + ": " + std::to_string(res.probes) +
              " probes on " + plan.allocator_module);
  TracedProcess proc;
  proc.info.pid = pid;
  proc.info.comm = config_.command.front();
  proc.info.cmdline = config_.command;
  proc.allocator_module = plan.allocator_module;
  proc.attached_at = now();
  proc.is_child = true;
  targets_[pid] = std::move(proc);
  child_->release();
  TracedProcess& started = targets_[pid];
  if (auto info = process_start_time(pid)) started.info.start_time_ticks = *info;
  started.cgroup = process_cgroup(pid);
  started.container_id = container_id_from_cgroup(started.cgroup);
}

void Tracer::replan(pid_t pid, TracedProcess& proc, double t, bool quiet_failure) {
  auto maps = read_maps(pid);
  if (!maps) return;
  size_t h = executable_maps_hash(*maps);
  if (h == proc.maps_hash) return;
  try {
    AllocatorPlan plan = plan_allocator(pid, *maps);
    AttachResult res = session_->attach(pid, plan);
    proc.maps_hash = h;
    proc.allocator_module = plan.allocator_module;
    if (res.probes)
      log_verbose("PID " + std::to_string(pid) + ": " + std::to_string(res.probes) +
                  " more probes (new objects mapped)");
  } catch (const FatalError& e) {
    // A freshly exec'd command may not have mapped its allocator yet.
    if (!quiet_failure && !proc.warned_no_allocator && t - proc.attached_at > 2) {
      log_warn(e.what());
      proc.warned_no_allocator = true;
    }
  }
}

void Tracer::refresh(pid_t pid, TracedProcess& proc, double t) {
  bool alive;
  if (proc.is_child) {
    alive = !child_->poll_exit().has_value();
  } else {
    alive = process_alive(pid, proc.info.start_time_ticks);
  }
  if (!alive) {
    proc.exited_at = t;
    session_->detach(pid);
    log_info("PID " + std::to_string(pid) + " (" + proc.info.comm + ") exited; its ledger is kept");
    return;
  }
  symbolizer_.observe(pid);
  if (proc.is_child && proc.info.comm == config_.command.front()) {
    if (auto comm = process_comm(pid)) proc.info.comm = *comm;
  }
  replan(pid, proc, t, false);
}

const std::vector<Frame>& Tracer::frames_for(pid_t pid, int32_t stack_id) {
  auto key = std::make_pair(pid, stack_id);
  auto it = frames_.find(key);
  if (it != frames_.end()) return it->second;
  std::vector<uint64_t> ips = collector_.read_stack(stack_id);
  return frames_[key] = symbolizer_.resolve_stack(pid, ips);
}

void Tracer::tick(double t) {
  for (auto& [pid, proc] : targets_)
    if (!proc.exited()) refresh(pid, proc, t);

  auto rows = collector_.read_ledger();
  if (!rows) {
    log_warn("cannot read the ledger this tick");
    return;
  }
  for (const LedgerRow& row : *rows) {
    auto it = targets_.find(row.pid);
    if (it == targets_.end()) continue;
    const TracedProcess& proc = it->second;
    // An exited process's rows are final; record them once more only on the
    // tick that noticed the exit.
    if (proc.exited() && proc.exited_at != t) continue;
    timeline_.record(key_of(row), Sample{t, row.value.live_bytes, row.value.live_objects},
                     std::max(last_tick_, proc.attached_at));
    if (row.value.live_objects > 0) frames_for(row.pid, row.stack_id);
  }
  rows_ = std::move(*rows);
  last_tick_ = t;
  ++ticks_;
  judge(t);
}

AlertSubject Tracer::subject_for(const LedgerRow& row, const Assessment& a) {
  const TracedProcess& proc = targets_.at(row.pid);
  AlertSubject s;
  s.host = host_;
  s.pid = row.pid;
  s.comm = proc.info.comm;
  s.cmdline = proc.info.cmdline;
  s.cgroup = proc.cgroup;
  s.container_id = proc.container_id;
  s.kind = row.kind;
  s.frames = frames_for(row.pid, row.stack_id);
  s.rate = a.evidence.rate;
  s.rate_unit = std::string(a.evidence.unit);
  s.live_bytes = row.value.live_bytes;
  s.live_objects = row.value.live_objects;
  s.confidence = a.confidence;
  s.is_leak = a.verdict == Verdict::Leak;
  return s;
}

// Runs the detector over every live series, then the alert state machine.
void Tracer::judge(double t) {
  std::vector<AlertSubject> suspects;
  for (const LedgerRow& row : rows_) {
    auto it = targets_.find(row.pid);
    if (it == targets_.end()) continue;
    bool fresh = !it->second.exited() || it->second.exited_at == t;
    if (!fresh) continue;  // an exited process keeps its last verdict
    const Series* series = timeline_.find(key_of(row));
    if (!series) continue;
    Assessment a = assess(*series, row.kind, config_.detector);
    assessments_[key_of(row)] = a;
    if (a.verdict == Verdict::Leak && !it->second.exited()) suspects.push_back(subject_for(row, a));
  }
  auto records = alerts_.update(suspects, std::chrono::system_clock::now());
  if (dispatcher_)
    for (const AlertRecord& r : records) dispatcher_->submit(r);
}

void Tracer::publish_metrics(double tick_seconds) {
  if (!metrics_) return;
  MetricsSnapshot m;
  m.version = LEAKSCOPE_VERSION;
  std::map<std::pair<pid_t, Kind>, ProcessKindMetrics> per;
  for (const LedgerRow& row : rows_) {
    auto it = targets_.find(row.pid);
    if (it == targets_.end()) continue;
    ProcessKindMetrics& p = per[{row.pid, row.kind}];
    p.pid = row.pid;
    p.comm = it->second.info.comm;
    p.kind = std::string(kind_name(row.kind));
    p.live_bytes += row.value.live_bytes;
    p.live_objects += row.value.live_objects;
    if (const Series* s = timeline_.find(key_of(row))) {
      p.growth_bytes_per_second += s->bytes_per_second();
      p.growth_objects_per_second += s->objects_per_second();
    }
    auto a = assessments_.find(key_of(row));
    if (a != assessments_.end() && a->second.verdict == Verdict::Leak) ++p.suspected_leaks;
  }
  for (auto& [key, p] : per) m.processes.push_back(std::move(p));
  m.ticks = ticks_;
  m.last_tick_seconds = tick_seconds;
  int64_t live = 0;
  for (const LedgerRow& row : rows_) live += row.value.live_objects;
  m.objects_map_fill = double(live) / double(session_->sizes().max_objects);
  m.ledger_map_fill = double(rows_.size()) / double(session_->sizes().max_stacks);
  Counters c = session_->counters();
  m.dropped_objects = c[LS_CNT_OBJ_MAP_FULL];
  m.dropped_ledger = c[LS_CNT_LEDGER_FULL];
  m.stack_misses = c[LS_CNT_STACK_MISS];
  m.missed_calls = c[LS_CNT_INFLIGHT_FULL];
  m.symbol_cache_modules = symbolizer_.stats().modules_cached;
  m.alerts_firing = alerts_.firing();
  if (dispatcher_) {
    for (const SinkHealth& h : dispatcher_->health()) {
      SinkMetrics sm;
      sm.sink = h.name.substr(0, h.name.find(':'));
      sm.delivered = h.delivered;
      sm.failures = h.failures;
      sm.dropped = h.dropped;
      sm.queued = h.queued;
      m.sinks.push_back(std::move(sm));
    }
  }
  metrics_->publish(std::move(m));
}

Report Tracer::build_report(double t, bool final) {
  Report r;
  r.tool_version = LEAKSCOPE_VERSION;
  r.host = host_name();
  r.generated_at = now_rfc3339();
  r.elapsed_seconds = t;
  r.final = final;

  std::set<pid_t> pids;
  for (const auto& [pid, proc] : targets_) pids.insert(pid);
  auto ages = read_object_ages(session_->objects_fd(), pids, monotonic_now_ns());
  r.window_seconds = config_.detector.window_seconds;
  r.alerts_firing = alerts_.firing();
  if (dispatcher_)
    for (const SinkHealth& h : dispatcher_->health())
      r.sinks.push_back(SinkStatus{h.name, h.delivered, h.failures, h.dropped, h.last_error});

  std::map<pid_t, ProcessEntry> procs;
  for (const auto& [pid, proc] : targets_) {
    ProcessEntry& p = procs[pid];
    p.pid = pid;
    p.comm = proc.info.comm;
    p.cmdline = proc.info.cmdline;
    p.allocator_module = proc.allocator_module;
    p.cgroup = proc.cgroup;
    p.container_id = proc.container_id;
    p.exited = proc.exited();
    p.traced_seconds = (proc.exited() ? proc.exited_at : t) - proc.attached_at;
  }
  for (const LedgerRow& row : rows_) {
    auto it = targets_.find(row.pid);
    if (it == targets_.end()) continue;
    SeriesKey key = key_of(row);
    const Series* series = timeline_.find(key);
    StackEntry s;
    s.pid = row.pid;
    s.comm = it->second.info.comm;
    s.kind = row.kind;
    s.allocator = std::string(alloc_fn_name(row.fn));
    s.stack_id = row.stack_id;
    s.live_bytes = row.value.live_bytes;
    s.live_objects = row.value.live_objects;
    s.allocs = row.value.allocs;
    s.frees = row.value.frees;
    s.bytes_allocated = row.value.bytes_allocated;
    s.growth_bytes_per_sec = series ? series->bytes_per_second() : 0;
    s.growth_objects_per_sec = series ? series->objects_per_second() : 0;
    if (auto a = assessments_.find(key); a != assessments_.end()) s.assessment = a->second;
    if (auto age = ages.find(key); age != ages.end()) {
      s.oldest_age_seconds = age->second.oldest_seconds;
      s.median_age_seconds = age->second.median_seconds;
    }
    ProcessEntry& p = procs[row.pid];
    p.live_bytes += s.live_bytes;
    p.live_objects += s.live_objects;
    if (s.live_objects <= 0 && s.growth_bytes_per_sec <= 0) continue;
    s.frames = frames_for(row.pid, row.stack_id);
    for (const Frame& f : s.frames) {
      ++r.health.total_frames;
      if (f.function.empty()) ++r.health.unknown_frames;
    }
    r.stacks.push_back(std::move(s));
  }
  rank_stacks(r.stacks);
  for (auto& [pid, p] : procs) r.processes.push_back(std::move(p));

  Counters c = session_->counters();
  Health& h = r.health;
  h.allocs = c[LS_CNT_ALLOCS];
  h.frees = c[LS_CNT_FREES];
  h.frees_unknown = c[LS_CNT_FREES_UNKNOWN];
  h.dropped_objects = c[LS_CNT_OBJ_MAP_FULL];
  h.dropped_ledger = c[LS_CNT_LEDGER_FULL];
  h.stack_misses = c[LS_CNT_STACK_MISS];
  h.inflight_drops = c[LS_CNT_INFLIGHT_FULL];
  h.stale_replaced = c[LS_CNT_STALE_REPLACED];
  h.objects_capacity = session_->sizes().max_objects;
  h.ledger_rows = static_cast<uint32_t>(rows_.size());
  h.ledger_capacity = session_->sizes().max_stacks;
  return r;
}

bool Tracer::all_exited() const {
  for (const auto& [pid, proc] : targets_)
    if (!proc.exited()) return false;
  return true;
}

int Tracer::run() {
  for (pid_t pid : config_.pids) attach_pid(pid);
  if (!config_.command.empty()) start_command();

  std::ostringstream who;
  for (const auto& [pid, proc] : targets_) who << " " << pid << " (" << proc.info.comm << ")";
  log_info("tracing " + std::to_string(targets_.size()) + " process(es):" + who.str() + ", " +
           std::to_string(session_->probes_attached()) + " probes; Ctrl-C for the final report");

  double next_tick = config_.tick_seconds;
  double next_table = config_.interval_seconds;
  bool stop = false;
  while (!stop) {
    for (int sig : signals_.wait(next_tick - now())) {
      if (sig != SIGCHLD) {
        log_info(std::string("stopping on ") + sigabbrev_np(sig) + "");
        stop = true;
      }
    }
    double t = now();
    tick(t);
    publish_metrics(now() - t);
    while (next_tick <= t) next_tick += config_.tick_seconds;
    if (all_exited()) {
      log_info("every traced process has exited");
      stop = true;
    }
    if (config_.duration_seconds > 0 && t >= config_.duration_seconds) stop = true;
    if (!stop && t >= next_table) {
      while (next_table <= t) next_table += config_.interval_seconds;
      if (!config_.quiet) {
        std::string table = render_table(build_report(t, false), config_.top);
        std::fwrite(table.data(), 1, table.size(), stdout);
        std::fflush(stdout);
      }
    }
  }

  if (dispatcher_) {
    for (const AlertRecord& r : alerts_.resolve_all(std::chrono::system_clock::now()))
      dispatcher_->submit(r);
    dispatcher_->drain(3);
  }
  Report final_report = build_report(now(), true);
  std::string text = render_text(final_report, config_.top);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
  if (!config_.json_path.empty()) write_file_atomic(config_.json_path, render_json(final_report));
  return 0;
}

}  // namespace

int run_trace(const TraceConfig& config) {
  Tracer tracer(config);
  return tracer.run();
}

}  // namespace leakscope
