#include "tracer/tick_clock.h"

#include <gtest/gtest.h>

#include "report/units.h"

namespace leakscope {
namespace {

TEST(TickClock, TicksThatBeginWithinAPeriodAreOnSchedule) {
  TickClock clock(1.0);
  clock.record(1.0, 1.01, 1.05);
  clock.record(2.0, 2.90, 2.95);  // late, but within its period
  clock.record(3.0, 4.20, 4.30);  // a period late
  LoopTiming t = clock.timing();
  EXPECT_EQ(t.ticks, 3u);
  EXPECT_EQ(t.on_schedule, 2u);
  EXPECT_EQ(t.overruns, 0u);
  EXPECT_NEAR(t.lag_max, 1.2, 1e-9);
  EXPECT_NEAR(t.last_lag, 1.2, 1e-9);
  EXPECT_DOUBLE_EQ(t.period_seconds, 1.0);
}

TEST(TickClock, ATickLongerThanItsPeriodOverran) {
  TickClock clock(0.5);
  clock.record(0.5, 0.5, 0.6);
  clock.record(1.0, 1.0, 2.5);
  LoopTiming t = clock.timing();
  EXPECT_EQ(t.overruns, 1u);
  EXPECT_NEAR(t.duration_max, 1.5, 1e-9);
  EXPECT_NEAR(t.last_duration, 1.5, 1e-9);
}

TEST(TickClock, PercentilesFollowTheRecentTicksOnly) {
  TickClock clock(1.0, 10);
  for (int i = 0; i < 10; ++i) clock.record(i, i + 0.9, i + 0.95);  // slow start
  for (int i = 10; i < 20; ++i) clock.record(i, i + 0.01, i + 0.02);
  LoopTiming t = clock.timing();
  EXPECT_EQ(t.ticks, 20u);
  EXPECT_NEAR(t.lag_p90, 0.01, 1e-9);  // the slow ticks left the window
  EXPECT_NEAR(t.lag_max, 0.9, 1e-9);   // but the worst one is kept
  EXPECT_NEAR(t.duration_p50, 0.01, 1e-6);
}

TEST(TickClock, AnEarlyTickHasNoNegativeLag) {
  TickClock clock(1.0);
  clock.record(2.0, 1.5, 1.6);
  EXPECT_EQ(clock.timing().lag_max, 0);
  EXPECT_EQ(clock.timing().on_schedule, 1u);
}

TEST(TickPhases, SaysWhereTheTimeWent) {
  TickPhases phases;
  phases.begin();
  phases.end("instant");
  EXPECT_EQ(phases.describe(), "");  // under a millisecond: not worth a word
  EXPECT_EQ(format_duration(0.25), "250 ms");
  EXPECT_EQ(format_duration(2.5), "2.50 s");
}

}  // namespace
}  // namespace leakscope
