// --all's drill-down decisions, on synthetic rss series and verdicts: who
// gets allocator probes, for how long, and how long the wait before the
// next drill grows when one finds no heap leak.
#include "tracer/host_watch.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fake_kernel.h"

namespace leakscope {
namespace {

using testing::FakeKernel;
using testing::NullImageObserver;

constexpr pid_t kFast = 90000011, kSlow = 90000012, kFlat = 90000013;

class FakeDrillProbes final : public DrillProbes {
 public:
  std::vector<std::string> calls;
  bool attachable = true;
  bool start(TracedImage& image, double t) override {
    calls.push_back("start " + std::to_string(image.pid()) + " at " + std::to_string(int(t)));
    if (!attachable) return false;
    image.heap_probes = true;
    return true;
  }
  void stop(TracedImage& image) override {
    calls.push_back("stop " + std::to_string(image.pid()));
    image.heap_probes = false;
  }
};

struct Host {
  TraceConfig config;
  FakeKernel kernel;
  NullImageObserver observer;
  ImageTable images{kernel, observer, ImagePolicy{true, 256}};
  Timeline timeline;
  FakeDrillProbes probes;
  std::map<SeriesKey, Assessment> verdicts;
  std::map<pid_t, TraceId> ids;

  Host() {
    config.all = true;
    config.tick_seconds = 1;
    config.detector.window_seconds = 10;
    config.drill_rate = 1000;
    config.drill_seconds = 10;
    config.drill_max = 1;
    for (pid_t pid : {kFast, kSlow, kFlat}) {
      TracedImage image;
      image.id = images.new_id();
      image.info.pid = pid;
      image.origin = Origin::Host;
      ids[pid] = images.add(image).id;
    }
  }
  // Each image's rss grows at its own rate (bytes/s) from t = 0 to `until`.
  void grow(double until) {
    for (double t = 0; t <= until; t += 1) {
      record(kFast, t, int64_t(5000 * t));
      record(kSlow, t, int64_t(2000 * t));
      record(kFlat, t, 1 << 20);
    }
  }
  void record(pid_t pid, double t, int64_t bytes) {
    timeline.record(SeriesKey{ids[pid], static_cast<uint32_t>(Kind::Rss), LS_STACK_UNKNOWN, 0},
                    Sample{t, bytes, 0}, t);
  }
  void steer(HostWatch& watch, double t) { watch.steer(t, images, verdicts, timeline, true, probes); }
};

TEST(HostWatch, DrillsIntoTheFastestGrowerWithinTheLimit) {
  Host h;
  HostWatch watch(h.config);
  h.grow(5);
  h.steer(watch, 5);
  EXPECT_EQ(h.probes.calls, std::vector<std::string>{"start " + std::to_string(kFast) + " at 5"});
  EXPECT_TRUE(watch.drilling(h.ids[kFast]));
  EXPECT_TRUE(watch.drilled(h.ids[kFast]));
  EXPECT_FALSE(watch.drilled(h.ids[kSlow])) << "--drill-max 1: one at a time";
  EXPECT_FALSE(watch.drilled(h.ids[kFlat]));
}

TEST(HostWatch, ADrillWithoutHeapLeakEndsAndTheNextWaitsTwiceAsLong) {
  Host h;
  h.config.drill_max = 2;
  HostWatch watch(h.config);
  h.grow(5);
  h.steer(watch, 5);  // both growers drilled at 5, until 15
  ASSERT_EQ(h.probes.calls.size(), 2u);
  h.probes.calls.clear();
  h.grow(15);
  h.steer(watch, 14);
  EXPECT_TRUE(h.probes.calls.empty()) << "the drill runs its --drill-for";
  h.steer(watch, 15);
  EXPECT_EQ(h.probes.calls, (std::vector<std::string>{"stop " + std::to_string(kFast),
                                                      "stop " + std::to_string(kSlow)}));
  EXPECT_FALSE(watch.drilled(h.ids[kFast]));
  // 2x --drill-for before the next one: not at 34, again at 35.
  h.probes.calls.clear();
  h.grow(35);
  h.steer(watch, 34);
  EXPECT_TRUE(h.probes.calls.empty());
  h.steer(watch, 35);
  EXPECT_EQ(h.probes.calls.size(), 2u);
  // And 4x after a second drill without a leak.
  h.steer(watch, 45);
  h.probes.calls.clear();
  h.grow(84);
  h.steer(watch, 84);
  EXPECT_TRUE(h.probes.calls.empty());
  h.grow(85);
  h.steer(watch, 85);
  EXPECT_EQ(h.probes.calls.size(), 2u);
}

TEST(HostWatch, AConfirmedHeapLeakKeepsTheProbesOn) {
  Host h;
  HostWatch watch(h.config);
  h.grow(5);
  h.steer(watch, 5);
  TraceId fast = h.ids[kFast];
  h.verdicts[SeriesKey{fast, static_cast<uint32_t>(Kind::Heap), 42, 0}].verdict = Verdict::Leak;
  h.steer(watch, 6);
  // A confirmed drill no longer counts against --drill-max: the next grower gets one.
  EXPECT_EQ(h.probes.calls.back(), "start " + std::to_string(kSlow) + " at 6");
  h.grow(100);
  h.steer(watch, 100);
  EXPECT_EQ(h.probes.calls.back(), "stop " + std::to_string(kSlow)) << "no heap leak in the slow one";
  for (const std::string& call : h.probes.calls) EXPECT_NE(call, "stop " + std::to_string(kFast));
  EXPECT_TRUE(watch.drilled(fast));
  EXPECT_FALSE(watch.drilling(fast)) << "confirmed, not on trial any more";
}

TEST(HostWatch, ADrillTheMapsCannotKeepUpWithBacksOffAndSaysWhy) {
  Host h;
  HostWatch watch(h.config);
  h.grow(5);
  h.steer(watch, 5);
  const TraceId fast = h.ids[kFast];
  ASSERT_TRUE(watch.drilling(fast));
  HeapPressure full{1200, 0};
  // Two ticks of drops, then a quiet one: no back-off (the count starts over).
  for (double t : {6.0, 7.0}) watch.steer(t, h.images, h.verdicts, h.timeline, true, h.probes, full);
  watch.steer(8, h.images, h.verdicts, h.timeline, true, h.probes, HeapPressure{});
  for (double t : {9.0, 10.0}) watch.steer(t, h.images, h.verdicts, h.timeline, true, h.probes, full);
  EXPECT_TRUE(watch.drilling(fast));
  EXPECT_EQ(watch.backed_off(fast), "");
  // The third tick in a row: it backs off, and says why.
  h.probes.calls.clear();
  watch.steer(11, h.images, h.verdicts, h.timeline, true, h.probes, HeapPressure{1200, 30});
  ASSERT_FALSE(h.probes.calls.empty());
  EXPECT_EQ(h.probes.calls.front(), "stop " + std::to_string(kFast));
  EXPECT_FALSE(watch.drilling(fast));
  EXPECT_NE(watch.backed_off(fast).find("1200 allocations and 30 stacks not kept"), std::string::npos)
      << watch.backed_off(fast);
  // No new drill while the kernel drops; its slot goes to the next grower
  // on a quiet tick. A confirmed leak never backs off.
  EXPECT_EQ(h.probes.calls.size(), 1u) << h.probes.calls.back();
  watch.steer(12, h.images, h.verdicts, h.timeline, true, h.probes, HeapPressure{});
  EXPECT_EQ(h.probes.calls.back(), "start " + std::to_string(kSlow) + " at 12");
  const TraceId slow = h.ids[kSlow];
  h.verdicts[SeriesKey{slow, static_cast<uint32_t>(Kind::Heap), 42, 0}].verdict = Verdict::Leak;
  h.probes.calls.clear();
  for (double t : {13.0, 14.0, 15.0, 16.0}) watch.steer(t, h.images, h.verdicts, h.timeline, true, h.probes, full);
  for (const std::string& call : h.probes.calls) EXPECT_NE(call, "stop " + std::to_string(kSlow));
  EXPECT_TRUE(watch.drilled(slow));
  EXPECT_EQ(watch.backed_off(slow), "");
}

TEST(HostWatch, NoDrillWithoutHeapKindOrWhenProbesCannotBeAttached) {
  Host h;
  HostWatch watch(h.config);
  h.grow(5);
  watch.steer(5, h.images, h.verdicts, h.timeline, false, h.probes);
  EXPECT_TRUE(h.probes.calls.empty());

  h.probes.attachable = false;
  h.steer(watch, 5);
  EXPECT_EQ(h.probes.calls, (std::vector<std::string>{"start " + std::to_string(kFast) + " at 5",
                                                      "start " + std::to_string(kSlow) + " at 5"}))
      << "a grower whose probes do not attach leaves its turn to the next";
  EXPECT_FALSE(watch.drilled(h.ids[kFast]));
  EXPECT_FALSE(watch.drilled(h.ids[kSlow]));
  // A failed attach waits one --drill-for before that image is tried again.
  h.probes.calls.clear();
  h.grow(15);
  h.steer(watch, 14);
  EXPECT_TRUE(h.probes.calls.empty());
  h.probes.attachable = true;
  h.steer(watch, 15);
  EXPECT_EQ(h.probes.calls, std::vector<std::string>{"start " + std::to_string(kFast) + " at 15"});
}

TEST(HostWatch, AnExecCarriesTheDrillToTheNewImage) {
  Host h;
  HostWatch watch(h.config);
  h.grow(5);
  h.steer(watch, 5);
  watch.keep(h.ids[kSlow]);
  watch.image_execd(h.ids[kFast], 500);
  watch.image_execd(h.ids[kSlow], 501);
  EXPECT_TRUE(watch.drilling(500));
  EXPECT_TRUE(watch.drilled(501));
  EXPECT_FALSE(watch.drilling(501));
  watch.forget(500);
  EXPECT_FALSE(watch.drilled(500));
}

TEST(HostWatch, FiltersWhatItTraces) {
  TraceConfig config;
  config.all = true;
  config.comms = {"redis-server"};
  config.cgroup_filter = "/system.slice/";
  config.exclude_pids = {4242};
  HostWatch watch(config);
  ProcessInfo redis;
  redis.comm = "redis-server";
  EXPECT_TRUE(watch.wants(100, redis, "/system.slice/redis.service"));
  EXPECT_FALSE(watch.wants(4242, redis, "/system.slice/redis.service"));
  EXPECT_FALSE(watch.wants(100, redis, "/user.slice/x"));
  ProcessInfo other;
  other.comm = "bash";
  EXPECT_FALSE(watch.wants(100, other, "/system.slice/redis.service"));
  ProcessInfo kthread = redis;
  kthread.kernel_thread = true;
  EXPECT_FALSE(watch.wants(100, kthread, "/system.slice/redis.service"));
  EXPECT_FALSE(watch.wants(::getpid(), redis, "/system.slice/redis.service")) << "never ourselves";
}

}  // namespace
}  // namespace leakscope
