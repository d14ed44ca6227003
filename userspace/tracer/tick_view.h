// One view of a tick: every ledger row, the detector's verdicts, each
// image's totals and one Health computed once from the kernel's counters and
// the page ledger. The report, the metrics and `status` are functions of it
// (and of the images, the timeline and the stacks it refers to), so they
// cannot disagree on a figure.
#pragma once

#include <map>
#include <vector>

#include "detector/detector.h"
#include "metrics/metrics.h"
#include "probes/kernel.h"
#include "report/model.h"
#include "timeline/timeline.h"
#include "tracer/allocator_growth.h"
#include "tracer/config.h"
#include "tracer/image_table.h"
#include "tracer/stack_store.h"

namespace leakscope {

SeriesKey key_of(const LedgerRow& row);

// What an image holds now, over its ledgers (its rss sample left out:
// that is the same memory seen from /proc).
struct ImageTotals {
  int64_t live_bytes = 0;
  int64_t live_objects = 0;
};

struct TickView {
  double t = 0;        // seconds since tracing began
  uint64_t ticks = 0;  // ticks so far
  std::vector<LedgerRow> rows;               // kernel, event ledgers, ended images, rss
  std::map<SeriesKey, Assessment> verdicts;  // the last verdict of every series judged
  // Series that are the allocator's growth (tracer/allocator_growth.h):
  // never judged; reports show them as the allocator's footprint.
  std::map<SeriesKey, AllocatorGrowth> allocator_growth;
  std::map<TraceId, ImageTotals> totals;
  Health health;
  double tick_seconds = 0;      // wall time the last tick took
  double tick_cpu_seconds = 0;  // CPU time it took

  // Rows and totals of a new tick; the health figures that depend on them.
  void set_rows(double now, std::vector<LedgerRow> all_rows, const Counters& counters,
                uint64_t fault_pages_dropped, const MapSizes& sizes);
  // Forgets what is kept of one image.
  void forget(TraceId id);
};

// What a report is built from besides the view.
struct ReportSources {
  const TraceConfig& config;
  const ImageTable& images;
  const Timeline& timeline;
  StackStore& stacks;  // symbolizes the stacks a report carries
  std::function<bool(TraceId)> drilled;          // --all: drill-down running or confirmed
  std::function<bool(pid_t)> allocator_probes;   // allocator probes on now
  std::vector<ObjectAges> ages;                  // empty: no age figures
  std::function<std::string(TraceId)> backed_off; // --all: why its last drill-down backed off
};

// The report at `t` seconds (the last tick or later).
Report build_report(const TickView& view, ReportSources& sources, double t, bool final);

// The Prometheus snapshot of a tick (the tracer's own costs and the sinks
// are filled by the caller).
MetricsSnapshot metrics_snapshot(const TickView& view, const ImageTable& images, const Timeline& timeline,
                                 const MapSizes& sizes);

}  // namespace leakscope
