#include <gtest/gtest.h>

#include <cmath>
#include <deque>
#include <functional>
#include <random>
#include <vector>

#include "detector/detector.h"

using namespace leakscope;

namespace {

constexpr int64_t KiB = 1024;
constexpr int64_t MiB = 1024 * KiB;
constexpr double kTicks[] = {1.0, 0.5, 0.2};
// History below which a series is early: half of the default min_span.
const double kTrendSpan = DetectorOptions{}.min_span_seconds / 2;

// Live bytes and objects of one stack at time t (called with increasing t).
using Pattern = std::function<Sample(double t)>;

struct Tick {
  double t;
  Assessment a;
};

// Feeds `pattern` to a series tick by tick, as the timeline does: a zero
// sample at t = 0 (the stack did not exist yet), then one sample per tick.
// Returns the assessment made after every tick.
std::vector<Tick> simulate(const Pattern& pattern, double tick, double duration,
                           Kind kind = Kind::Heap, const DetectorOptions& options = {}) {
  Series series(100000);
  series.add(Sample{0, 0, 0});
  std::vector<Tick> out;
  const int n = static_cast<int>(std::lround(duration / tick));
  for (int k = 1; k <= n; ++k) {
    double t = k * tick;
    Sample s = pattern(t);
    s.t = t;
    series.add(s);
    out.push_back(Tick{t, assess(series, kind, options)});
  }
  return out;
}

// Time of the first tick with verdict `v`, or -1.
double first(const std::vector<Tick>& ticks, Verdict v) {
  for (const Tick& k : ticks)
    if (k.a.verdict == v) return k.t;
  return -1;
}

// Time of the last tick with verdict `v`, or -1.
double last(const std::vector<Tick>& ticks, Verdict v) {
  double at = -1;
  for (const Tick& k : ticks)
    if (k.a.verdict == v) at = k.t;
  return at;
}

const Tick& at(const std::vector<Tick>& ticks, double t) {
  for (const Tick& k : ticks)
    if (k.t >= t - 1e-9) return k;
  return ticks.back();
}

// --- patterns ---------------------------------------------------------------

// Allocations of random size adding up to `rate` bytes/s, never freed, plus
// short-lived allocations of the same stack seen in flight at sampling time.
Pattern steady_leak(double rate, unsigned seed) {
  auto rng = std::make_shared<std::mt19937>(seed);
  auto live = std::make_shared<double>(0);
  auto prev = std::make_shared<double>(0);
  return [=](double t) {
    std::uniform_real_distribution<double> pace(0.7, 1.3), transient(0, 4.0 * KiB);
    *live += rate * (t - *prev) * pace(*rng);
    *prev = t;
    auto bytes = static_cast<int64_t>(*live + transient(*rng));
    return Sample{t, bytes, bytes / KiB};
  };
}

// `burst` bytes at once every `period` s from `phase` on, flat between.
Pattern bursty_leak(int64_t burst, double period, double phase, unsigned seed) {
  auto rng = std::make_shared<std::mt19937>(seed);
  return [=](double t) {
    std::uniform_int_distribution<int64_t> jitter(0, 2 * KiB);
    int64_t bursts = t < phase ? 0 : static_cast<int64_t>(std::floor((t - phase) / period)) + 1;
    int64_t bytes = bursts * burst + jitter(*rng);
    return Sample{t, bytes, bytes / KiB};
  };
}

// A cache capped at `cap` entries of random size, `inserts_per_s` inserts
// (each evicting the oldest once full) all the time; a sample may catch an
// insert between its free and its malloc.
Pattern capped_cache(size_t cap, double inserts_per_s, unsigned seed) {
  auto rng = std::make_shared<std::mt19937>(seed);
  auto entries = std::make_shared<std::deque<int64_t>>();
  auto done = std::make_shared<int64_t>(0);
  return [=](double t) {
    std::uniform_int_distribution<int64_t> size(1 * KiB, 3 * KiB);
    std::bernoulli_distribution mid_insert(0.3);
    auto due = static_cast<int64_t>(t * inserts_per_s);
    for (; *done < due; ++*done) {
      if (entries->size() == cap) entries->pop_front();
      entries->push_back(size(*rng));
    }
    int64_t bytes = 0;
    for (int64_t e : *entries) bytes += e;
    auto objects = static_cast<int64_t>(entries->size());
    if (!entries->empty() && mid_insert(*rng)) {
      bytes -= entries->front();
      --objects;
    }
    return Sample{t, bytes, objects};
  };
}

// A 32 MiB buffer held `hold` s out of every `period` s, over a small base.
Pattern big_buffer(double period, double hold, double phase, unsigned seed) {
  auto rng = std::make_shared<std::mt19937>(seed);
  return [=](double t) {
    std::uniform_int_distribution<int64_t> base(0, 3 * KiB);
    bool held = std::fmod(t + phase, period) < hold;
    int64_t bytes = base(*rng) + (held ? 32 * MiB : 0);
    return Sample{t, bytes, held ? 3 : 2};
  };
}

// 64 MiB allocated at `at` s and kept.
Pattern startup_tables(double at, unsigned seed) {
  auto rng = std::make_shared<std::mt19937>(seed);
  return [=](double t) {
    std::uniform_int_distribution<int64_t> jitter(0, 4 * KiB);
    int64_t bytes = (t >= at ? 64 * MiB : 0) + jitter(*rng);
    return Sample{t, bytes, t >= at ? 64 : 0};
  };
}

// +512 B every 250 ms (2 KiB/s) for `fill` s, then flat (with in-flight jitter).
Pattern slow_cache(double fill, unsigned seed) {
  auto rng = std::make_shared<std::mt19937>(seed);
  return [=](double t) {
    std::uniform_int_distribution<int64_t> jitter(0, 1 * KiB);
    auto inserts = static_cast<int64_t>(std::floor(std::min(t, fill) * 4));
    int64_t bytes = inserts * 512 + jitter(*rng);
    return Sample{t, bytes, inserts};
  };
}

// `level` bytes with gaussian noise of `sigma`.
Pattern noisy_flat(int64_t level, double sigma, unsigned seed) {
  auto rng = std::make_shared<std::mt19937>(seed);
  return [=](double t) {
    std::normal_distribution<double> noise(0, sigma);
    auto bytes = static_cast<int64_t>(static_cast<double>(level) + noise(*rng));
    return Sample{t, bytes, 100};
  };
}

// Starts at `level` and falls by `rate` bytes/s (never below zero).
Pattern falling(int64_t level, double rate, unsigned seed) {
  auto rng = std::make_shared<std::mt19937>(seed);
  return [=](double t) {
    std::uniform_int_distribution<int64_t> jitter(0, 2 * KiB);
    double v = std::max(0.0, static_cast<double>(level) - rate * t);
    auto bytes = static_cast<int64_t>(v) + jitter(*rng);
    return Sample{t, bytes, bytes / KiB};
  };
}

// Timers created at `per_s` per second; each cleared after `life` s (or
// never, when life < 0). Live bytes stay 0: timers are counted, not sized.
Pattern timers(double per_s, double life) {
  return [=](double t) {
    auto created = static_cast<int64_t>(std::floor(t * per_s));
    int64_t cleared =
        life < 0 ? 0 : static_cast<int64_t>(std::floor(std::max(0.0, t - life) * per_s));
    return Sample{t, 0, created - cleared};
  };
}

void expect_never_leak(const std::vector<Tick>& ticks) {
  for (const Tick& k : ticks) {
    ASSERT_NE(k.a.verdict, Verdict::Leak)
        << "at t=" << k.t << "s rate " << k.a.evidence.rate << " trend " << k.a.evidence.trend
        << " floor " << k.a.evidence.floor_start << " -> " << k.a.evidence.floor_end;
  }
}

}  // namespace

