// Tells a leak from a cache: turns one stack's timeline into a verdict with
// a confidence and the evidence behind it. Pure: plain values in and out.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/types.h"
#include "timeline/timeline.h"

namespace leakscope {

// Early: a series younger than a trend needs (half of min_span_seconds),
// so nothing can be said of it yet, however fast it moves.
enum class Verdict { Stable, Growing, Leak, Shrinking, Early };
std::string_view verdict_name(Verdict verdict);  // "stable", "growing", "leak", "shrinking", "early"

// Per-kind thresholds. Heap and mmap are judged in bytes/s; timerfd and
// epoll in objects/s (live count is their natural unit).
struct KindThresholds {
  double min_rate = 1024;  // bytes/s (heap, mmap, brk) or objects/s (timerfd, epoll)
};

struct DetectorOptions {
  double window_seconds = 60;     // how much history a verdict looks at
  double min_span_seconds = 20;   // no "leak" before this much history
  KindThresholds heap{1024};
  KindThresholds mmap{4096};
  KindThresholds brk{4096};
  KindThresholds timerfd{0.2};
  KindThresholds epoll{0.2};
  KindThresholds rss{4096};
  KindThresholds fault{4096};
  KindThresholds js{1024};
  const KindThresholds& for_kind(Kind kind) const;
  KindThresholds& thresholds_for(Kind kind) {
    return const_cast<KindThresholds&>(static_cast<const DetectorOptions*>(this)->for_kind(kind));
  }
};

// Why a verdict was reached, in numbers a person can check.
struct Evidence {
  double rate = 0;              // growth per second in `unit` (robust slope)
  std::string_view unit;        // "bytes/s" or "objects/s"
  double window_seconds = 0;    // span of history the verdict used
  double trend = 0;             // monotonic trend statistic in [-1, 1] (1: rises every step)
  double growing_for_seconds = 0;  // how long the floor has been rising without a fall
  int64_t floor_start = 0;      // low-water mark at the start of the window
  int64_t floor_end = 0;        // ... and at its end
  size_t samples = 0;
  // The series is older than the window but too few samples fall inside it
  // to judge (its samples stopped coming: a loop held up, a row gone quiet).
  // Such an assessment says nothing: the judge keeps the previous verdict.
  bool sparse = false;
  // History a trend needs (an early verdict: more than window_seconds).
  double needed_seconds = 0;
};

struct Assessment {
  Verdict verdict = Verdict::Stable;
  double confidence = 0;  // 0..1
  Evidence evidence;
};

// Judges `series` (live bytes and objects sampled each tick, `now` being the
// time of its last sample) for a stack of `kind`.
Assessment assess(const Series& series, Kind kind, const DetectorOptions& options);

}  // namespace leakscope
