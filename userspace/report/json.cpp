#include "report/json.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "report/frame_text.h"

namespace leakscope {

namespace {

using nlohmann::ordered_json;

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

ordered_json frame_json(const Frame& f) {
  ordered_json j;
  j["function"] = f.function.empty() ? f.display_name() : f.function;
  j["file"] = f.file;
  j["line"] = f.line;
  if (f.column > 0) j["column"] = f.column;  // JS frames
  j["module"] = f.module;
  j["address"] = hex(f.address);
  j["module_offset"] = hex(f.module_offset);
  j["symbolized"] = !f.function.empty();
  return j;
}

ordered_json growth_json(const AllocatorGrowthFigures& g) {
  return ordered_json{{"held_bytes", g.held_bytes},
                      {"regions", g.regions},
                      {"growth_bytes_per_sec", g.growth_bytes_per_sec}};
}

}  // namespace

std::string render_json(const Report& r) {
  ordered_json j;
  j["schema_version"] = r.schema_version;
  j["tool"] = "leakscope";
  j["tool_version"] = r.tool_version;
  j["host"] = r.host;
  j["generated_at"] = r.generated_at;
  j["elapsed_seconds"] = r.elapsed_seconds;
  j["final"] = r.final;

  ordered_json procs = ordered_json::array();
  for (const ImageEntry& p : r.processes) {
    ordered_json pj;
    pj["pid"] = p.pid;
    pj["trace_id"] = p.trace_id;
    pj["parent_pid"] = p.parent_pid;
    pj["origin"] = p.origin;
    pj["ended"] = p.ended;
    pj["allocator_probes"] = p.allocator_probes;
    pj["drilled"] = p.drilled;
    pj["drill_backed_off"] = p.drill_backed_off;
    pj["comm"] = p.comm;
    pj["cmdline"] = p.cmdline;
    pj["allocator_module"] = p.allocator_module;
    pj["allocators"] = p.allocators;
    pj["cgroup"] = p.cgroup;
    pj["container_id"] = p.container_id;
    pj["exited"] = p.exited;
    pj["detached"] = p.detached;
    pj["traced_seconds"] = p.traced_seconds;
    pj["live_bytes"] = p.live_bytes;
    pj["live_objects"] = p.live_objects;
    if (p.allocator_growth.regions > 0) {
      ordered_json fj = growth_json(p.allocator_growth);
      fj["beyond_live_bytes"] = p.allocator_beyond_live_bytes;
      fj["unattributed_bytes"] = p.allocator_growth_unattributed_bytes;
      pj["allocator_footprint"] = std::move(fj);
    }
    procs.push_back(std::move(pj));
  }
  j["processes"] = std::move(procs);
  j["processes_traced"] = r.processes_traced;
  j["sample_every"] = r.sample_every;
  j["stacks_total"] = std::max(r.stacks_total, r.stacks.size());

  ordered_json stacks = ordered_json::array();
  int rank = 0;
  for (const StackEntry& s : r.stacks) {
    ordered_json sj;
    sj["rank"] = ++rank;
    sj["pid"] = s.pid;
    sj["trace_id"] = s.trace_id;
    sj["estimate_error"] = s.estimate_error;
    sj["comm"] = s.comm;
    sj["kind"] = std::string(kind_name(s.kind));
    sj["allocator"] = s.allocator;
    sj["stack_id"] = s.stack_id;
    sj["live_bytes"] = s.live_bytes;
    sj["live_objects"] = s.live_objects;
    sj["allocs"] = s.allocs;
    sj["frees"] = s.frees;
    sj["bytes_allocated"] = s.bytes_allocated;
    sj["growth_bytes_per_sec"] = s.growth_bytes_per_sec;
    sj["growth_objects_per_sec"] = s.growth_objects_per_sec;
    sj["unit"] = counts_objects(s.kind) ? "objects" : "bytes";
    if (s.kind == Kind::Timerfd) sj["armed"] = s.armed;
    const Assessment& a = s.assessment;
    sj["verdict"] = std::string(verdict_name(a.verdict));
    sj["confidence"] = a.confidence;
    ordered_json ev;
    ev["rate"] = a.evidence.rate;
    ev["rate_unit"] = std::string(a.evidence.unit);
    ev["window_seconds"] = a.evidence.window_seconds;
    ev["trend"] = a.evidence.trend;
    ev["growing_for_seconds"] = a.evidence.growing_for_seconds;
    ev["floor_start"] = a.evidence.floor_start;
    ev["floor_end"] = a.evidence.floor_end;
    ev["samples"] = a.evidence.samples;
    ev["oldest_age_seconds"] = s.oldest_age_seconds;
    ev["median_age_seconds"] = s.median_age_seconds;
    if (a.verdict == Verdict::Early) ev["needed_seconds"] = a.evidence.needed_seconds;
    sj["evidence"] = std::move(ev);
    ordered_json frames = ordered_json::array();
    for (const Frame& f : s.frames) frames.push_back(frame_json(f));
    sj["frames"] = std::move(frames);
    sj["leak_site"] = leak_site_index(s.frames, s.leak_site);
    sj["truncated"] = s.truncated;
    if (s.allocator_growth.regions > 0) sj["allocator_footprint"] = growth_json(s.allocator_growth);
    stacks.push_back(std::move(sj));
  }
  j["stacks"] = std::move(stacks);

  const Health& h = r.health;
  ordered_json hj;
  hj["lossless"] = h.lossless();
  hj["lost_total"] = h.lost_total();
  for (const HealthFigure& f : h.figures()) hj[std::string(f.key)] = f.value;
  hj["objects_capacity"] = h.objects_capacity;
  hj["ledger_rows"] = h.ledger_rows;
  hj["ledger_capacity"] = h.ledger_capacity;
  j["health"] = std::move(hj);

  ordered_json alerts;
  alerts["firing"] = r.alerts_firing;
  ordered_json sinks = ordered_json::array();
  for (const SinkStatus& sink : r.sinks) {
    ordered_json sjn;
    sjn["name"] = sink.name;
    sjn["delivered"] = sink.delivered;
    sjn["failures"] = sink.failures;
    sjn["dropped"] = sink.dropped;
    sjn["last_error"] = sink.last_error;
    sinks.push_back(std::move(sjn));
  }
  alerts["sinks"] = std::move(sinks);
  j["alerts"] = std::move(alerts);
  j["detector"] = {{"window_seconds", r.window_seconds}};
  ordered_json steps = ordered_json::array();
  for (const HeapSamplingStep& step : r.heap_sampling.steps)
    steps.push_back({{"at_seconds", step.at_seconds},
                     {"keep_one_in", step.keep_one_in},
                     {"objects_map_fill", step.objects_map_fill}});
  j["heap_sampling"] = {{"keep_one_in", 1u << r.heap_sampling.shift}, {"steps", std::move(steps)}};
  j["tracer"] = {{"resident_bytes", r.tracer.resident_bytes},
                 {"peak_resident_bytes", r.tracer.peak_resident_bytes},
                 {"max_memory_bytes", r.tracer.max_memory_bytes},
                 {"over_budget", r.tracer.over_budget},
                 {"map_bytes", r.tracer.map_bytes},
                 {"map_max_bytes", r.tracer.map_max_bytes}};
  const LoopTiming& l = r.loop;
  j["loop"] = {{"period_seconds", l.period_seconds}, {"ticks", l.ticks},
               {"on_schedule", l.on_schedule},       {"overruns", l.overruns},
               {"lag_p50_seconds", l.lag_p50},       {"lag_p90_seconds", l.lag_p90},
               {"lag_p99_seconds", l.lag_p99},       {"lag_max_seconds", l.lag_max},
               {"duration_p50_seconds", l.duration_p50}, {"duration_p90_seconds", l.duration_p90},
               {"duration_max_seconds", l.duration_max}};
  ordered_json limits;
  limits["total"] = r.input_limits_total;
  ordered_json hits = ordered_json::array();
  for (const InputLimitHit& hit : r.input_limits)
    hits.push_back({{"file", hit.file}, {"limit", hit.limit}, {"effect", hit.effect}});
  limits["hits"] = std::move(hits);
  j["input_limits"] = std::move(limits);
  // comm, cmdline and symbols come from targets and may hold any bytes.
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace leakscope
