#include <set>

#include "collector/object_ages.h"
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

  std::set<pid_t> pids;
  for (const auto& [pid, proc] : targets_) pids.insert(pid);
  std::map<SeriesKey, AgeProfile> ages;
  if (with_ages) ages = read_object_ages(session_->objects_fd(), pids, monotonic_now_ns());
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
    p.exited = proc.exited() && !proc.detached;
    p.detached = proc.detached;
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
    s.allocator = origin_name(row.kind, row.fn);
    s.fn = row.fn;
    s.armed = row.armed;
    s.stack_id = row.stack_id;
    s.live_bytes = row.value.live_bytes;
    s.live_objects = row.value.live_objects;
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
    ProcessEntry& p = procs[row.pid];
    p.live_bytes += s.live_bytes;
    p.live_objects += s.live_objects;
    if (s.live_objects <= 0 && s.growth_bytes_per_sec <= 0 && s.growth_objects_per_sec <= 0) continue;
    s.frames = frames_for(row.pid, row.stack_id);
    for (const Frame& f : s.frames) {
      ++r.health.total_frames;
      if (f.function.empty()) ++r.health.unknown_frames;
    }
    r.stacks.push_back(std::move(s));
  }
  rank_stacks(r.stacks);
  // Charts need history; keep it for the stacks a reader will look at.
  constexpr size_t kWithHistory = 20;
  for (size_t i = 0; i < r.stacks.size() && i < kWithHistory; ++i) {
    const StackEntry& s = r.stacks[i];
    SeriesKey key{s.pid, static_cast<uint32_t>(s.kind), s.stack_id, s.fn};
    if (const Series* series = timeline_.find(key))
      r.stacks[i].history.assign(series->samples().begin(), series->samples().end());
  }
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
  h.events_lost = c[LS_CNT_EVENTS_LOST];
  h.objects_capacity = session_->sizes().max_objects;
  h.ledger_rows = static_cast<uint32_t>(rows_.size());
  h.ledger_capacity = session_->sizes().max_stacks;
  return r;
}

}  // namespace leakscope
