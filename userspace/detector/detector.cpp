// The growth detector. A leak raises the *floor* of a series (the lowest value
// it comes back down to); caches level off and transient buffers come and go
// without moving it. So the last `window_seconds` are cut into 6 equal time
// buckets, each bucket is reduced to its minimum, and the verdict is read off
// those floors with robust statistics: a Theil-Sen slope (median of pairwise
// slopes) and a Kendall tau-a (rising minus falling pairs, over all pairs).
//
// leak:      history >= min_span, slope >= min_rate, tau >= 0.6, the floor rose
//            by >= min_rate * span / 2 and by more than twice the noise, no
//            single bucket-to-bucket jump carries more than 45% of that rise
//            (steps and two-level spikes are not growth), and the recent half
//            still rises at >= min_rate / 2 (a levelled-off cache drops out).
// growing:   the same, weaker: half the history, slope > 0, tau >= 0.4, a rise
//            of min_rate * span / 4, largest jump <= 75%, still rising.
// shrinking: half the history, slope <= -min_rate, tau <= -0.6, a fall of
//            min_rate * span / 2 above the noise, largest drop <= 75%.
// early:     a series with less than half of min_span of history, none of
//            it before the window (a new stack, a new trace): too young for
//            any trend, whatever its rate so far.
// stable:    anything else.
#include "detector/detector.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

