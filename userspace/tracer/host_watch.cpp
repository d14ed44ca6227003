// --all: every process of the host, watched cheaply (the syscall kinds and
// its anonymous memory from /proc), with allocator probes spent only where
// memory grows: a drill-down attaches them for --drill-for, at most
// --drill-max at a time, and takes them off again unless a heap leak is
// confirmed meanwhile.
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "core/errors.h"
#include "core/log.h"
#include "report/units.h"
#include "target/cgroup.h"
#include "tracer/trace_session.h"

namespace leakscope {

namespace {

// PIDs of every process now, from /proc.
std::vector<pid_t> list_pids() {
  std::vector<pid_t> out;
  DIR* dir = ::opendir("/proc");
  if (!dir) return out;
  while (dirent* d = ::readdir(dir)) {
    char* end = nullptr;
    long v = std::strtol(d->d_name, &end, 10);
    if (end && *end == '\0' && v > 0) out.push_back(static_cast<pid_t>(v));
  }
  ::closedir(dir);
  return out;
}

}  // namespace

bool TraceSession::host_wants(pid_t pid, const ProcessInfo& info, const std::string& cgroup) const {
  if (pid == ::getpid() || info.kernel_thread) return false;
  if (std::find(config_.exclude_pids.begin(), config_.exclude_pids.end(), pid) !=
      config_.exclude_pids.end())
    return false;
  if (!config_.comms.empty() &&
      std::find(config_.comms.begin(), config_.comms.end(), info.comm) == config_.comms.end())
    return false;
  if (!config_.cgroup_filter.empty() && cgroup.rfind(config_.cgroup_filter, 0) != 0) return false;
  return true;
}

// Starts tracing every process that is not traced yet (processes forked
// by traced ones are traced from birth by the kernel side; this finds the
// rest: those running at start, and children of untraced ones).
void TraceSession::scan_host() {
  for (pid_t pid : list_pids()) {
    if (live_.count(pid) || pid == ::getpid()) continue;
    auto stat = process_stat(pid);
    if (!stat || (stat->flags & kKernelThreadFlag) || stat->state == 'Z') continue;
    auto skipped = host_skipped_.find(pid);
    if (skipped != host_skipped_.end() && skipped->second == stat->start_time_ticks) continue;
    ProcessInfo probe;
    probe.comm = stat->comm;
    std::string cgroup = process_cgroup(pid);
    if (!host_wants(pid, probe, cgroup)) {
      host_skipped_[pid] = stat->start_time_ticks;
      continue;
    }
    try {
      attach_pid(pid, Origin::Host);
    } catch (const FatalError& e) {
      log_debug(std::string("--all: not tracing: ") + e.what());
      host_skipped_[pid] = stat->start_time_ticks;
    }
  }
  // Forget skipped PIDs that are gone: the map stays as small as the host.
  for (auto it = host_skipped_.begin(); it != host_skipped_.end();)
    it = process_stat(it->first) ? std::next(it) : host_skipped_.erase(it);
}

// Each live image's anonymous resident memory, as a row of kind rss.
void TraceSession::sample_rss(double t) {
  std::map<TraceId, Sample> now;
  for (const auto& [id, proc] : targets_) {
    if (proc.exited()) continue;
    if (auto mem = process_memory(proc.info.pid))
      now[id] = Sample{t, static_cast<int64_t>(mem->anon_bytes), 0};
  }
  rss_ = std::move(now);
}

// Starts and ends drill-downs from what the last tick showed.
void TraceSession::steer_drills(double t) {
  const double span = std::max(3 * config_.tick_seconds, std::min(config_.detector.window_seconds, 10.0));
  size_t drilling = 0;
  for (auto& [id, proc] : targets_) {
    if (proc.exited() || proc.drill_until < 0) continue;
    bool leak = false;
    for (const auto& [key, a] : assessments_)
      if (key.trace_id == id && key.kind == static_cast<uint32_t>(Kind::Heap) && a.verdict == Verdict::Leak)
        leak = true;
    if (leak && !proc.drill_confirmed) {
      proc.drill_confirmed = true;
      log_info("PID " + std::to_string(proc.info.pid) + " (" + proc.info.comm +
               "): heap leak confirmed; allocator probes stay on");
    }
    if (!proc.drill_confirmed && t >= proc.drill_until) {
      session_->detach_allocator(proc.info.pid);
      proc.heap_probes = false;
      proc.drill_until = -1;
      proc.code_generation = 0;
      // It grows, but not through the heap: look again later, and later
      // each time (2x, 4x, ... --drill-for, at most 64x).
      proc.drills_without_leak = std::min(proc.drills_without_leak + 1, 6);
      drill_cooldown_[id] = t + config_.drill_seconds * double(1 << proc.drills_without_leak);
      log_info("PID " + std::to_string(proc.info.pid) + " (" + proc.info.comm +
               "): no heap leak confirmed; allocator probes off");
      continue;
    }
    if (!proc.drill_confirmed) ++drilling;
  }
  if (!session_->heap_enabled()) return;
  // New drill-downs, fastest growing first.
  std::vector<std::pair<double, TraceId>> candidates;
  for (const auto& [id, proc] : targets_) {
    if (proc.exited() || proc.heap_probes || proc.drill_until >= 0) continue;
    if (auto c = drill_cooldown_.find(id); c != drill_cooldown_.end() && t < c->second) continue;
    const Series* s = timeline_.find(SeriesKey{id, static_cast<uint32_t>(Kind::Rss), LS_STACK_UNKNOWN, 0});
    if (!s) continue;
    double rate = s->recent_bytes_per_second(span, 3);
    if (rate >= config_.drill_rate) candidates.emplace_back(rate, id);
  }
  std::sort(candidates.rbegin(), candidates.rend());
  for (const auto& [rate, id] : candidates) {
    if (drilling >= config_.drill_max) break;
    TracedProcess& proc = targets_.at(id);
    proc.heap_probes = true;
    proc.code_generation = 0;
    replan(proc, t, true);
    if (!session_->has_allocator_probes(proc.info.pid)) {
      proc.heap_probes = false;
      drill_cooldown_[id] = t + config_.drill_seconds;
      continue;
    }
    proc.drill_until = t + config_.drill_seconds;
    ++drilling;
    spaces_.observe(proc.info.pid);
    log_info("PID " + std::to_string(proc.info.pid) + " (" + proc.info.comm + ") grows " +
             format_bytes(rate) + "/s: allocator probes on for " +
             std::to_string(static_cast<int>(config_.drill_seconds)) + " s");
  }
}

}  // namespace leakscope
