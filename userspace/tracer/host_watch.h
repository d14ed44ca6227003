// --all: every process of the host, watched cheaply (the syscall kinds,
// page faults, its anonymous memory from /proc), with allocator probes
// spent only where memory grows: a drill-down attaches them for
// --drill-for, at most --drill-max at a time, and takes them off again
// unless a heap leak is confirmed meanwhile; each drill that finds none
// doubles the wait before the next one on that image.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "detector/detector.h"
#include "target/process.h"
#include "timeline/timeline.h"
#include "tracer/config.h"
#include "tracer/image_table.h"

namespace leakscope {

// What a drill-down does to an image's allocator probes.
class DrillProbes {
 public:
  virtual ~DrillProbes() = default;
  // Puts allocator probes on; false when none could be attached.
  virtual bool start(TracedImage& image, double t) = 0;
  virtual void stop(TracedImage& image) = 0;
};

class HostWatch {
 public:
  explicit HostWatch(const TraceConfig& config);

  // Whether --all traces this process at all (filters, never ourselves).
  bool wants(pid_t pid, const ProcessInfo& info, const std::string& cgroup) const;
  // Starts tracing every process of the host not traced yet, through
  // `attach` (which throws FatalError for a process it cannot trace).
  void scan(const ImageTable& images, const std::function<void(pid_t)>& attach);

  // Each live image's anonymous resident memory this tick, as rows of kind rss.
  void sample_rss(const ImageTable& images, double t);
  std::vector<LedgerRow> rss_rows() const;

  // Starts and ends drill-downs from what the last tick showed: `verdicts`
  // of every series, the images' rss series in `timeline`.
  void steer(double t, ImageTable& images, const std::map<SeriesKey, Assessment>& verdicts,
             const Timeline& timeline, bool heap_enabled, DrillProbes& probes);

  // An operator asked for allocator probes on the image, to stay.
  void keep(TraceId id);
  bool drilled(TraceId id) const;   // a drill-down is running on it or was confirmed
  bool drilling(TraceId id) const;  // running, not confirmed yet
  void image_execd(TraceId old, TraceId next);  // the drill goes on in the new image
  void forget(TraceId id);

 private:
  struct Drill {
    double until = -1;      // allocator probes come off then (< 0: not drilling)
    bool confirmed = false; // a heap leak was confirmed: probes stay
    int without_leak = 0;   // drills that found none: each doubles the wait
    double cooldown_until = 0;
  };

  const TraceConfig& config_;
  std::map<pid_t, uint64_t> skipped_;   // PID -> start time, not to be traced
  std::map<TraceId, Drill> drills_;
  std::map<TraceId, Sample> rss_;        // each live image's memory this tick
};

}  // namespace leakscope
