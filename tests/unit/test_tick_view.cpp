// The view of a tick and what is made of it: per-image totals, one Health
// from the counters, and a report and metrics that agree with each other
// because both are made from the same view.
#include "tracer/tick_view.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <sstream>

#include "fake_kernel.h"
#include "report/json.h"

namespace leakscope {
namespace {

using testing::FakeKernel;
using testing::NullImageObserver;

LedgerRow row(TraceId id, Kind kind, int32_t stack, int64_t bytes, int64_t objects) {
  LedgerRow r;
  r.trace_id = id;
  r.kind = kind;
  r.stack_id = stack;
  r.value.live_bytes = bytes;
  r.value.live_objects = objects;
  return r;
}

struct Session {
  TraceConfig config;
  FakeKernel kernel;
  NullImageObserver observer;
  ImageTable images{kernel, observer, ImagePolicy{}};
  AddressSpaces spaces;
  Symbolizer symbolizer{spaces};
  StackStore stacks{kernel, symbolizer, spaces, 16};
  Timeline timeline;
  TickView view;
  TraceId id = 0;

  Session() {
    TracedImage image;
    image.id = images.new_id();
    image.info.pid = ::getpid();
    image.info.comm = "self";
    id = images.add(image).id;
  }
};

TEST(TickView, TotalsPerImageLeaveTheRssSampleOut) {
  Session s;
  Counters c{};
  c[LS_CNT_ALLOCS] = 10;
  s.view.set_rows(2.0, {row(1, Kind::Heap, 5, 100, 2), row(1, Kind::Mmap, 6, 4096, 1), row(1, Kind::Rss, -1, 1 << 20, 0),
                        row(2, Kind::Heap, 5, 7, 1)},
                  c, 3, s.kernel.sizes());
  EXPECT_EQ(s.view.t, 2.0);
  EXPECT_EQ(s.view.ticks, 1u);
  EXPECT_EQ(s.view.totals.at(1).live_bytes, 4196);
  EXPECT_EQ(s.view.totals.at(1).live_objects, 3);
  EXPECT_EQ(s.view.totals.at(2).live_bytes, 7);
  EXPECT_EQ(s.view.health.allocs, 10u);
  EXPECT_EQ(s.view.health.fault_pages_dropped, 3u);
  EXPECT_EQ(s.view.health.ledger_rows, 4u);
  EXPECT_EQ(s.view.health.objects_capacity, s.kernel.sizes().max_objects);

  s.view.verdicts[SeriesKey{2, 0, 5, 0}] = Assessment{};
  s.view.forget(2);
  EXPECT_EQ(s.view.totals.count(2), 0u);
  EXPECT_EQ(s.view.verdicts.size(), 0u);
  EXPECT_EQ(s.view.rows.size(), 3u);
}

// leakscope_dropped_total samples summed.
uint64_t metrics_dropped(const std::string& text) {
  uint64_t total = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("leakscope_dropped_total{")) total += std::stoull(line.substr(line.rfind(' ') + 1));
  return total;
}

TEST(TickView, ReportAndMetricsOfOneTickAgree) {
  Session s;
  Counters c{};
  for (size_t i = 0; i < c.size(); ++i) c[i] = 100 + i;
  s.kernel.stacks[5] = {reinterpret_cast<uint64_t>(&metrics_dropped) + 4};
  LedgerRow leak = row(s.id, Kind::Heap, 5, 1 << 20, 64);
  s.timeline.record(key_of(leak), Sample{1.0, 1 << 20, 64}, 0.0);
  s.view.set_rows(1.0, {leak}, c, 9, s.kernel.sizes());
  Assessment verdict;
  verdict.verdict = Verdict::Leak;
  verdict.confidence = 0.9;
  s.view.verdicts[key_of(leak)] = verdict;

  ReportSources sources{s.config, s.images, s.timeline, s.stacks, {}, {}, {}, {}};
  Report report = build_report(s.view, sources, 1.5, true);
  ASSERT_EQ(report.stacks.size(), 1u);
  EXPECT_EQ(report.stacks[0].assessment.verdict, Verdict::Leak) << "the view's verdict";
  ASSERT_FALSE(report.stacks[0].frames.empty());
  EXPECT_NE(report.stacks[0].frames[0].function.find("metrics_dropped"), std::string::npos)
      << "the stack store symbolized the report's stacks";
  ASSERT_EQ(report.processes.size(), 1u);
  EXPECT_EQ(report.processes[0].live_bytes, 1 << 20);
  EXPECT_EQ(report.elapsed_seconds, 1.5);

  MetricsSnapshot metrics = metrics_snapshot(s.view, s.images, s.timeline, s.kernel.sizes());
  ASSERT_EQ(metrics.processes.size(), 1u);
  EXPECT_EQ(metrics.processes[0].suspected_leaks, 1u);

  const uint64_t report_lost = nlohmann::json::parse(render_json(report))["health"]["lost_total"].get<uint64_t>();
  EXPECT_EQ(report_lost, metrics_dropped(render_prometheus(metrics)));
  EXPECT_GT(report_lost, 9u) << "the counters' losses and the page ledger's are both in it";
}

}  // namespace
}  // namespace leakscope