namespace leakscope {

namespace {

constexpr size_t kBuckets = 6;     // floors per window
constexpr size_t kMinBuckets = 4;  // fewer non-empty buckets: no opinion
constexpr double kLeakTau = 0.6;   // rising minus falling pairs >= 60% of pairs
constexpr double kGrowingTau = 0.4;
constexpr double kLeakStepShare = 0.45;        // largest jump < half the rise
constexpr double kTrendStepShare = 0.75;       // for growing / shrinking
constexpr double kGrowingForTolerance = 0.25;  // of min_rate, per step
constexpr double kNoiseFactor = 2;             // a rise must beat twice the noise

struct Floor {
  double t = 0;  // bucket centre
  double value = 0;
};


double value_of(const Sample& s, bool objects) {
  return static_cast<double>(objects ? s.live_objects : s.live_bytes);
}

// Upper median (the plain median for odd sizes); reorders `v`.
double median_of(std::vector<double>& v) {
  if (v.empty()) return 0;
  auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  return *mid;
}

using SampleIter = std::deque<Sample>::const_iterator;

// Minimum of each of kBuckets equal time buckets over [t0, t1]; empty
// buckets are left out.
std::vector<Floor> bucket_floors(SampleIter begin, SampleIter end, double t0, double t1,
                                 bool objects) {
  std::array<double, kBuckets> mins{};
  std::array<bool, kBuckets> seen{};
  const double width = (t1 - t0) / static_cast<double>(kBuckets);
  for (SampleIter it = begin; it != end; ++it) {
    double pos = width > 0 ? (it->t - t0) / width : 0;
    size_t i = pos <= 0 ? 0 : std::min(kBuckets - 1, static_cast<size_t>(pos));
    double v = value_of(*it, objects);
    if (!seen[i] || v < mins[i]) mins[i] = v;
    seen[i] = true;
  }
  std::vector<Floor> floors;
  for (size_t i = 0; i < kBuckets; ++i)
    if (seen[i]) floors.push_back(Floor{t0 + (static_cast<double>(i) + 0.5) * width, mins[i]});
  return floors;
}

// Median of the pairwise slopes.
double theil_sen(const std::vector<Floor>& f) {
  std::vector<double> slopes;
  for (size_t i = 0; i < f.size(); ++i)
    for (size_t j = i + 1; j < f.size(); ++j)
      if (f[j].t > f[i].t) slopes.push_back((f[j].value - f[i].value) / (f[j].t - f[i].t));
  if (slopes.empty()) return 0;
  size_t mid = slopes.size() / 2;
  std::nth_element(slopes.begin(), slopes.begin() + static_cast<std::ptrdiff_t>(mid), slopes.end());
  double upper = slopes[mid];
  if (slopes.size() % 2 == 1) return upper;
  double lower =
      *std::max_element(slopes.begin(), slopes.begin() + static_cast<std::ptrdiff_t>(mid));
  return (lower + upper) / 2;
}

// Kendall tau-a: (rising pairs - falling pairs) / all pairs. Ties count as
// neither, so a single step in an otherwise flat series stays well below 1.
double kendall_tau(const std::vector<Floor>& f) {
  long long score = 0, pairs = 0;
  for (size_t i = 0; i < f.size(); ++i)
    for (size_t j = i + 1; j < f.size(); ++j) {
      ++pairs;
      if (f[j].value > f[i].value) ++score;
      if (f[j].value < f[i].value) --score;
    }
  return pairs ? static_cast<double>(score) / static_cast<double>(pairs) : 0;
}

// How long the floor has kept rising: walks back from the newest sample in
// buckets of `width` seconds while each bucket's minimum lies at least
// `tolerance` per bucket below the minimum of the bucket after it. Returns the
// time from the lowest point of that run to now. Stops at the first bucket
// that does not rise, so a stable series costs only a bucket or two.
double growing_for(SampleIter begin, SampleIter end, bool objects, double width, double tolerance) {
  if (end - begin < 2 || width <= 0) return 0;
  const Sample& newest = *(end - 1);
  const double now = newest.t;
  auto bucket_of = [&](double t) { return static_cast<long long>(std::floor((now - t) / width)); };

  bool have_later = false;
  double later_floor = 0;
  long long later_bucket = 0;
  double run_start = now;
  bool rising = false;

  long long cur_bucket = bucket_of(newest.t);
  double cur_min = value_of(newest, objects);
  double cur_min_t = newest.t;

  // Folds the finished bucket into the run; false when the run ends.
  auto close_bucket = [&]() {
    if (have_later) {
      double needed = tolerance * static_cast<double>(cur_bucket - later_bucket);
      if (later_floor - cur_min < needed) return false;
      rising = true;
      run_start = cur_min_t;
    }
    have_later = true;
    later_floor = cur_min;
    later_bucket = cur_bucket;
    return true;
  };

  for (auto it = std::make_reverse_iterator(end) + 1; it != std::make_reverse_iterator(begin);
       ++it) {
    long long b = bucket_of(it->t);
    double v = value_of(*it, objects);
    if (b != cur_bucket) {
      if (!close_bucket()) return rising ? now - run_start : 0;
      cur_bucket = b;
      cur_min = v;
      cur_min_t = it->t;
    } else if (v <= cur_min) {
      cur_min = v;
      cur_min_t = it->t;
    }
  }
  close_bucket();
  return rising ? now - run_start : 0;
}

// The ordinary up-and-down of the series around its trend: for each bucket,
// how far its median lies above its minimum once the trend `slope` is taken
// out; the median of that over the buckets.
double noise_level(SampleIter begin, SampleIter end, double t0, double t1, double slope,
                   bool objects) {
  std::array<std::vector<double>, kBuckets> values;
  const double width = (t1 - t0) / static_cast<double>(kBuckets);
  for (SampleIter it = begin; it != end; ++it) {
    double pos = width > 0 ? (it->t - t0) / width : 0;
    size_t i = pos <= 0 ? 0 : std::min(kBuckets - 1, static_cast<size_t>(pos));
    values[i].push_back(value_of(*it, objects) - slope * (it->t - t0));
  }
  std::vector<double> spreads;
  for (std::vector<double>& v : values) {
    if (v.empty()) continue;
    double lowest = *std::min_element(v.begin(), v.end());
    spreads.push_back(median_of(v) - lowest);
  }
  return median_of(spreads);
}

// The same from one sample to the next, for buckets too sparse to have a
// spread of their own: the median absolute deviation of the tick-to-tick
// changes once the trend is taken out, scaled to a standard deviation.
double step_noise(SampleIter begin, SampleIter end, double slope, bool objects) {
  std::vector<double> d;
  for (SampleIter it = begin; it != end && it + 1 != end; ++it)
    d.push_back(value_of(*(it + 1), objects) - value_of(*it, objects) -
                slope * ((it + 1)->t - it->t));
  if (d.size() < 2) return 0;
  double centre = median_of(d);
  for (double& x : d) x = std::fabs(x - centre);
  return 1.4826 * median_of(d);
}

double clamp01(double x) { return std::clamp(x, 0.0, 1.0); }

}  // namespace

std::string_view verdict_name(Verdict verdict) {
  switch (verdict) {
    case Verdict::Stable:
      return "stable";
    case Verdict::Growing:
      return "growing";
    case Verdict::Leak:
      return "leak";
    case Verdict::Shrinking:
      return "shrinking";
    case Verdict::Early:
      return "early";
  }
  return "unknown";
}

const KindThresholds& DetectorOptions::for_kind(Kind kind) const {
  switch (kind) {
    case Kind::Heap:
      return heap;
    case Kind::Mmap:
      return mmap;
    case Kind::Brk:
      return brk;
    case Kind::Timerfd:
      return timerfd;
    case Kind::Epoll:
      return epoll;
    case Kind::Rss:
      return rss;
    case Kind::Fault:
      return fault;
    case Kind::Js:
      return js;
  }
  return heap;
}

Assessment assess(const Series& series, Kind kind, const DetectorOptions& options) {
  Assessment a;
  const bool objects = counts_objects(kind);
  a.evidence.unit = objects ? "objects/s" : "bytes/s";
  const std::deque<Sample>& all = series.samples();
  // History a trend needs: less of it, with none before, is early.
  const double trend_span = options.min_span_seconds / 2;
  if (all.empty()) {
    a.verdict = Verdict::Early;  // no history at all
    a.evidence.needed_seconds = trend_span;
    return a;
  }
  // A new stack's series starts with the timeline's zero sample ("did not
  // exist yet"). It is kept: a burst leak's first burst is its first step.
  // A stack that appears big and then stays flat is still no leak, since no
  // single step may carry most of the rise.
  const SampleIter start = all.begin();

  const double min_rate = std::max(options.for_kind(kind).min_rate, 1e-9);
  const double window = std::max(options.window_seconds, 1e-3);
  const double now = all.back().t;

  auto first =
      std::partition_point(start, all.end(), [&](const Sample& s) { return s.t < now - window; });
  const double span = now - first->t;
  Evidence& e = a.evidence;
  e.window_seconds = span;
  e.samples = static_cast<size_t>(all.end() - first);

  std::vector<Floor> floors = bucket_floors(first, all.end(), first->t, now, objects);
  if (floors.empty()) return a;
  e.floor_start = static_cast<int64_t>(floors.front().value);
  e.floor_end = static_cast<int64_t>(floors.back().value);
  // History before the window, but too little in it to judge (a verdict
  // of a young series needs min_span_seconds of history): a stopped series
  // whose samples are coming back, not a new one.
  const bool history_before = all.front().t < now - window;
  const bool young = !history_before && span < trend_span;
  if (young) {
    a.verdict = Verdict::Early;
    e.needed_seconds = trend_span;
  }
  if (floors.size() < kMinBuckets || span <= 0 || (history_before && span < options.min_span_seconds)) {
    e.sparse = history_before;
    // A young series' rate so far, from what floors it has (a stack born
    // a tick or two before the final report is not shown as flat).
    if (young) e.rate = theil_sen(floors);
    return a;  // early or stable, no confidence
  }

  const double slope = theil_sen(floors);
  const double tau = kendall_tau(floors);
  e.rate = slope;
  e.trend = tau;

  const double rise = floors.back().value - floors.front().value;
  const size_t mid = (floors.size() - 1) / 2;
  const double recent_rise = floors.back().value - floors[mid].value;
  const double recent_span = floors.back().t - floors[mid].t;
  double max_up = 0, max_down = 0;
  for (size_t i = 1; i < floors.size(); ++i) {
    double step = floors[i].value - floors[i - 1].value;
    max_up = std::max(max_up, step);
    max_down = std::max(max_down, -step);
  }

  const double noise = std::max(noise_level(first, all.end(), first->t, now, slope, objects),
                                step_noise(first, all.end(), slope, objects));
  const bool above_noise = std::fabs(rise) >= kNoiseFactor * noise;

  const double coverage = clamp01(span / window);
  const double strength = clamp01(std::fabs(slope) / (4 * min_rate));
  const bool enough_for_leak = span >= options.min_span_seconds;
  const bool enough_for_trend = span >= trend_span;

  const bool leak = enough_for_leak && slope >= min_rate && tau >= kLeakTau &&
                    rise >= min_rate * span / 2 && above_noise && max_up <= kLeakStepShare * rise &&
                    recent_rise >= 0.5 * min_rate * recent_span;
  const bool growing = enough_for_trend && slope > 0 && tau >= kGrowingTau &&
                       rise >= min_rate * span / 4 && above_noise &&
                       max_up <= kTrendStepShare * rise && recent_rise > 0;
  const double drop = -rise;
  const bool shrinking = enough_for_trend && slope <= -min_rate && tau <= -kLeakTau &&
                         drop >= min_rate * span / 2 && above_noise &&
                         max_down <= kTrendStepShare * drop;

  if (young) {
    // The rate so far is in the evidence; no verdict, no confidence.
  } else if (leak) {
    a.verdict = Verdict::Leak;
    a.confidence = clamp01(0.5 * tau + 0.25 * coverage + 0.25 * strength);
  } else if (growing) {
    a.verdict = Verdict::Growing;
    a.confidence = clamp01(0.5 * tau + 0.25 * coverage + 0.25 * clamp01(slope / min_rate));
  } else if (shrinking) {
    a.verdict = Verdict::Shrinking;
    a.confidence = clamp01(0.5 * -tau + 0.25 * coverage + 0.25 * strength);
  } else {
    a.verdict = Verdict::Stable;
    a.confidence = clamp01(0.5 * (1 - clamp01(std::fabs(slope) / min_rate)) + 0.5 * coverage);
  }
  // Only a rising verdict has been "growing for" some time.
  if (a.verdict == Verdict::Leak || a.verdict == Verdict::Growing)
    e.growing_for_seconds =
        growing_for(start, all.end(), objects, window / static_cast<double>(kBuckets),
                    kGrowingForTolerance * min_rate * window / static_cast<double>(kBuckets));
  return a;
}

}  // namespace leakscope
