#include <unistd.h>

#include <map>

#include "tracer/health.h"
#include "tracer/trace_session.h"

namespace leakscope {

AlertSubject TraceSession::subject_for(const LedgerRow& row, const Assessment& a) {
  const TracedProcess& proc = targets_.at(row.trace_id);
  AlertSubject s;
  s.host = host_;
  s.pid = proc.info.pid;
  s.comm = proc.info.comm;
  s.cmdline = proc.info.cmdline;
  s.cgroup = proc.cgroup;
  s.container_id = proc.container_id;
  s.kind = row.kind;
  s.frames = frames_for(row.trace_id, row.stack_id);
  s.rate = a.evidence.rate;
  s.rate_unit = std::string(a.evidence.unit);
  s.live_bytes = row.value.live_bytes;
  s.live_objects = row.value.live_objects;
  s.confidence = a.confidence;
  s.is_leak = a.verdict == Verdict::Leak;
  return s;
}

// Runs the detector over every live series, then the alert state machine.
void TraceSession::judge(double t) {
  std::vector<AlertSubject> suspects;
  for (const LedgerRow& row : rows_) {
    auto it = targets_.find(row.trace_id);
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

void TraceSession::publish_metrics(double tick_seconds) {
  if (!metrics_) return;
  MetricsSnapshot m;
  m.version = LEAKSCOPE_VERSION;
  m.last_tick_cpu_seconds = last_tick_cpu_;
  m.map_bytes = session_->map_bytes();
  if (auto mem = process_memory(::getpid())) m.tracer_rss_bytes = mem->resident_bytes;
  std::map<std::pair<TraceId, Kind>, ProcessKindMetrics> per;
  for (const LedgerRow& row : rows_) {
    auto it = targets_.find(row.trace_id);
    if (it == targets_.end() || it->second.exited()) continue;
    ProcessKindMetrics& p = per[{row.trace_id, row.kind}];
    p.pid = it->second.info.pid;
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
  m.health = health_from(c, pages_.pages_dropped());
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

}  // namespace leakscope
