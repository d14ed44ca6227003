// The one configuration value the CLI builds and the tracer runs from.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "alerts/tracker.h"
#include "core/log.h"
#include "detector/detector.h"
#include "probes/kernel.h"
#include "report/formats.h"

namespace leakscope {

struct TraceConfig {
  std::vector<pid_t> pids;           // -p
  std::vector<std::string> command;  // -- CMD ARGS
  bool follow_children = false;      // trace children of traced processes from birth
  // --all: every process of the host, cheaply (syscall kinds, RSS), with
  // allocator probes only where memory grows (drill-down).
  bool all = false;
  double drill_rate = 256 * 1024;  // bytes/s of process growth that starts a drill-down
  double drill_seconds = 60;       // how long allocator probes stay on
  size_t drill_max = 4;            // drill-downs at once
  std::vector<std::string> comms;  // --comm filters (any of them)
  std::string cgroup_filter;       // --cgroup: path prefix
  std::vector<pid_t> exclude_pids; // --exclude-pid
  size_t keep_exited = 256;        // ended images whose report is kept
  size_t report_stacks = 1000;     // stacks a report carries (the first of the ranking)
  double tick_seconds = 1.0;         // ledger sampling period
  double interval_seconds = 5.0;     // periodic table
  double duration_seconds = 0;       // 0: until stopped or targets exit
  size_t top = 10;
  bool quiet = false;                // no periodic table
  std::string json_path;             // final report as JSON
  KernelOptions kernel;
  DetectorOptions detector;
  AlertOptions alerts;
  std::vector<std::string> alert_sinks;  // --alert specs
  std::string metrics_address;           // --metrics ADDR:PORT
  std::string control_path;              // control socket ("" = none)
  std::string report_dir;                // SIGUSR1 / --report-every output
  double report_every_seconds = 0;       // 0: only on SIGUSR1
  size_t report_keep = 10;               // reports kept in report_dir
  std::vector<Format> report_formats = {Format::Json, Format::Text};
  FoldedWeight folded_weight = FoldedWeight::LiveBytes;
  // --unwind: user stacks walked in the kernel by CFI where a module's
  // unwind table loads (false: no tables, the kernel's frame-pointer walk
  // for every process; a diagnostic, e.g. for tools/bench).
  bool unwind_cfi = true;
  // Kind js (a userspace kind: its bit in kernel.kinds_mask is ignored by
  // the kernel): Node.js processes' JS heaps sampled through their
  // inspector, for -p and -- CMD targets; under --all only with drill_js.
  bool js = false;
  bool drill_js = false;                    // --all: JS drill-down for Node processes whose memory grows
  uint32_t js_sampling_interval = 32 * 1024;  // bytes between V8's samples, on average
  double js_pull_seconds = 0;                 // a profile pulled this often (0: every tick)
  // --max-memory: the tracer's own resident memory is kept under this:
  // near it, caches are shed; past it, the report says so.
  uint64_t max_memory_bytes = 512ull << 20;
};

}  // namespace leakscope
