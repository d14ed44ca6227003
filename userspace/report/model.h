// What a report says, as plain values. Every format renders this one value.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/input_limits.h"
#include "core/types.h"
#include "detector/detector.h"
#include "report/health.h"
#include "timeline/timeline.h"

namespace leakscope {

inline constexpr int kReportSchemaVersion = 1;

// Memory the allocator took from the OS (brk, mmap) while serving calls:
// its growth (tracer/allocator_growth.h), never judged on its own.
struct AllocatorGrowthFigures {
  int64_t held_bytes = 0;          // live regions its growth holds from the OS
  int64_t regions = 0;             // how many
  double growth_bytes_per_sec = 0; // least-squares slope over the run
};

struct StackEntry {
  pid_t pid = 0;
  // --sample N: live bytes and objects are estimates; the half-width of
  // their 95% interval, relative (0.1 = +-10%). 0 when not sampled.
  double estimate_error = 0;
  uint32_t trace_id = 0;  // the process image (a PID can run several in turn)
  std::string comm;
  Kind kind = Kind::Heap;
  std::string allocator;  // "malloc", "operator new", ...
  uint32_t fn = 0;        // the same as a number (the allocator function's id; mmap: backing)
  int64_t armed = 0;      // timerfd: live timers armed
  // Growth in the kind's natural unit over its --min-rate: what ranks stacks
  // of different kinds against each other.
  double rank_score = 0;
  int32_t stack_id = 0;
  int64_t live_bytes = 0;
  int64_t live_objects = 0;
  uint64_t allocs = 0;
  uint64_t frees = 0;
  uint64_t bytes_allocated = 0;
  double growth_bytes_per_sec = 0;
  double growth_objects_per_sec = 0;
  std::vector<Frame> frames;  // innermost first: the allocator's caller, or the JS function that allocated
  // Index in `frames` of the leak site: 0 (the allocator's caller) for
  // native stacks; for js stacks the first frame of the user's own code
  // (not node:internal/*, not node_modules), the frames inside the runtime
  // and libraries above it kept. Every format marks it.
  size_t leak_site = 0;
  // The walk was cut at an address that is not code (tracer/stack_store.h):
  // callers beyond the last frame exist but are unknown. Every format shows
  // it, so that a short stack is not read as the whole story.
  bool truncated = false;
  // The detector's judgement over its window, and the age of what is live.
  Assessment assessment;
  double oldest_age_seconds = 0;
  double median_age_seconds = 0;
  // Live bytes/objects over time (seconds since tracing began), for charts.
  // Filled for the top stacks only, to keep reports bounded.
  std::vector<Sample> history;
  // Heap stacks: what the allocator grew by in this stack's calls (the
  // growth's stack continues into these frames).
  AllocatorGrowthFigures allocator_growth;
};

// One traced image of a process (the JSON report lists them under
// "processes": a process that exec'd shows once per image).
struct ImageEntry {
  pid_t pid = 0;
  TraceId trace_id = 0;
  pid_t parent_pid = 0;          // the traced process that forked it or whose exec it is
  std::string origin = "pid";    // "pid", "command", "child", "exec", "host"
  std::string ended;             // "", "exit", "exec", "detach"
  bool allocator_probes = false; // allocator probes on now
  bool drilled = false;          // --all: drill-down running or confirmed
  std::string drill_backed_off;  // --all: why its last drill-down backed off; "" when none did
  std::string comm;
  std::vector<std::string> cmdline;
  std::string allocator_module;
  std::string allocators;  // which allocator serves malloc and which other families were probed
  std::string cgroup;
  std::string container_id;
  bool exited = false;
  bool detached = false;  // tracing ended on request; the process runs on
  double traced_seconds = 0;
  int64_t live_bytes = 0;  // sum over its stacks
  int64_t live_objects = 0;
  // The allocator's footprint: what its growth holds from the OS, how much
  // of that is beyond the live heap blocks (fragmentation, memory kept),
  // and how much of it no heap stack of the report could be given (the
  // growth's stack ends inside the allocator, or its caller's stack is not
  // among the stacks reported).
  AllocatorGrowthFigures allocator_growth;
  int64_t allocator_beyond_live_bytes = 0;
  int64_t allocator_growth_unattributed_bytes = 0;
};

struct SinkStatus {
  std::string name;
  uint64_t delivered = 0;
  uint64_t failures = 0;
  uint64_t dropped = 0;
  std::string last_error;
};

// The trace loop's punctuality (tracer/tick_clock.h): a tick is on schedule
// when it began within one period of when it was due; it overran when it
// took longer than one period. Percentiles are over the last 1024 ticks.
struct LoopTiming {
  double period_seconds = 0;
  uint64_t ticks = 0;
  uint64_t on_schedule = 0;
  uint64_t overruns = 0;
  double lag_p50 = 0, lag_p90 = 0, lag_p99 = 0, lag_max = 0;
  double duration_p50 = 0, duration_p90 = 0, duration_max = 0;
  double last_lag = 0, last_duration = 0;
};

// The heap kind's sampling when the objects map neared full
// (tracer/heap_sampling.h): each step kept 1 in keep_one_in new blocks.
struct HeapSamplingStep {
  double at_seconds = 0;
  uint32_t keep_one_in = 1;
  double objects_map_fill = 0;  // 0..1, when the step was taken
};

struct HeapSamplingInfo {
  uint32_t shift = 0;  // now: 1 in 2^shift new blocks kept
  std::vector<HeapSamplingStep> steps;
};

// What the tracer itself costs: its resident memory against --max-memory,
// and the kernel maps' memory against what they hold at most.
struct TracerCost {
  uint64_t resident_bytes = 0;
  uint64_t peak_resident_bytes = 0;
  uint64_t max_memory_bytes = 0;  // --max-memory
  bool over_budget = false;       // resident past --max-memory even after shedding caches
  uint64_t map_bytes = 0;
  uint64_t map_max_bytes = 0;
};

struct Report {
  int schema_version = kReportSchemaVersion;
  std::string tool_version;
  std::string host;
  std::string generated_at;  // RFC 3339, UTC
  double elapsed_seconds = 0;
  bool final = false;
  std::vector<ImageEntry> processes;
  size_t processes_traced = 0;  // images traced in all (--all lists only some)
  uint32_t sample_every = 1;    // --sample N: heap blocks are accounted 1 in N
  std::vector<StackEntry> stacks;  // rank order: leaks first, then fastest growth
  size_t stacks_total = 0;         // stacks with something live or growing (stacks holds the first)
  Health health;
  double window_seconds = 0;      // the detector's window
  size_t alerts_firing = 0;
  std::vector<SinkStatus> sinks;
  LoopTiming loop;
  TracerCost tracer;
  HeapSamplingInfo heap_sampling;
  // Files of targets read in part or not at all: a size bound hit
  // (core/input_limits.h). `input_limits_total` counts those not listed too.
  std::vector<InputLimitHit> input_limits;
  size_t input_limits_total = 0;
};

// Orders stacks by verdict (leak, growing, early, stable, shrinking), then by the
// detector's growth rate, then growth over the run, live bytes, stack id.
void rank_stacks(std::vector<StackEntry>& stacks);

}  // namespace leakscope
