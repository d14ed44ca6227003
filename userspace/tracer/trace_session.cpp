#include "tracer/trace_session.h"

#include <unistd.h>

#include <signal.h>

#include <cstdio>
#include <functional>
#include <set>
#include <sstream>

#include "core/errors.h"
#include "core/log.h"
#include "report/json.h"
#include "report/text.h"
#include "target/cgroup.h"
#include "target/proc_maps.h"
#include "tracer/output.h"

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

}  // namespace

SeriesKey key_of(const LedgerRow& row) {
  return SeriesKey{row.pid, static_cast<uint32_t>(row.kind), row.stack_id, row.fn};
}

TraceSession::TraceSession(const TraceConfig& config)
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
  if (!config.report_dir.empty())
    report_dir_ = std::make_unique<ReportDir>(config.report_dir, config.report_keep);
  if (!config.control_path.empty()) control_ = std::make_unique<ControlServer>(config.control_path);
}

void TraceSession::attach_pid(pid_t pid) {
  ProcessInfo info = inspect_process(pid);
  auto maps = read_maps(pid);
  if (!maps) throw FatalError(ExitCode::NoSuchProcess, "PID " + std::to_string(pid) + " exited before it could be traced");
  AllocatorPlan plan;
  if (session_->heap_enabled()) plan = plan_allocator(pid, *maps);
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

void TraceSession::start_command() {
  // Probes go on the allocator we map ourselves; uprobes follow the child
  // across exec, and the plan is computed again from its own maps later.
  auto own = read_maps(::getpid());
  AllocatorPlan plan;
  if (session_->heap_enabled())
    plan = plan_allocator(::getpid(), own.value_or(std::vector<MapEntry>{}));
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

void TraceSession::replan(pid_t pid, TracedProcess& proc, double t, bool quiet_failure) {
  if (!session_->heap_enabled()) return;  // only allocator probes need a plan
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

void TraceSession::refresh(pid_t pid, TracedProcess& proc, double t) {
  bool alive;
  if (proc.is_child) {
    alive = !child_->poll_exit().has_value();
  } else {
    alive = process_alive(pid, proc.info.start_time_ticks);
  }
  if (!alive) {
    proc.exited_at = t;
    session_->detach(pid);
    resources_.process_exited(pid);  // exit unmaps and closes everything
    log_info("PID " + std::to_string(pid) + " (" + proc.info.comm + ") exited; its ledger is kept");
    return;
  }
  symbolizer_.observe(pid);
  if (proc.is_child && proc.info.comm == config_.command.front()) {
    if (auto comm = process_comm(pid)) proc.info.comm = *comm;
  }
  replan(pid, proc, t, false);
}

const std::vector<Frame>& TraceSession::frames_for(pid_t pid, int32_t stack_id) {
  auto key = std::make_pair(pid, stack_id);
  auto it = frames_.find(key);
  if (it != frames_.end()) return it->second;
  std::vector<uint64_t> ips;
  if (stack_id >= kSyscallStackBase) {
    size_t i = static_cast<size_t>(stack_id - kSyscallStackBase);
    if (i < syscall_stacks_.size()) ips = syscall_stacks_[i];
  } else {
    ips = collector_.read_stack(stack_id);
  }
  return frames_[key] = symbolizer_.resolve_stack(pid, ips);
}

// The stack of a syscall event, leak site first: the wrapper's frame is
// replaced by the return address into its caller, the first word near the
// top of the user stack that points into code (see ls_sys_event).
int32_t TraceSession::syscall_stack_id(pid_t pid, const ls_sys_event& e) {
  if (e.nframes == 0) return LS_STACK_UNKNOWN;
  std::vector<uint64_t> stack;
  for (uint64_t word : e.stack_top) {
    if (symbolizer_.is_code(pid, word)) {
      stack.push_back(word);
      break;
    }
  }
  for (uint32_t i = 1; i < e.nframes && i < LS_MAX_STACK_DEPTH; ++i) stack.push_back(e.frames[i]);
  if (stack.empty()) stack.push_back(e.frames[0]);
  auto it = syscall_stack_ids_.find(stack);
  if (it != syscall_stack_ids_.end()) return it->second;
  if (syscall_stacks_.size() >= session_->sizes().max_stack_traces) return LS_STACK_UNKNOWN;
  int32_t id = kSyscallStackBase + static_cast<int32_t>(syscall_stacks_.size());
  syscall_stacks_.push_back(stack);
  syscall_stack_ids_.emplace(std::move(stack), id);
  return id;
}

void TraceSession::apply_syscall_events() {
  std::set<pid_t> observed;
  session_->drain_events([this, &observed](const ls_sys_event& e) {
    pid_t pid = static_cast<pid_t>(e.tgid);
    auto it = targets_.find(pid);
    if (it == targets_.end() || it->second.exited()) return;
    // Stacks are read against the view of the process's maps taken at the
    // last tick, which is the image that made the calls, even when it has
    // exec'd since; an exec event switches the view to the new image.
    if (!symbolizer_.knows(pid) && observed.insert(pid).second) symbolizer_.observe(pid);
    SysEvent ev;
    ev.op = e.op;
    ev.pid = pid;
    ev.ts_ns = e.ts_ns;
    ev.ret = e.ret;
    for (int i = 0; i < 5; ++i) ev.args[i] = e.args[i];
    ev.stack_id = syscall_stack_id(pid, e);
    if (log_level() >= LogLevel::Debug) {
      std::ostringstream msg;
      msg << "event op " << e.op << " pid " << pid << " ret " << e.ret << " a0 " << e.args[0]
          << " stack " << ev.stack_id << std::hex;
      if (ev.stack_id >= kSyscallStackBase)
        for (uint64_t ip : syscall_stacks_[static_cast<size_t>(ev.stack_id - kSyscallStackBase)])
          msg << " 0x" << ip;
      log_debug(msg.str());
    }
    resources_.apply(ev);
    if (ev.stack_id != LS_STACK_UNKNOWN) frames_for(pid, ev.stack_id);  // symbolized now
    if (e.op == LS_SYS_EXEC) symbolizer_.observe(pid);
  });
}

std::vector<LedgerRow> TraceSession::resource_rows() const {
  std::vector<LedgerRow> rows;
  for (const ResourceRow& r : resources_.rows()) {
    LedgerRow row;
    row.pid = r.pid;
    row.kind = r.kind;
    row.stack_id = r.stack_id;
    row.fn = r.sub;
    row.value.live_bytes = r.live_bytes;
    row.value.live_objects = r.live_objects;
    row.value.allocs = r.allocs;
    row.value.frees = r.frees;
    row.value.bytes_allocated = r.bytes_allocated;
    row.value.first_ns = r.first_ns;
    row.armed = r.armed;
    rows.push_back(row);
  }
  return rows;
}

void TraceSession::tick(double t) {
  apply_syscall_events();
  for (auto& [pid, proc] : targets_)
    if (!proc.exited()) refresh(pid, proc, t);

  auto rows = collector_.read_ledger();
  if (!rows) {
    log_warn("cannot read the ledger this tick");
    return;
  }
  for (LedgerRow& row : resource_rows()) rows->push_back(row);
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

// Stops when every target has exited; a target detached on request means
// an operator is steering, so the tracer waits for more attaches.
bool TraceSession::should_stop_for_targets() const {
  for (const auto& [pid, proc] : targets_)
    if (!proc.exited() || proc.detached) return false;
  return !targets_.empty();
}

void TraceSession::detach_pid(pid_t pid, double t) {
  auto it = targets_.find(pid);
  if (it == targets_.end() || it->second.exited())
    throw FatalError(ExitCode::NoSuchProcess, "PID " + std::to_string(pid) + " is not being traced");
  session_->detach(pid);
  it->second.exited_at = t;
  it->second.detached = true;
  log_info("PID " + std::to_string(pid) + " (" + it->second.info.comm + ") detached; its ledger is kept");
}

int TraceSession::run() {
  for (pid_t pid : config_.pids) attach_pid(pid);
  if (!config_.command.empty()) start_command();

  std::ostringstream who;
  for (const auto& [pid, proc] : targets_) who << " " << pid << " (" << proc.info.comm << ")";
  log_info("tracing " + std::to_string(targets_.size()) + " process(es):" + who.str() + ", " +
           std::to_string(session_->probes_attached()) + " probes; Ctrl-C for the final report");

  if (control_) log_verbose("control socket: " + control_->path());
  double next_tick = config_.tick_seconds;
  double next_table = config_.interval_seconds;
  double next_report = config_.report_every_seconds > 0 ? config_.report_every_seconds : -1;
  bool stop = false;
  while (!stop) {
    auto events = signals_.wait(next_tick - now(), control_ ? control_->fd() : -1);
    bool report_now = false;
    for (int sig : events.signals) {
      if (sig == SIGUSR1) {
        report_now = true;
      } else if (sig != SIGCHLD) {
        log_info(std::string("stopping on ") + sigabbrev_np(sig));
        stop = true;
      }
    }
    double t = now();
    if (events.extra_ready) {
      // A request between ticks: answer it against the latest tick.
      control_->serve_one([this](const nlohmann::json& req) { return handle_control(req); });
      if (t < next_tick && !report_now && !stop) continue;
    }
    tick(t);
    publish_metrics(now() - t);
    while (next_tick <= t) next_tick += config_.tick_seconds;
    if (should_stop_for_targets()) {
      log_info("every traced process has exited");
      stop = true;
    }
    if (config_.duration_seconds > 0 && t >= config_.duration_seconds) stop = true;
    if (next_report > 0 && t >= next_report) {
      while (next_report <= t) next_report += config_.report_every_seconds;
      report_now = true;
    }
    if (report_now) write_report_files("on request");
    if (!stop && t >= next_table) {
      while (next_table <= t) next_table += config_.interval_seconds;
      if (!config_.quiet) {
        std::string table = render_table(build_report(t, false, false), config_.top);
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

}  // namespace leakscope