// --- names and options --------------------------------------------------------

TEST(DetectorTest, VerdictNames) {
  EXPECT_EQ(verdict_name(Verdict::Stable), "stable");
  EXPECT_EQ(verdict_name(Verdict::Growing), "growing");
  EXPECT_EQ(verdict_name(Verdict::Leak), "leak");
  EXPECT_EQ(verdict_name(Verdict::Shrinking), "shrinking");
  EXPECT_EQ(verdict_name(Verdict::Early), "early");
}

TEST(DetectorTest, ThresholdsPerKind) {
  DetectorOptions o;
  o.heap.min_rate = 1;
  o.mmap.min_rate = 2;
  o.brk.min_rate = 3;
  o.timerfd.min_rate = 4;
  o.epoll.min_rate = 5;
  EXPECT_EQ(o.for_kind(Kind::Heap).min_rate, 1);
  EXPECT_EQ(o.for_kind(Kind::Mmap).min_rate, 2);
  EXPECT_EQ(o.for_kind(Kind::Brk).min_rate, 3);
  EXPECT_EQ(o.for_kind(Kind::Timerfd).min_rate, 4);
  EXPECT_EQ(o.for_kind(Kind::Epoll).min_rate, 5);
}

TEST(DetectorTest, EmptyAndTinySeriesAreEarlyWithNoConfidence) {
  Series s(10);
  Assessment a = assess(s, Kind::Heap, {});
  EXPECT_EQ(a.verdict, Verdict::Early);
  EXPECT_EQ(a.confidence, 0);
  EXPECT_EQ(a.evidence.unit, "bytes/s");
  s.add(Sample{0, 0, 0});
  s.add(Sample{1, 10 * MiB, 10});
  a = assess(s, Kind::Heap, {});
  EXPECT_EQ(a.verdict, Verdict::Early);
  EXPECT_EQ(a.confidence, 0);
  EXPECT_EQ(a.evidence.samples, 2u);
  EXPECT_EQ(a.evidence.needed_seconds, kTrendSpan);
  // Its rate so far, from two samples: not shown as flat.
  EXPECT_GT(a.evidence.rate, 5.0 * MiB);
}

