// Object ages for reports, scanned off the trace loop: one scan at a time,
// waited for with a deadline, the latest one aged by the time since.
#include "tracer/age_scan.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace leakscope {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// A scan that takes `delay` and says which images it was asked for.
struct SlowScan {
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  ObjectAgeScan make(std::chrono::milliseconds delay) const {
    return [calls = calls, delay](const std::set<TraceId>& ids) {
      ++*calls;
      std::this_thread::sleep_for(delay);
      std::vector<ObjectAges> out;
      for (TraceId id : ids) {
        ObjectAges a;
        a.trace_id = id;
        a.oldest_seconds = 10;
        a.median_seconds = 5;
        a.objects = 3;
        out.push_back(a);
      }
      return out;
    };
  }
};

TEST(AgeScan, ScansOffTheCallersThreadAndAgesTheLatestScan) {
  SlowScan slow;
  AgeScan scan(slow.make(300ms));
  EXPECT_FALSE(scan.latest(Clock::now()).has_value()) << "nothing before the first scan";
  scan.start({1, 2});
  scan.start({3});  // one at a time: ignored while the first runs
  EXPECT_FALSE(scan.wait(Clock::now() + 10ms)) << "start does not wait for the scan";
  ASSERT_TRUE(scan.wait(Clock::now() + 30s));
  EXPECT_EQ(*slow.calls, 1);
  auto ages = scan.latest(Clock::now() + 2s);
  ASSERT_TRUE(ages.has_value());
  ASSERT_EQ(ages->size(), 2u);
  EXPECT_EQ((*ages)[0].trace_id, 1u);
  // Two seconds after it was taken, each object is two seconds older.
  EXPECT_GE((*ages)[0].oldest_seconds, 12.0);
  EXPECT_LT((*ages)[0].oldest_seconds, 13.0);
  EXPECT_GE((*ages)[0].median_seconds, 7.0);
  scan.start({3});
  ASSERT_TRUE(scan.wait(Clock::now() + 30s));
  EXPECT_EQ(*slow.calls, 2);
  EXPECT_EQ(scan.latest(Clock::now())->at(0).trace_id, 3u);
}

TEST(AgeScan, IsNotWaitedForWhenDestroyedMidScan) {
  SlowScan slow;
  const auto before = Clock::now();
  {
    AgeScan scan(slow.make(2000ms));
    scan.start({1});
    while (*slow.calls == 0) std::this_thread::sleep_for(1ms);
  }
  EXPECT_LT(Clock::now() - before, 1500ms) << "the tracer's exit does not wait for a scan";
}

}  // namespace
}  // namespace leakscope
