// The trace loop's punctuality: when each tick was due, when it began and
// how long it took. A tick is on schedule when it begins within one period
// of when it was due; a tick that takes longer than one period overran
// (the next one will be late). Status, metrics and the report's trust
// figures read timing(), so a tracer that fell behind says so.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "report/model.h"

namespace leakscope {

class TickClock {
 public:
  explicit TickClock(double period_seconds, size_t recent = 1024);

  // One tick, in seconds since tracing began.
  void record(double due, double began, double ended);
  // Counts over the whole run; percentiles over the last `recent` ticks.
  LoopTiming timing() const;

 private:
  double period_;
  size_t recent_;
  uint64_t ticks_ = 0;
  uint64_t on_schedule_ = 0;
  uint64_t overruns_ = 0;
  double lag_max_ = 0;
  double duration_max_ = 0;
  double last_lag_ = 0;
  double last_duration_ = 0;
  std::vector<double> lags_;       // ring of the last `recent_`
  std::vector<double> durations_;  // same ticks, same order
  size_t next_ = 0;
};

// Where one tick's time went, phase by phase, to say why a tick overran.
class TickPhases {
 public:
  void begin();
  // The phase that ends now (a string literal: kept by pointer).
  void end(const char* phase);
  // ": events 0.002 s, attach 1.310 s, ..." (phases over 1 ms).
  std::string describe() const;

 private:
  std::chrono::steady_clock::time_point last_;
  std::vector<std::pair<const char*, double>> phases_;
};

}  // namespace leakscope
