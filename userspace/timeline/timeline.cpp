#include "timeline/timeline.h"

#include <cstdint>
#include <iterator>

namespace leakscope {

namespace {

template <typename Iter, typename Value>
double slope(Iter begin, Iter end, Value value) {
  const auto n = static_cast<size_t>(std::distance(begin, end));
  if (n < 2) return 0;
  double mean_t = 0, mean_v = 0;
  for (Iter it = begin; it != end; ++it) {
    mean_t += it->t;
    mean_v += static_cast<double>(value(*it));
  }
  mean_t /= static_cast<double>(n);
  mean_v /= static_cast<double>(n);
  double num = 0, den = 0;
  for (Iter it = begin; it != end; ++it) {
    const Sample& s = *it;
    double dt = s.t - mean_t;
    num += dt * (static_cast<double>(value(s)) - mean_v);
    den += dt * dt;
  }
  return den > 0 ? num / den : 0;
}

}  // namespace

void Series::add(const Sample& s) {
  samples_.push_back(s);
  while (samples_.size() > capacity_) samples_.pop_front();
}

double Series::bytes_per_second() const {
  return slope(samples_.begin(), samples_.end(), [](const Sample& s) { return s.live_bytes; });
}

double Series::objects_per_second() const {
  return slope(samples_.begin(), samples_.end(), [](const Sample& s) { return s.live_objects; });
}

double Series::recent_bytes_per_second(double span, size_t min_samples) const {
  if (samples_.empty()) return 0;
  auto first = samples_.end();
  while (first != samples_.begin() && samples_.back().t - std::prev(first)->t <= span) --first;
  if (static_cast<size_t>(std::distance(first, samples_.end())) < min_samples) return 0;
  return slope(first, samples_.end(), [](const Sample& s) { return s.live_bytes; });
}

void Timeline::record(const SeriesKey& key, const Sample& sample, double previous_t) {
  auto it = series_.find(key);
  if (it == series_.end()) {
    it = series_.emplace(key, Series(capacity_)).first;
    if (previous_t < sample.t) it->second.add(Sample{previous_t, 0, 0});
  }
  it->second.add(sample);
}

const Series* Timeline::find(const SeriesKey& key) const {
  auto it = series_.find(key);
  return it == series_.end() ? nullptr : &it->second;
}

void Timeline::erase_trace(uint32_t trace_id) {
  auto it = series_.lower_bound(SeriesKey{trace_id, 0, INT32_MIN, 0});
  while (it != series_.end() && it->first.trace_id == trace_id) it = series_.erase(it);
}

}  // namespace leakscope
