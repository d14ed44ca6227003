#include "tracer/tick_view.h"

#include "tracer/kernel_health.h"

namespace leakscope {

SeriesKey key_of(const LedgerRow& row) {
  return SeriesKey{row.trace_id, static_cast<uint32_t>(row.kind), row.stack_id, row.fn};
}

void TickView::set_rows(double now, std::vector<LedgerRow> all_rows, const Counters& counters,
                        uint64_t fault_pages_dropped, const MapSizes& sizes) {
  t = now;
  ++ticks;
  rows = std::move(all_rows);
  totals.clear();
  uint64_t live_objects = 0;
  for (const LedgerRow& row : rows) {
    if (row.kind == Kind::Rss) continue;
    ImageTotals& total = totals[row.trace_id];
    total.live_bytes += row.value.live_bytes;
    total.live_objects += row.value.live_objects;
    if (row.value.live_objects > 0) live_objects += static_cast<uint64_t>(row.value.live_objects);
  }
  Health h = health_from(counters, fault_pages_dropped);
  h.objects_capacity = sizes.max_objects;
  h.ledger_rows = static_cast<uint32_t>(rows.size());
  h.ledger_capacity = sizes.max_stacks;
  h.live_object_entries = static_cast<uint32_t>(live_objects);
  health = h;
}

void TickView::forget(TraceId id) {
  for (auto it = verdicts.begin(); it != verdicts.end();)
    it = it->first.trace_id == id ? verdicts.erase(it) : std::next(it);
  std::erase_if(allocator_growth, [id](const auto& entry) { return entry.first.trace_id == id; });
  std::erase_if(rows, [id](const LedgerRow& r) { return r.trace_id == id; });
  totals.erase(id);
}

MetricsSnapshot metrics_snapshot(const TickView& view, const ImageTable& images, const Timeline& timeline,
                                 const MapSizes& sizes) {
  MetricsSnapshot m;
  std::map<std::pair<TraceId, Kind>, ProcessKindMetrics> per;
  int64_t live = 0;
  for (const LedgerRow& row : view.rows) {
    live += row.value.live_objects;
    const TracedImage* image = images.find(row.trace_id);
    if (!image || image->exited()) continue;
    ProcessKindMetrics& p = per[{row.trace_id, row.kind}];
    p.pid = image->pid();
    p.comm = image->info.comm;
    p.kind = std::string(kind_name(row.kind));
    p.live_bytes += row.value.live_bytes;
    p.live_objects += row.value.live_objects;
    if (const Series* s = timeline.find(key_of(row))) {
      p.growth_bytes_per_second += s->bytes_per_second();
      p.growth_objects_per_second += s->objects_per_second();
    }
    auto a = view.verdicts.find(key_of(row));
    if (a != view.verdicts.end() && a->second.verdict == Verdict::Leak) ++p.suspected_leaks;
  }
  for (auto& [key, p] : per) m.processes.push_back(std::move(p));
  m.ticks = view.ticks;
  m.last_tick_seconds = view.tick_seconds;
  m.last_tick_cpu_seconds = view.tick_cpu_seconds;
  m.objects_map_fill = double(live) / double(sizes.max_objects);
  m.ledger_map_fill = double(view.rows.size()) / double(sizes.max_stacks);
  m.health = view.health;
  return m;
}

}  // namespace leakscope
