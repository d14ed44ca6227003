#include <cmath>
#include <set>

#include "collector/object_ages.h"
#include "tracer/health.h"
#include "tracer/output.h"
#include "tracer/trace_session.h"

namespace leakscope {

Report TraceSession::build_report(double t, bool final, bool with_ages) {
  Report r;
  r.tool_version = LEAKSCOPE_VERSION;
  r.host = host_name();
  r.generated_at = now_rfc3339();
  r.elapsed_seconds = t;
  r.final = final;
  r.sample_every = config_.session.sample_every ? config_.session.sample_every : 1;

  std::set<TraceId> ids;
  for (const auto& [id, proc] : targets_)
    if (!proc.exited()) ids.insert(id);
  std::map<SeriesKey, AgeProfile> ages;
  if (with_ages) ages = read_object_ages(session_->objects_fd(), ids, monotonic_now_ns());
  r.window_seconds = config_.detector.window_seconds;
  r.alerts_firing = alerts_.firing();
  if (dispatcher_)
    for (const SinkHealth& h : dispatcher_->health())
      r.sinks.push_back(SinkStatus{h.name, h.delivered, h.failures, h.dropped, h.last_error});

  std::map<TraceId, ProcessEntry> procs;
  for (const auto& [id, proc] : targets_) {
    ProcessEntry& p = procs[id];
    p.pid = proc.info.pid;
    p.trace_id = id;
    p.parent_pid = proc.parent_pid;
    p.origin = origin_name(proc.origin);
    p.ended = end_name(proc.end);
    p.allocator_probes = session_->has_allocator_probes(proc.info.pid) && !proc.exited();
    p.drilled = proc.drill_until >= 0 || proc.drill_confirmed;
    p.comm = proc.info.comm;
    p.cmdline = proc.info.cmdline;
    p.allocator_module = proc.allocator_module;
    p.cgroup = proc.cgroup;
    p.container_id = proc.container_id;
    p.exited = proc.exited() && !proc.detached();
    p.detached = proc.detached();
    p.traced_seconds = (proc.exited() ? proc.exited_at : t) - proc.attached_at;
  }
  for (const LedgerRow& row : rows_) {
    auto it = targets_.find(row.trace_id);
    if (it == targets_.end()) continue;
    SeriesKey key = key_of(row);
    const Series* series = timeline_.find(key);
    StackEntry s;
    s.pid = it->second.info.pid;
    s.trace_id = row.trace_id;
    s.comm = it->second.info.comm;
    s.kind = row.kind;
    s.allocator = origin_name(row.kind, row.fn);
    s.fn = row.fn;
    s.armed = row.armed;
    s.stack_id = row.stack_id;
    s.live_bytes = row.value.live_bytes;
    s.live_objects = row.value.live_objects;
    if (row.counted_objects > 0) s.estimate_error = 1.96 / std::sqrt(double(row.counted_objects));
    s.allocs = row.value.allocs;
    s.frees = row.value.frees;
    s.bytes_allocated = row.value.bytes_allocated;
    s.growth_bytes_per_sec = series ? series->bytes_per_second() : 0;
    s.growth_objects_per_sec = series ? series->objects_per_second() : 0;
    if (auto a = assessments_.find(key); a != assessments_.end()) {
      s.assessment = a->second;
      s.rank_score = a->second.evidence.rate / config_.detector.for_kind(row.kind).min_rate;
    }
    if (auto age = ages.find(key); age != ages.end()) {
      s.oldest_age_seconds = age->second.oldest_seconds;
      s.median_age_seconds = age->second.median_seconds;
    }
    ProcessEntry& p = procs[row.trace_id];
    p.live_bytes += s.live_bytes;
    p.live_objects += s.live_objects;
    if (s.live_objects <= 0 && s.growth_bytes_per_sec <= 0 && s.growth_objects_per_sec <= 0) continue;
    r.stacks.push_back(std::move(s));
  }
  rank_stacks(r.stacks);
  // A report carries the first --report-stacks of the ranking; only those
  // are symbolized, so a process with 100,000 stacks costs the tracer the
  // symbols of the ones anybody will read.
  r.stacks_total = r.stacks.size();
  if (r.stacks.size() > config_.report_stacks) r.stacks.resize(config_.report_stacks);
  for (StackEntry& s : r.stacks) {
    s.frames = frames_for(s.trace_id, s.stack_id);
    for (const Frame& f : s.frames) {
      ++r.health.total_frames;
      if (f.function.empty()) ++r.health.unknown_frames;
    }
  }
  // Charts need history; keep it for the stacks a reader will look at.
  constexpr size_t kWithHistory = 20;
  for (size_t i = 0; i < r.stacks.size() && i < kWithHistory; ++i) {
    const StackEntry& s = r.stacks[i];
    SeriesKey key{s.trace_id, static_cast<uint32_t>(s.kind), s.stack_id, s.fn};
    if (const Series* series = timeline_.find(key))
      r.stacks[i].history.assign(series->samples().begin(), series->samples().end());
  }
  // Under --all the host's processes are many: a report lists those with
  // something to show.
  std::set<TraceId> shown;
  for (const StackEntry& s : r.stacks) shown.insert(s.trace_id);
  for (auto& [id, p] : procs)
    if (!config_.all || shown.count(id) || p.drilled) r.processes.push_back(std::move(p));
  r.processes_traced = procs.size();

  Counters c = session_->counters();
  Health& h = r.health;
  Health counted = health_from(c, pages_.pages_dropped());
  counted.unknown_frames = h.unknown_frames;  // counted above, while symbolizing
  counted.total_frames = h.total_frames;
  h = counted;
  h.objects_capacity = session_->sizes().max_objects;
  h.ledger_rows = static_cast<uint32_t>(rows_.size());
  h.ledger_capacity = session_->sizes().max_stacks;
  return r;
}

}  // namespace leakscope
