#include "tracer/tick_clock.h"

#include <algorithm>

#include "report/units.h"

namespace leakscope {

namespace {

// The q-quantile (0..1) of `values` (copied: the ring stays in tick order).
double quantile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  size_t k = std::min(values.size() - 1, static_cast<size_t>(q * double(values.size())));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
  return values[k];
}

}  // namespace

TickClock::TickClock(double period_seconds, size_t recent)
    : period_(period_seconds), recent_(std::max<size_t>(recent, 1)) {}

void TickClock::record(double due, double began, double ended) {
  const double lag = std::max(0.0, began - due);
  const double duration = std::max(0.0, ended - began);
  ++ticks_;
  if (lag < period_) ++on_schedule_;
  if (duration > period_) ++overruns_;
  lag_max_ = std::max(lag_max_, lag);
  duration_max_ = std::max(duration_max_, duration);
  last_lag_ = lag;
  last_duration_ = duration;
  if (lags_.size() < recent_) {
    lags_.push_back(lag);
    durations_.push_back(duration);
  } else {
    lags_[next_] = lag;
    durations_[next_] = duration;
    next_ = (next_ + 1) % recent_;
  }
}

LoopTiming TickClock::timing() const {
  LoopTiming t;
  t.period_seconds = period_;
  t.ticks = ticks_;
  t.on_schedule = on_schedule_;
  t.overruns = overruns_;
  t.lag_p50 = quantile(lags_, 0.5);
  t.lag_p90 = quantile(lags_, 0.9);
  t.lag_p99 = quantile(lags_, 0.99);
  t.lag_max = lag_max_;
  t.duration_p50 = quantile(durations_, 0.5);
  t.duration_p90 = quantile(durations_, 0.9);
  t.duration_max = duration_max_;
  t.last_lag = last_lag_;
  t.last_duration = last_duration_;
  return t;
}

void TickPhases::begin() {
  phases_.clear();
  last_ = std::chrono::steady_clock::now();
}

void TickPhases::end(const char* phase) {
  auto now = std::chrono::steady_clock::now();
  phases_.emplace_back(phase, std::chrono::duration<double>(now - last_).count());
  last_ = now;
}

std::string TickPhases::describe() const {
  std::string out;
  for (const auto& [phase, seconds] : phases_) {
    if (seconds < 0.001) continue;
    out += (out.empty() ? ": " : ", ") + std::string(phase) + " " + format_duration(seconds);
  }
  return out;
}

}  // namespace leakscope