TEST(DetectorTest, AYoungSeriesIsEarlyWhateverItsRateThenJudged) {
  // A fast steady leak and a flat series: neither is judged before a
  // trend's worth of history (not "stable" at 15 MiB/s after 9 s), both
  // are at once after it. The rate so far is in the evidence.
  for (double tick : kTicks) {
    SCOPED_TRACE(testing::Message() << "tick " << tick);
    auto leak = simulate(steady_leak(15.0 * MiB, 3), tick, 40);
    auto flat = simulate([](double t) { return Sample{t, 4 * MiB, 40}; }, tick, 40);
    for (const auto* ticks : {&leak, &flat})
      for (const Tick& k : *ticks) {
        if (k.t < kTrendSpan) {
          ASSERT_EQ(k.a.verdict, Verdict::Early) << "at t=" << k.t;
          EXPECT_EQ(k.a.confidence, 0);
          EXPECT_EQ(k.a.evidence.needed_seconds, kTrendSpan);
        } else {
          ASSERT_NE(k.a.verdict, Verdict::Early) << "at t=" << k.t;
          EXPECT_EQ(k.a.evidence.needed_seconds, 0);
        }
      }
    EXPECT_NEAR(at(leak, kTrendSpan - 1).a.evidence.rate, 15.0 * MiB, 5.0 * MiB);
    EXPECT_EQ(at(leak, kTrendSpan).a.verdict, Verdict::Growing);
    EXPECT_EQ(at(flat, kTrendSpan).a.verdict, Verdict::Stable);
  }
  // A shorter window shortens the wait with min_span (half the window).
  DetectorOptions short_window;
  short_window.window_seconds = 8;
  short_window.min_span_seconds = 4;
  auto ticks = simulate(steady_leak(1.0 * MiB, 4), 1.0, 10, Kind::Heap, short_window);
  EXPECT_EQ(at(ticks, 1).a.verdict, Verdict::Early);
  EXPECT_NE(at(ticks, 2).a.verdict, Verdict::Early);
}

TEST(DetectorTest, ASeriesWhoseSamplesStoppedIsSparseNotStable) {
  // A leak sampled every second for 100 s, then nothing until 200 s: the
  // window (60 s) holds one sample. No verdict can come from it, and the
  // assessment says so (the judge keeps the last one).
  Series s(100000);
  for (int t = 0; t <= 100; ++t) s.add(Sample{double(t), int64_t(t) * 64 * 1024, t});
  Assessment before = assess(s, Kind::Heap, {});
  EXPECT_EQ(before.verdict, Verdict::Leak);
  EXPECT_FALSE(before.evidence.sparse);
  s.add(Sample{200, 101 * 64 * 1024, 101});
  Assessment after = assess(s, Kind::Heap, {});
  EXPECT_TRUE(after.evidence.sparse);
  EXPECT_EQ(after.confidence, 0);
  // Samples coming back: still too little of the window to judge (less
  // than min_span_seconds), until there is.
  for (int t = 201; t <= 205; ++t) s.add(Sample{double(t), int64_t(t - 99) * 64 * 1024, t - 99});
  EXPECT_TRUE(assess(s, Kind::Heap, {}).evidence.sparse);
  for (int t = 206; t <= 230; ++t) s.add(Sample{double(t), int64_t(t - 99) * 64 * 1024, t - 99});
  EXPECT_FALSE(assess(s, Kind::Heap, {}).evidence.sparse);
  // A new series with as few samples is young, not stopped.
  Series young(10);
  young.add(Sample{0, 0, 0});
  young.add(Sample{1, MiB, 1});
  EXPECT_FALSE(assess(young, Kind::Heap, {}).evidence.sparse);
}

