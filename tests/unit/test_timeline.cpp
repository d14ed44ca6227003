#include <gtest/gtest.h>

#include "timeline/timeline.h"

using namespace leakscope;

TEST(TimelineTest, SlopeOfASteadyLeakIsItsRate) {
  Series s(100);
  for (int i = 0; i <= 10; ++i) s.add(Sample{double(i), 1000 + 500LL * i, 10 + 2LL * i});
  EXPECT_NEAR(s.bytes_per_second(), 500.0, 1e-9);
  EXPECT_NEAR(s.objects_per_second(), 2.0, 1e-9);
}

TEST(TimelineTest, FlatSeriesHasNoGrowthAndOneSampleHasNone) {
  Series s(100);
  s.add(Sample{0, 8 << 20, 1});
  EXPECT_EQ(s.bytes_per_second(), 0);
  for (int i = 1; i < 5; ++i) s.add(Sample{double(i), 8 << 20, 1});
  EXPECT_EQ(s.bytes_per_second(), 0);
}

TEST(TimelineTest, RingKeepsOnlyTheNewestSamples) {
  Series s(3);
  for (int i = 0; i < 10; ++i) s.add(Sample{double(i), i * 10LL, 0});
  ASSERT_EQ(s.samples().size(), 3u);
  EXPECT_EQ(s.samples().front().t, 7);
  EXPECT_EQ(s.last().live_bytes, 90);
}

TEST(TimelineTest, NewSeriesStartsFromZeroSoGrowthWithinOneTickShows) {
  Timeline tl(100);
  SeriesKey key{42, 0, 7, 0};
  // The stack appeared between t=1 and t=2 with 4096 bytes, then stayed.
  tl.record(key, Sample{2, 4096, 4}, 1);
  tl.record(key, Sample{3, 4096, 4}, 2);
  const Series* s = tl.find(key);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->samples().front().live_bytes, 0);
  EXPECT_GT(s->bytes_per_second(), 0);
  EXPECT_EQ(tl.find(SeriesKey{42, 0, 8, 0}), nullptr);
}

TEST(TimelineTest, SeriesAreKeptApartByPidKindStackAndAllocator) {
  Timeline tl;
  tl.record(SeriesKey{1, 0, 5, 0}, Sample{1, 10, 1}, 0);
  tl.record(SeriesKey{2, 0, 5, 0}, Sample{1, 20, 1}, 0);
  tl.record(SeriesKey{1, 1, 5, 0}, Sample{1, 30, 1}, 0);
  tl.record(SeriesKey{1, 0, 5, 9}, Sample{1, 40, 1}, 0);
  EXPECT_EQ(tl.size(), 4u);
  EXPECT_EQ(tl.find(SeriesKey{2, 0, 5, 0})->last().live_bytes, 20);
}

TEST(TimelineTest, RecentRateLooksOnlyAtTheLastSpan) {
  Series s(100);
  for (int i = 0; i <= 10; ++i) s.add(Sample{double(i), i < 5 ? 0 : (i - 5) * 1000, 0});
  EXPECT_NEAR(s.recent_bytes_per_second(4.0), 1000.0, 1e-6);  // the flat start left out
  EXPECT_LT(s.bytes_per_second(), 1000.0);                     // the whole run mixes both
  EXPECT_EQ(s.recent_bytes_per_second(1.5, 3), 0.0);           // two samples only
}
