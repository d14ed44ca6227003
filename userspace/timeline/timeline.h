// Per (process image, kind, stack) series of live bytes and objects sampled each tick.
// Pure: plain values in, plain values out.
#pragma once

#include <sys/types.h>

#include <compare>
#include <cstdint>
#include <deque>
#include <map>

namespace leakscope {

struct SeriesKey {
  uint32_t trace_id = 0;  // the process image (TraceId)
  uint32_t kind = 0;
  int32_t stack_id = 0;
  uint32_t fn = 0;
  auto operator<=>(const SeriesKey&) const = default;
};

struct Sample {
  double t = 0;  // seconds since tracing began
  int64_t live_bytes = 0;
  int64_t live_objects = 0;
};

// A bounded ring of samples with least-squares trends.
class Series {
 public:
  explicit Series(size_t capacity) : capacity_(capacity) {}
  void add(const Sample& s);
  const std::deque<Sample>& samples() const { return samples_; }
  const Sample& last() const { return samples_.back(); }
  // Slope of the least-squares line through the samples, per second; 0 with
  // fewer than two samples or no time between them.
  double bytes_per_second() const;
  double objects_per_second() const;
  // The same over the samples of the last `span` seconds; 0 with fewer
  // than `min_samples` of them.
  double recent_bytes_per_second(double span, size_t min_samples = 2) const;

 private:
  size_t capacity_;
  std::deque<Sample> samples_;
};

class Timeline {
 public:
  explicit Timeline(size_t capacity = 3600) : capacity_(capacity) {}

  // Records one sample. A series seen for the first time starts with a zero
  // sample at `previous_t`: the ledger row did not exist then, so nothing was
  // live, and a stack that grew within a single tick still shows its growth.
  void record(const SeriesKey& key, const Sample& sample, double previous_t);
  const Series* find(const SeriesKey& key) const;
  // Drops every series of one process image.
  void erase_trace(uint32_t trace_id);
  size_t size() const { return series_.size(); }

 private:
  size_t capacity_;
  std::map<SeriesKey, Series> series_;
};

}  // namespace leakscope
