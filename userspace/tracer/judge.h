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
  // Resolves every firing alert and waits (boundedly) for the sinks.
  void finish();

  size_t alerts_firing() const { return alerts_.firing(); }
  std::vector<SinkHealth> sink_health() const;

 private:
  const TraceConfig& config_;
  std::string host_;
  AlertTracker alerts_;
  std::unique_ptr<Dispatcher> dispatcher_;
  // Leaks held back from the alerts while their stacks' names are looked up
  // (a few ticks at most): how many ticks each waited.
  std::map<SeriesKey, int> name_waits_;
};

}  // namespace leakscope