// --- 1. steady leaks ----------------------------------------------------------

TEST(DetectorTest, SteadyLeakIsLeakWithinThirtySecondsAndStaysLeak) {
  for (double tick : kTicks) {
    for (double rate : {10.0 * KiB, 20.0 * KiB, 1.0 * MiB}) {
      SCOPED_TRACE(testing::Message() << "tick " << tick << " rate " << rate);
      auto ticks = simulate(steady_leak(rate, 7), tick, 120);
      double found = first(ticks, Verdict::Leak);
      ASSERT_GT(found, 0);
      EXPECT_LE(found, 30);
      EXPECT_GE(found, DetectorOptions{}.min_span_seconds);  // not before min_span
      for (const Tick& k : ticks) {
        if (k.t >= found) {
          ASSERT_EQ(k.a.verdict, Verdict::Leak) << "at t=" << k.t;
        }
      }
    }
  }
}

TEST(DetectorTest, EvidenceOfASteadyLeak) {
  for (double tick : kTicks) {
    SCOPED_TRACE(testing::Message() << "tick " << tick);
    const double rate = 10.0 * KiB;
    auto ticks = simulate(steady_leak(rate, 11), tick, 120);
    const Tick& k = at(ticks, 90);
    const Evidence& e = k.a.evidence;
    ASSERT_EQ(k.a.verdict, Verdict::Leak);
    EXPECT_NEAR(e.rate, rate, 0.2 * rate);
    EXPECT_EQ(e.unit, "bytes/s");
    EXPECT_NEAR(e.window_seconds, 60, tick + 1e-6);
    EXPECT_GE(e.trend, 0.9);
    EXPECT_LE(e.trend, 1.0);
    EXPECT_GE(e.growing_for_seconds, 80);  // the whole history, not just the window
    EXPECT_LE(e.growing_for_seconds, 90 + 1e-6);
    EXPECT_GT(e.floor_end, e.floor_start);
    EXPECT_NEAR(double(e.floor_end - e.floor_start), rate * 50, 0.25 * rate * 50);
    EXPECT_NEAR(double(e.samples), 60 / tick + 1, 1.5);
    EXPECT_GT(k.a.confidence, 0.8);
    EXPECT_LE(k.a.confidence, 1.0);
    // Confidence grows with history.
    double early = first(ticks, Verdict::Leak);
    EXPECT_LT(at(ticks, early).a.confidence, k.a.confidence);
  }
}

TEST(DetectorTest, TimerLeakIsJudgedInObjectsPerSecond) {
  for (double tick : kTicks) {
    SCOPED_TRACE(testing::Message() << "tick " << tick);
    auto ticks = simulate(timers(5, -1), tick, 120, Kind::Timerfd);
    double found = first(ticks, Verdict::Leak);
    ASSERT_GT(found, 0);
    EXPECT_LE(found, 30);
    const Evidence& e = at(ticks, 90).a.evidence;
    EXPECT_EQ(at(ticks, 90).a.verdict, Verdict::Leak);
    EXPECT_EQ(e.unit, "objects/s");
    EXPECT_NEAR(e.rate, 5, 1);
    // Same pattern on epoll registrations.
    auto epoll = simulate(timers(5, -1), tick, 60, Kind::Epoll);
    EXPECT_EQ(epoll.back().a.verdict, Verdict::Leak);
    EXPECT_EQ(epoll.back().a.evidence.unit, "objects/s");
  }
}

TEST(DetectorTest, TimersClearedAfterAFewSecondsAreNeverLeak) {
  for (double tick : kTicks) {
    SCOPED_TRACE(testing::Message() << "tick " << tick);
    auto ticks = simulate(timers(5, 3), tick, 180, Kind::Timerfd);
    expect_never_leak(ticks);
    EXPECT_EQ(ticks.back().a.verdict, Verdict::Stable);
  }
}

// --- 2. bursty leak -----------------------------------------------------------

