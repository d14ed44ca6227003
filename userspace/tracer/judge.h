// Judging a tick: the detector over every series that moved, then the alert
// state machine, whose records go to the sinks.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "alerts/dispatcher.h"
#include "alerts/tracker.h"
#include "timeline/timeline.h"
#include "tracer/config.h"
#include "tracer/image_table.h"
#include "tracer/stack_store.h"
#include "tracer/tick_view.h"

namespace leakscope {

class Judge {
 public:
  explicit Judge(const TraceConfig& config);

  // Judges the view's series (an ended image keeps its last verdict) into
  // view.verdicts, and sends what the alerts make of the leaks.
  void judge(TickView& view, const ImageTable& images, const Timeline& timeline, StackStore& stacks);
  // Resolves every firing alert and waits up to `seconds` for the sinks.
  void finish(double seconds);
  // Drops what is kept for an image that is forgotten.
  void forget(TraceId id);
  // The alerts' timings of a reloaded config (the detector's options are
  // read from the config each tick).
  void set_alert_options(const AlertOptions& options) { alerts_.set_options(options); }

  size_t alerts_firing() const { return alerts_.firing(); }
  std::vector<SinkHealth> sink_health() const;

 private:
  const TraceConfig& config_;
  std::string host_;
  AlertTracker alerts_;
  std::unique_ptr<Dispatcher> dispatcher_;
  // Each leak's stack as its alerts carry it: held back while its names are
  // looked up (a few ticks at most), then the frames of its first alert,
  // kept, so that names arriving later never change its fingerprint.
  struct AlertStack {
    int waited = 0;  // ticks held back for names
    bool sent = false;
    std::vector<Frame> frames;
    size_t leak_site = 0;
  };
  std::map<SeriesKey, AlertStack> alert_stacks_;
};

}  // namespace leakscope
