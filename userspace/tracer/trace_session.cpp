#include "tracer/trace_session.h"

#include <unistd.h>

#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <functional>
#include <optional>
#include <set>
#include <sstream>

#include "core/errors.h"
#include "core/log.h"
#include "report/json.h"
#include "report/text.h"
#include "report/units.h"
#include "target/cgroup.h"
#include "target/proc_maps.h"
#include "tracer/output.h"

namespace leakscope {

namespace {

// CPU time (user + system) of the whole tracer so far.
double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace

SeriesKey key_of(const LedgerRow& row) {
  return SeriesKey{row.trace_id, static_cast<uint32_t>(row.kind), row.stack_id, row.fn};
}

TraceSession::TraceSession(const TraceConfig& config)
    : config_(config),
      session_(Session::open(config.session)),
      collector_(session_->ledger_fd(), session_->stacks_fd(), config.session.sample_every),
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

TracedProcess* TraceSession::live_image(pid_t pid) {
  auto it = live_.find(pid);
  if (it == live_.end()) return nullptr;
  auto t = targets_.find(it->second);
  return t == targets_.end() || t->second.exited() ? nullptr : &t->second;
}

TraceId TraceSession::attach_pid(pid_t pid, Origin origin) {
  if (live_image(pid))
    throw FatalError(ExitCode::Usage, "PID " + std::to_string(pid) + " is already being traced");
  ProcessInfo info = inspect_process(pid);
  // Under --all a process gets allocator probes only when drilled into.
  bool heap = session_->heap_enabled() && origin != Origin::Host;
  const AddressSpace* space = nullptr;
  AllocatorPlan plan;
  if (heap) {
    space = spaces_.observe(pid);
    if (space == nullptr || !space->alive())
      throw FatalError(ExitCode::NoSuchProcess,
                       "PID " + std::to_string(pid) + " exited before it could be traced");
    plan = plan_allocator(pid, space->entries());
  }
  TraceId id = next_id_++;
  session_->track(pid, id, config_.follow_children || config_.all);
  try {
    // The maps are read now, while they are the ones of the image that
    // makes the calls (under --all, later and only for processes in view).
    if (origin != Origin::Host) spaces_.observe(pid);
    if (heap) {
      AttachResult res = session_->attach_allocator(pid, plan);
      for (const auto& s : res.skipped) log_verbose("PID " + std::to_string(pid) + ": not probed: " + s);
      log_verbose("PID " + std::to_string(pid) + " (" + info.comm + "): " + std::to_string(res.probes) +
                  " probes on " + plan.allocator_module);
      for (const ProbeSite& site : plan.sites)
        if (!site.placement.empty()) log_verbose(site.symbol + " probed at " + site.placement);
    }
  } catch (...) {
    session_->untrack(pid);
    throw;
  }
  TracedProcess proc;
  proc.id = id;
  proc.origin = origin;
  proc.info = std::move(info);
  proc.identified = true;
  proc.named = origin != Origin::Host;
  proc.heap_probes = heap;
  proc.allocator_module = plan.allocator_module;
  proc.cgroup = process_cgroup(pid);
  proc.container_id = container_id_from_cgroup(proc.cgroup);
  proc.code_generation = space != nullptr ? space->code_generation() : 0;
  proc.attached_at = now();
  targets_[id] = std::move(proc);
  live_[pid] = id;
  return id;
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
  TraceId id = next_id_++;
  session_->track(pid, id, config_.follow_children);
  AttachResult res = session_->attach_allocator(pid, plan);
  log_verbose("command PID " + std::to_string(pid) + ": " + std::to_string(res.probes) +
              " probes on " + plan.allocator_module);
  TracedProcess proc;
  proc.id = id;
  proc.origin = Origin::Command;
  proc.named = true;
  proc.info.pid = pid;
  proc.info.comm = config_.command.front();
  proc.info.cmdline = config_.command;
  proc.heap_probes = session_->heap_enabled();
  proc.allocator_module = plan.allocator_module;
  proc.attached_at = now();
  targets_[id] = std::move(proc);
  live_[pid] = id;
  child_->release();
  TracedProcess& started = targets_[id];
  if (auto info = process_start_time(pid)) started.info.start_time_ticks = *info;
  started.cgroup = process_cgroup(pid);
  started.container_id = container_id_from_cgroup(started.cgroup);
}

void TraceSession::replan(TracedProcess& proc, double t, bool quiet_failure) {
  if (!proc.heap_probes) return;  // only allocator probes need a plan
  pid_t pid = proc.info.pid;
  const AddressSpace* space = spaces_.observe(pid);
  if (space == nullptr || !space->alive()) return;
  const uint64_t generation = space->code_generation();
  if (generation == proc.code_generation && session_->has_allocator_probes(pid)) return;
  try {
    AllocatorPlan plan = plan_allocator(pid, space->entries());
    AttachResult res = session_->attach_allocator(pid, plan);
    proc.code_generation = generation;
    proc.allocator_module = plan.allocator_module;
    if (res.probes)
      log_verbose("PID " + std::to_string(pid) + ": " + std::to_string(res.probes) +
                  " allocator probes on " + plan.allocator_module);
  } catch (const FatalError& e) {
    // A freshly exec'd command may not have mapped its allocator yet; a
    // child may be gone already.
    proc.code_generation = generation;
    if (!quiet_failure && !proc.warned_no_allocator && t - proc.attached_at > 2) {
      log_warn(e.what());
      proc.warned_no_allocator = true;
    }
  }
}

void TraceSession::refresh(TracedProcess& proc, double t) {
  pid_t pid = proc.info.pid;
  if (child_ && pid == child_->pid() && child_->poll_exit().has_value()) {
    // Reaped here; the kernel's exit event ends the image too.
    end_image(proc, End::Exit, t);
    return;
  }
  if (!proc.identified) {
    // A child or a new image: who it is now that it runs on its own.
    if (auto stat_time = process_start_time(pid)) {
      try {
        ProcessInfo info = inspect_process(pid);
        proc.info = std::move(info);
      } catch (const FatalError&) {
      }
      proc.info.start_time_ticks = *stat_time;
      proc.cgroup = process_cgroup(pid);
      proc.container_id = container_id_from_cgroup(proc.cgroup);
      proc.identified = true;
    }
  } else if (proc.origin == Origin::Command && proc.info.comm == config_.command.front()) {
    if (auto comm = process_comm(pid)) proc.info.comm = *comm;
  }
  // Under --all most processes need no symbols until one of their stacks
  // shows up (apply_syscall_events observes them then).
  if (proc.heap_probes || spaces_.find(pid)) spaces_.observe(pid);
  replan(proc, t, false);
}

const std::vector<Frame>& TraceSession::frames_for(TraceId id, int32_t stack_id) {
  auto key = std::make_pair(id, stack_id);
  auto it = frames_.find(key);
  if (it != frames_.end()) return it->second;
  std::vector<uint64_t> ips;
  if (stack_id >= kSyscallStackBase) {
    size_t i = static_cast<size_t>(stack_id - kSyscallStackBase);
    if (i < syscall_stacks_.size()) ips = syscall_stacks_[i];
  } else {
    ips = collector_.read_stack(stack_id);
  }
  auto proc = targets_.find(id);
  pid_t pid = proc == targets_.end() ? 0 : proc->second.info.pid;
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
  return intern_stack(std::move(stack));
}

// The id of a stack composed in userspace (kSyscallStackBase and up).
int32_t TraceSession::intern_stack(std::vector<uint64_t> stack) {
  if (stack.empty()) return LS_STACK_UNKNOWN;
  auto it = syscall_stack_ids_.find(stack);
  if (it != syscall_stack_ids_.end()) return it->second;
  if (syscall_stacks_.size() >= session_->sizes().max_stack_traces) return LS_STACK_UNKNOWN;
  int32_t id = kSyscallStackBase + static_cast<int32_t>(syscall_stacks_.size());
  syscall_stacks_.push_back(stack);
  syscall_stack_ids_.emplace(std::move(stack), id);
  return id;
}

void TraceSession::apply_syscall_events(double t) {
  std::set<pid_t> observed;
  session_->drain_events([this, t, &observed](const ls_sys_event& e) {
    if (on_lifecycle_event(e, t)) return;
    pid_t pid = static_cast<pid_t>(e.tgid);
    auto it = targets_.find(e.trace_id);
    if (it == targets_.end() || it->second.exited()) return;
    // Stacks are read against the view of the process's maps taken at the
    // last tick, which is the image that made the calls.
    if (!spaces_.find(pid) && observed.insert(pid).second) spaces_.observe(pid);
    SysEvent ev;
    ev.op = e.op;
    ev.trace_id = e.trace_id;
    ev.ts_ns = e.ts_ns;
    ev.ret = e.ret;
    for (int i = 0; i < 5; ++i) ev.args[i] = e.args[i];
    ev.stack_id = syscall_stack_id(pid, e);
    if (log_level() >= LogLevel::Debug) {
      std::ostringstream msg;
      msg << "event op " << e.op << " pid " << pid << " image " << e.trace_id << " ret " << e.ret
          << " a0 " << e.args[0] << " stack " << ev.stack_id << std::hex;
      if (ev.stack_id >= kSyscallStackBase)
        for (uint64_t ip : syscall_stacks_[static_cast<size_t>(ev.stack_id - kSyscallStackBase)])
          msg << " 0x" << ip;
      log_debug(msg.str());
    }
    resources_.apply(ev);
    if (ev.stack_id != LS_STACK_UNKNOWN) frames_for(e.trace_id, ev.stack_id);  // symbolized now
  });
}

std::vector<LedgerRow> TraceSession::resource_rows() const {
  std::vector<LedgerRow> rows;
  std::vector<ResourceRow> all = resources_.rows();
  for (ResourceRow& r : pages_.rows()) all.push_back(r);
  for (const ResourceRow& r : all) {
    LedgerRow row;
    row.trace_id = r.trace_id;
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
  spaces_.begin_tick();
  apply_syscall_events(t);
  apply_fault_events();
  reconcile_targets(t);
  if (config_.all) scan_host();
  for (auto& [id, proc] : targets_)
    if (!proc.exited()) refresh(proc, t);

  auto rows = collector_.read_ledger();
  if (!rows) {
    log_warn("cannot read the ledger this tick");
    return;
  }
  close_ended(*rows);
  release_gone_pages();
  for (LedgerRow& row : resource_rows()) rows->push_back(row);
  for (const auto& [id, proc] : targets_)
    for (const LedgerRow& row : proc.final_rows) rows->push_back(row);
  if (config_.all) sample_rss(t);
  for (const auto& [id, sample] : rss_) {
    LedgerRow row;
    row.trace_id = id;
    row.kind = Kind::Rss;
    row.value.live_bytes = sample.live_bytes;
    row.value.live_objects = 0;
    rows->push_back(row);
  }
  for (const LedgerRow& row : *rows) {
    auto it = targets_.find(row.trace_id);
    if (it == targets_.end()) continue;
    const TracedProcess& proc = it->second;
    // An ended image's rows are final; record them once more only on the
    // tick that noticed the end.
    if (proc.exited() && proc.exited_at != t) continue;
    // A new ledger row had nothing live before this tick; a process's
    // memory (rss) was there before we looked: no zero sample before it.
    double previous = row.kind == Kind::Rss ? t : std::max(last_tick_, proc.attached_at);
    timeline_.record(key_of(row), Sample{t, row.value.live_bytes, row.value.live_objects}, previous);
  }
  rows_ = std::move(*rows);
  last_tick_ = t;
  ++ticks_;
  judge(t);
  if (config_.all) steer_drills(t);
  prune_ended();
}

// Stops when every target has ended; a target detached on request means
// an operator is steering, so the tracer waits for more attaches. --all
// never runs out of targets.
bool TraceSession::should_stop_for_targets() const {
  if (config_.all) return false;
  for (const auto& [id, proc] : targets_)
    if (!proc.exited() || proc.detached()) return false;
  return !targets_.empty();
}

void TraceSession::detach_pid(pid_t pid, double t) {
  TracedProcess* proc = live_image(pid);
  if (!proc)
    throw FatalError(ExitCode::NoSuchProcess, "PID " + std::to_string(pid) + " is not being traced");
  session_->untrack(pid);
  end_image(*proc, End::Detach, t);
  log_info("PID " + std::to_string(pid) + " (" + proc->info.comm + ") detached; its ledger is kept");
}

int TraceSession::run() {
  for (pid_t pid : config_.pids) attach_pid(pid);
  if (!config_.command.empty()) start_command();
  if (config_.all) scan_host();

  if (config_.all) {
    std::string kinds;
    for (const auto& k : enabled_kinds())
      if (k != "heap") kinds += k.get<std::string>() + ", ";
    log_info("tracing the whole host: " + std::to_string(targets_.size()) + " processes (" + kinds +
             "memory; allocator probes where memory grows past " +
             std::to_string(static_cast<long long>(config_.drill_rate)) +
             " B/s); Ctrl-C for the final report");
  } else {
    std::ostringstream who;
    for (const auto& [id, proc] : targets_) who << " " << proc.info.pid << " (" << proc.info.comm << ")";
    log_info("tracing " + std::to_string(targets_.size()) + " process(es):" + who.str() + ", " +
             std::to_string(session_->probes_attached()) + " probes" +
             (config_.follow_children ? " (and their children)" : "") +
             "; Ctrl-C for the final report");
  }

  {
    // What the maps hold in the kernel at start: bucket arrays sized from
    // the options; the object and ledger entries come as they are used.
    std::ostringstream maps;
    uint64_t map_bytes = 0;
    for (const MapMemory& m : session_->map_memory()) {
      map_bytes += m.bytes;
      if (m.bytes >= (1u << 20)) maps << ", " << m.name << " " << format_bytes(double(m.bytes));
    }
    log_info("kernel maps: " + format_bytes(double(map_bytes)) + maps.str());
  }
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
    double cpu_before = cpu_seconds();
    tick(t);
    last_tick_seconds_ = now() - t;
    last_tick_cpu_ = cpu_seconds() - cpu_before;
    publish_metrics(last_tick_seconds_);
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