TEST(DetectorTest, BurstyLeakIsLeakWithinSixtySeconds) {
  for (double tick : kTicks) {
    for (double phase : {0.3, 5.0, 9.7}) {
      for (int64_t burst : {100 * KiB, 200 * KiB}) {
        SCOPED_TRACE(testing::Message()
                     << "tick " << tick << " phase " << phase << " burst " << burst);
        auto ticks = simulate(bursty_leak(burst, 10, phase, 3), tick, 150);
        double found = first(ticks, Verdict::Leak);
        ASSERT_GT(found, 0);
        EXPECT_LE(found, 60);
        // Once the window is full it is a leak at every tick.
        for (const Tick& k : ticks) {
          if (k.t >= 70) {
            ASSERT_EQ(k.a.verdict, Verdict::Leak) << "at t=" << k.t;
          }
        }
        EXPECT_NEAR(at(ticks, 150).a.evidence.rate, double(burst) / 10, 0.25 * double(burst) / 10);
      }
    }
  }
}

// --- 3. capped cache ------------------------------------------------------------

TEST(DetectorTest, CappedCacheIsNeverLeak) {
  for (double tick : kTicks) {
    for (double inserts_per_s : {50.0, 400.0}) {
      for (unsigned seed : {1u, 2u}) {
        SCOPED_TRACE(testing::Message()
                     << "tick " << tick << " inserts/s " << inserts_per_s << " seed " << seed);
        auto ticks = simulate(capped_cache(100, inserts_per_s, seed), tick, 180);
        expect_never_leak(ticks);
        EXPECT_EQ(ticks.back().a.verdict, Verdict::Stable);
      }
    }
  }
}

// --- 4. transient and start-up allocations ---------------------------------------

TEST(DetectorTest, BigTransientBufferIsNeverLeak) {
  struct Shape {
    double period, hold;
  };
  // The fixture's upload (300 ms of every 3 s) and buffers held long enough to
  // show up at several ticks in a row.
  for (Shape shape : {Shape{3, 0.3}, Shape{4, 2.5}, Shape{5, 3.5}, Shape{7, 4}}) {
    for (double tick : kTicks) {
      for (double phase : {0.4, 2.2}) {
        SCOPED_TRACE(testing::Message() << "period " << shape.period << " hold " << shape.hold
                                        << " tick " << tick << " phase " << phase);
        auto ticks = simulate(big_buffer(shape.period, shape.hold, phase, 5), tick, 150);
        expect_never_leak(ticks);
      }
    }
  }
}

TEST(DetectorTest, TablesLoadedAtStartUpAreNeverLeak) {
  for (double tick : kTicks) {
    for (double load_at : {0.5, 3.0, 12.0}) {
      SCOPED_TRACE(testing::Message() << "tick " << tick << " loaded at " << load_at);
      auto ticks = simulate(startup_tables(load_at, 9), tick, 150);
      expect_never_leak(ticks);
      EXPECT_EQ(ticks.back().a.verdict, Verdict::Stable);
    }
  }
}

// --- 5. a cache that fills slowly, then levels off --------------------------------

TEST(DetectorTest, SlowlyFillingCacheStopsBeingLeakSoonAfterLevellingOff) {
  const double window = DetectorOptions{}.window_seconds;
  for (double tick : kTicks) {
    for (double fill : {40.0, 60.0}) {
      for (unsigned seed : {1u, 2u}) {
        SCOPED_TRACE(testing::Message() << "tick " << tick << " fill " << fill << " seed " << seed);
        auto ticks = simulate(slow_cache(fill, seed), tick, fill + 3 * window);
        // Required: within 2 windows; we hold it to one.
        for (const Tick& k : ticks) {
          if (k.t >= fill + window) {
            ASSERT_NE(k.a.verdict, Verdict::Leak) << "at t=" << k.t;
          }
        }
        double last_leak = last(ticks, Verdict::Leak);
        if (last_leak > 0) {
          EXPECT_LE(last_leak - fill, 0.6 * window);
        }
        EXPECT_EQ(ticks.back().a.verdict, Verdict::Stable);
      }
    }
  }
}

TEST(DetectorTest, ShorterWindowForgetsALevelledCacheSooner) {
  DetectorOptions o;
  o.window_seconds = 30;
  o.min_span_seconds = 10;
  auto ticks = simulate(slow_cache(60, 1), 1.0, 150, Kind::Heap, o);
  for (const Tick& k : ticks) {
    if (k.t >= 60 + 30) {
      ASSERT_NE(k.a.verdict, Verdict::Leak) << "at t=" << k.t;
    }
  }
  EXPECT_NEAR(ticks.back().a.evidence.window_seconds, 30, 1e-6);
}

