// The ages of live heap objects for reports, read off the trace loop. One
// pass over the objects map takes about a second at a million entries; a
// report on request (a control client, --report-every) must not hold a tick
// for it. A worker thread scans; a report takes the latest scan, aged by the
// time since it was taken (objects freed since are still in it: the figures
// are of the objects live at that moment). The worker is never joined: a
// scan under way must not hold the tracer's exit.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "probes/kernel.h"

namespace leakscope {

class AgeScan {
 public:
  struct Snapshot {
    std::vector<ObjectAges> ages;
    std::chrono::steady_clock::time_point taken;  // when the scan began
  };

  explicit AgeScan(ObjectAgeScan scan);
  ~AgeScan();
  AgeScan(const AgeScan&) = delete;
  AgeScan& operator=(const AgeScan&) = delete;

  // Starts a scan of the images `ids`, unless one is under way.
  void start(std::set<TraceId> ids);
  // Waits for the scan under way until `deadline`: true when none is.
  bool wait(std::chrono::steady_clock::time_point deadline) const;
  // The latest finished scan, its ages moved on to `now`; nullopt before
  // the first one finished.
  std::optional<std::vector<ObjectAges>> latest(std::chrono::steady_clock::time_point now) const;

 private:
  struct State;
  std::shared_ptr<State> state_;  // shared with the worker, which may outlive us
};

}  // namespace leakscope
