// The report of a tick: what the view holds, ranked, the top stacks
// symbolized, each image listed with what it holds.
#include <algorithm>
#include <cmath>
#include <set>

#include "tracer/output.h"
#include "tracer/tick_view.h"

namespace leakscope {

Report build_report(const TickView& view, ReportSources& src, double t, bool final) {
  const TraceConfig& config = src.config;
  Report r;
  r.tool_version = LEAKSCOPE_VERSION;
  r.host = host_name();
  r.generated_at = now_rfc3339();
  r.elapsed_seconds = t;
  r.final = final;
  r.sample_every = config.kernel.sample_every ? config.kernel.sample_every : 1;
  r.window_seconds = config.detector.window_seconds;

  std::map<SeriesKey, const ObjectAges*> ages;
  for (const ObjectAges& a : src.ages) ages[SeriesKey{a.trace_id, static_cast<uint32_t>(a.kind), a.stack_id, a.fn}] = &a;

  std::map<TraceId, ImageEntry> procs;
  for (const auto& [id, image] : src.images.images()) {
    ImageEntry& p = procs[id];
    p.pid = image.pid();
    p.trace_id = id;
    p.parent_pid = image.parent_pid;
    p.origin = origin_name(image.origin);
    p.ended = end_name(image.end);
    p.allocator_probes = !image.exited() && src.allocator_probes && src.allocator_probes(image.pid());
    p.drilled = src.drilled && src.drilled(id);
    if (src.backed_off) p.drill_backed_off = src.backed_off(id);
    p.comm = image.info.comm;
    p.cmdline = image.info.cmdline;
    p.allocator_module = image.allocator_module;
    p.allocators = image.allocators;
    p.cgroup = image.cgroup;
    p.container_id = image.container_id;
    p.exited = image.exited() && !image.detached();
    p.detached = image.detached();
    p.traced_seconds = (image.exited() ? image.exited_at : t) - image.attached_at;
  }
  // The allocator's growth is no stack of the ranking: it is added to the
  // heap stack its caller's stack is, or to its process.
  struct Growth {
    const LedgerRow* row;
    AllocatorGrowthFigures figures;
    size_t caller_from;
  };
  std::vector<Growth> growth;
  std::map<TraceId, int64_t> heap_live;
  for (const LedgerRow& row : view.rows) {
    const TracedImage* image = src.images.find(row.trace_id);
    if (!image) continue;
    SeriesKey key = key_of(row);
    const Series* series = src.timeline.find(key);
    if (row.kind == Kind::Heap) heap_live[row.trace_id] += row.value.live_bytes;
    if (auto g = view.allocator_growth.find(key); g != view.allocator_growth.end()) {
      AllocatorGrowthFigures f{row.value.live_bytes, row.value.live_objects,
                               series ? series->bytes_per_second() : 0};
      ImageEntry& p = procs[row.trace_id];
      p.allocator_growth.held_bytes += f.held_bytes;
      p.allocator_growth.regions += f.regions;
      p.allocator_growth.growth_bytes_per_sec += f.growth_bytes_per_sec;
      if (f.held_bytes > 0 || f.regions > 0) growth.push_back({&row, f, g->second.caller_from});
      continue;
    }
    StackEntry s;
    s.pid = image->pid();
    s.trace_id = row.trace_id;
    s.comm = image->info.comm;
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
    if (auto a = view.verdicts.find(key); a != view.verdicts.end()) {
      s.assessment = a->second;
      s.rank_score = a->second.evidence.rate / config.detector.for_kind(row.kind).min_rate;
    }
    if (auto age = ages.find(key); age != ages.end()) {
      s.oldest_age_seconds = age->second->oldest_seconds;
      s.median_age_seconds = age->second->median_seconds;
    }
    ImageEntry& p = procs[row.trace_id];
    p.live_bytes += s.live_bytes;
    p.live_objects += s.live_objects;
    if (s.live_objects <= 0 && s.growth_bytes_per_sec <= 0 && s.growth_objects_per_sec <= 0) continue;
    r.stacks.push_back(std::move(s));
  }
  rank_stacks(r.stacks);
  r.health = view.health;
  // A report carries the first --report-stacks of the ranking; only those
  // are symbolized, so a process with 100,000 stacks costs the tracer the
  // symbols of the ones anybody will read.
  r.stacks_total = r.stacks.size();
  if (r.stacks.size() > config.report_stacks) r.stacks.resize(config.report_stacks);
  for (StackEntry& s : r.stacks) {
    const StackStore::Resolved& stack = src.stacks.resolved(s.trace_id, s.pid, s.stack_id);
    s.frames = stack.frames;
    s.truncated = stack.truncated;
    s.leak_site = stack.leak_site;
    for (const Frame& f : s.frames) {
      ++r.health.total_frames;
      if (f.function.empty()) ++r.health.unknown_frames;
    }
  }
  for (const Growth& g : growth) {
    const LedgerRow& row = *g.row;
    const StackStore::Resolved& stack = src.stacks.resolved(row.trace_id, procs[row.trace_id].pid, row.stack_id);
    StackEntry* served = nullptr;
    if (g.caller_from < stack.frames.size()) {
      std::vector<uint64_t> caller;
      for (size_t i = g.caller_from; i < stack.frames.size(); ++i) caller.push_back(stack.frames[i].address);
      for (StackEntry& s : r.stacks) {
        if (s.trace_id != row.trace_id || s.kind != Kind::Heap || s.frames.size() != caller.size()) continue;
        if (std::equal(caller.begin(), caller.end(), s.frames.begin(),
                       [](uint64_t a, const Frame& f) { return a == f.address; })) {
          served = &s;
          break;
        }
      }
    }
    if (served) {
      served->allocator_growth.held_bytes += g.figures.held_bytes;
      served->allocator_growth.regions += g.figures.regions;
      served->allocator_growth.growth_bytes_per_sec += g.figures.growth_bytes_per_sec;
    } else {
      procs[row.trace_id].allocator_growth_unattributed_bytes += g.figures.held_bytes;
    }
  }
  for (auto& [id, p] : procs)
    p.allocator_beyond_live_bytes = std::max<int64_t>(0, p.allocator_growth.held_bytes - heap_live[id]);
  // Charts need history; keep it for the stacks a reader will look at.
  constexpr size_t kWithHistory = 20;
  for (size_t i = 0; i < r.stacks.size() && i < kWithHistory; ++i) {
    StackEntry& s = r.stacks[i];
    SeriesKey key{s.trace_id, static_cast<uint32_t>(s.kind), s.stack_id, s.fn};
    if (const Series* series = src.timeline.find(key)) s.history.assign(series->samples().begin(), series->samples().end());
  }
  // Under --all the host's processes are many: a report lists those with
  // something to show.
  std::set<TraceId> shown;
  for (const StackEntry& s : r.stacks) shown.insert(s.trace_id);
  for (auto& [id, p] : procs)
    if (!config.all || shown.count(id) || p.drilled) r.processes.push_back(std::move(p));
  r.processes_traced = procs.size();
  r.input_limits = input_limits_hit();
  r.input_limits_total = input_limit_hits_total();
  return r;
}

}  // namespace leakscope
