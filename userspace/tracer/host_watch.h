// --all: every process of the host, watched cheaply (the syscall kinds,
// page faults, its anonymous memory from /proc), with allocator probes
// spent only where memory grows: a drill-down attaches them for
// --drill-for, at most --drill-max at a time, and takes them off again
// unless a heap leak is confirmed meanwhile; each drill that finds none
// doubles the wait before the next one on that image. A drill-down the
// kernel's maps cannot keep up with (allocations dropped tick after tick)
// backs off the same way, and says why.
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

// What the kernel could not keep of the heap kind this tick: allocations
// dropped (objects or ledger map full, entry state not saved) and stacks
// not stored.
struct HeapPressure {
  uint64_t allocations_dropped = 0;
  uint64_t stacks_lost = 0;
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
  // `pressure` is this tick's: when the kernel dropped heap allocations or
  // stacks for kBackOffTicks ticks in a row while drills not yet confirmed
  // ran, the newest of them backs off (probes off, the next drill waits
  // longer).
  void steer(double t, ImageTable& images, const std::map<SeriesKey, Assessment>& verdicts,
             const Timeline& timeline, bool heap_enabled, DrillProbes& probes,
             const HeapPressure& pressure = {});

  // An operator asked for allocator probes on the image, to stay.
  void keep(TraceId id);
  bool drilled(TraceId id) const;   // a drill-down is running on it or was confirmed
  bool drilling(TraceId id) const;  // running, not confirmed yet
  // Why the last drill-down of the image backed off ("" when none did).
  std::string backed_off(TraceId id) const;
  void image_execd(TraceId old, TraceId next);  // the drill goes on in the new image
  void forget(TraceId id);

 private:
  struct Drill {
    double until = -1;      // allocator probes come off then (< 0: not drilling)
    bool confirmed = false; // a heap leak was confirmed: probes stay
    int without_leak = 0;   // drills that found none: each doubles the wait
    double cooldown_until = 0;
    double started = 0;
    std::string backed_off;  // why the last drill backed off
  };
  // Ticks in a row with heap allocations dropped before a drill backs off.
  static constexpr int kBackOffTicks = 3;

  // Ends a running drill that found no leak: probes off, and the next one
  // on the image waits twice as long as the last.
  void end_drill(TracedImage& image, Drill& drill, double t, DrillProbes& probes);

  const TraceConfig& config_;
  std::map<pid_t, uint64_t> skipped_;   // PID -> start time, not to be traced
  std::map<TraceId, Drill> drills_;
  std::map<TraceId, Sample> rss_;        // each live image's memory this tick
  int pressed_ticks_ = 0;                 // ticks in a row the kernel dropped heap allocations
};

}  // namespace leakscope