TEST(DetectorTest, MinRateIsTheLeakThreshold) {
  DetectorOptions o;
  o.heap.min_rate = 30 * KiB;  // a 10 KiB/s leak is below it, but above a quarter of it
  auto ticks = simulate(steady_leak(10 * KiB, 4), 1.0, 120, Kind::Heap, o);
  expect_never_leak(ticks);
  EXPECT_EQ(ticks.back().a.verdict, Verdict::Growing);
  o.heap.min_rate = 5 * KiB;
  ticks = simulate(steady_leak(10 * KiB, 4), 1.0, 120, Kind::Heap, o);
  EXPECT_EQ(ticks.back().a.verdict, Verdict::Leak);
}

// --- 6. shrinking, flat, noise ------------------------------------------------------

TEST(DetectorTest, FallingSeriesIsShrinking) {
  for (double tick : kTicks) {
    SCOPED_TRACE(testing::Message() << "tick " << tick);
    // 10 MiB falling by 20 KiB/s lasts ~500 s.
    auto ticks = simulate(falling(10 * MiB, 20 * KiB, 8), tick, 200);
    expect_never_leak(ticks);
    // Once the initial appearance has left the window, it falls at every tick.
    for (const Tick& k : ticks) {
      if (k.t >= 65) {
        ASSERT_EQ(k.a.verdict, Verdict::Shrinking) << "at t=" << k.t;
      }
    }
    const Tick& k = ticks.back();
    EXPECT_NEAR(k.a.evidence.rate, -20.0 * KiB, 4.0 * KiB);
    EXPECT_LE(k.a.evidence.trend, -0.9);
    EXPECT_LT(k.a.evidence.floor_end, k.a.evidence.floor_start);
    EXPECT_EQ(k.a.evidence.growing_for_seconds, 0);
    EXPECT_GT(k.a.confidence, 0.5);
  }
}

TEST(DetectorTest, FlatSeriesIsStable) {
  for (double tick : kTicks) {
    SCOPED_TRACE(testing::Message() << "tick " << tick);
    auto ticks = simulate([](double t) { return Sample{t, 4 * MiB, 40}; }, tick, 150);
    for (const Tick& k : ticks) {
      ASSERT_EQ(k.a.verdict, k.t < kTrendSpan ? Verdict::Early : Verdict::Stable) << "at t=" << k.t;
    }
    const Tick& k = ticks.back();
    EXPECT_EQ(k.a.evidence.rate, 0);
    EXPECT_EQ(k.a.evidence.trend, 0);
    EXPECT_EQ(k.a.evidence.growing_for_seconds, 0);
    EXPECT_EQ(k.a.evidence.floor_start, 4 * MiB);
    EXPECT_EQ(k.a.evidence.floor_end, 4 * MiB);
    EXPECT_GT(k.a.confidence, 0.9);
  }
}

TEST(DetectorTest, NoiseAroundAFlatLevelIsStable) {
  for (double tick : kTicks) {
    for (double sigma : {2.0 * KiB, 16.0 * KiB}) {
      for (unsigned seed : {1u, 2u}) {
        SCOPED_TRACE(testing::Message()
                     << "tick " << tick << " sigma " << sigma << " seed " << seed);
        auto ticks = simulate(noisy_flat(8 * MiB, sigma, seed), tick, 150);
        for (const Tick& k : ticks) {
          ASSERT_EQ(k.a.verdict, k.t < kTrendSpan ? Verdict::Early : Verdict::Stable)
              << "at t=" << k.t << " rate " << k.a.evidence.rate << " trend " << k.a.evidence.trend;
        }
        EXPECT_LT(std::fabs(ticks.back().a.evidence.rate), 1024);
      }
    }
  }
}

TEST(DetectorTest, GrowingForCountsOnlyTheCurrentRise) {
  // Flat for 100 s, then a 10 KiB/s leak for 60 s.
  auto leak = steady_leak(10 * KiB, 6);
  auto ticks = simulate(
      [&](double t) {
        Sample s = t < 100 ? Sample{t, 1 * MiB, 10} : leak(t - 100);
        if (t >= 100) s.live_bytes += 1 * MiB;
        return s;
      },
      1.0, 160);
  const Tick& k = ticks.back();
  EXPECT_EQ(k.a.verdict, Verdict::Leak);
  EXPECT_GE(k.a.evidence.growing_for_seconds, 50);
  EXPECT_LE(k.a.evidence.growing_for_seconds, 70);
  EXPECT_EQ(at(ticks, 99).a.evidence.growing_for_seconds, 0);
}
