#include <gtest/gtest.h>

#include "cli/quantity.h"

using namespace leakscope;

TEST(QuantityTest, SizesWithUnits) {
  EXPECT_DOUBLE_EQ(*parse_quantity("512"), 512);
  EXPECT_DOUBLE_EQ(*parse_quantity("4KiB"), 4096);
  EXPECT_DOUBLE_EQ(*parse_quantity("4k"), 4096);
  EXPECT_DOUBLE_EQ(*parse_quantity("1.5MiB/s"), 1.5 * 1024 * 1024);
  EXPECT_FALSE(parse_quantity("4 KiB"));
  EXPECT_FALSE(parse_quantity("lots"));
  EXPECT_FALSE(parse_quantity("4XB"));
}

TEST(QuantityTest, RateSpecsScopedToAKind) {
  auto all = parse_rate_spec("2KiB");
  ASSERT_TRUE(all);
  EXPECT_FALSE(all->kind);
  EXPECT_DOUBLE_EQ(all->per_second, 2048);
  auto timers = parse_rate_spec("timerfd=0.5");
  ASSERT_TRUE(timers);
  EXPECT_EQ(timers->kind, Kind::Timerfd);
  EXPECT_DOUBLE_EQ(timers->per_second, 0.5);
  EXPECT_FALSE(parse_rate_spec("sockets=1"));
  EXPECT_FALSE(parse_rate_spec("heap=0"));
  EXPECT_FALSE(parse_rate_spec("heap="));
}
