// Health: one figure per kernel counter, one list of losses, and every
// renderer agreeing on what was lost.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "metrics/metrics.h"
#include "report/json.h"
#include "report/model.h"
#include "tracer/kernel_health.h"

namespace leakscope {
namespace {

using Counters = std::array<uint64_t, LS_CNT__COUNT>;

static_assert(kHealthKernelFigures == LS_CNT__COUNT,
              "Health must enumerate one kernel figure per LS_CNT_* counter");

// A value no figure holds by accident.
uint64_t distinct(size_t i) { return 1000003ull * (i + 1); }

// Every counter alone: exactly one figure, a kernel one, shows its value, and
// no two counters show up in the same figure.
TEST(HealthTest, EachCounterLandsInExactlyOneFigure) {
  std::set<std::string> seen;
  for (size_t i = 0; i < LS_CNT__COUNT; ++i) {
    Counters c{};
    c[i] = distinct(i);
    const Health h = health_from(c, 0);
    size_t carrying = 0;
    std::string key;
    for (const HealthFigure& f : h.figures()) {
      if (f.value == 0) continue;
      EXPECT_EQ(f.value, distinct(i)) << "counter " << i << " leaks into " << f.key;
      if (f.value != distinct(i)) continue;
      ++carrying;
      key = std::string(f.key);
      EXPECT_TRUE(f.kernel) << f.key << " reads counter " << i << " but is not marked kernel";
    }
    EXPECT_EQ(carrying, 1u) << "counter " << i << " is read by " << carrying << " figures";
    EXPECT_TRUE(seen.insert(key).second) << key << " reads two counters";
  }
  EXPECT_EQ(seen.size(), size_t{LS_CNT__COUNT});
}

// Which figure each counter is: the meanings issue 11 fixed (fault losses
// apart from syscall ones, fault stacks apart from allocation stacks) and
// issue 12 (a stack lost because it could not be read apart from one the
// stack store had no room for, id map apart from frames).
TEST(HealthTest, CountersMeanWhatTheirFiguresSay) {
  const std::map<int, std::string> expected = {
      {LS_CNT_ALLOCS, "allocs"},
      {LS_CNT_FREES, "frees"},
      {LS_CNT_FREES_UNKNOWN, "frees_unknown"},
      {LS_CNT_OBJ_MAP_FULL, "dropped_objects"},
      {LS_CNT_LEDGER_FULL, "dropped_ledger"},
      {LS_CNT_STACK_UNREADABLE, "stacks_unreadable"},
      {LS_CNT_INFLIGHT_FULL, "inflight_drops"},
      {LS_CNT_STALE_REPLACED, "stale_replaced"},
      {LS_CNT_EVENTS_LOST, "events_lost"},
      {LS_CNT_IMAGES_FULL, "children_not_followed"},
      {LS_CNT_FAULTS_LOST, "fault_events_lost"},
      {LS_CNT_FAULT_NO_STACK, "fault_stacks_over_budget"},
      {LS_CNT_STACK_IDS_FULL, "stack_ids_full"},
      {LS_CNT_STACKS_FULL, "stacks_full"},
      {LS_CNT_FAULTS_SAMPLED, "fault_events_sampled"},
      {LS_CNT_SYS_STACKS_SHED, "syscall_stacks_shed"},
  };
  ASSERT_EQ(expected.size(), size_t{LS_CNT__COUNT});
  for (const auto& [counter, key] : expected) {
    Counters c{};
    c[counter] = 5;
    for (const HealthFigure& f : health_from(c, 0).figures())
      EXPECT_EQ(f.value, f.key == key ? 5u : 0u) << "counter " << counter << ", figure " << f.key;
  }
}

TEST(HealthTest, PageLedgerDropsAreTheirOwnFigure) {
  const Health h = health_from(Counters{}, 42);
  for (const HealthFigure& f : h.figures()) {
    EXPECT_EQ(f.value, f.key == "fault_pages_dropped" ? 42u : 0u) << f.key;
    if (f.key == "fault_pages_dropped") {
      EXPECT_FALSE(f.kernel) << "a userspace figure";
    }
  }
  EXPECT_EQ(h.fault_pages_dropped, 42u);
  EXPECT_FALSE(h.lossless());
}

// The loss names are what dashboards match on: the reasons /metrics always
// had (stack_missed split by issue 12 into the three ways a stack is lost),
// then the ones the report and status counted alone.
TEST(HealthTest, LossesHaveStableNamesAndTexts) {
  std::vector<std::string> names;
  for (const HealthLoss& loss : Health{}.losses()) {
    names.emplace_back(loss.name);
    EXPECT_FALSE(loss.text.empty()) << loss.name;
    EXPECT_EQ(loss.value, 0u);
  }
  EXPECT_EQ(names,
            (std::vector<std::string>{"objects_map_full", "ledger_map_full", "stack_unreadable",
                                      "stack_id_map_full", "stack_map_full", "calls_missed",
                                      "events_lost", "children_not_followed", "fault_events_lost",
                                      "fault_stacks_over_budget", "syscall_stacks_shed", "fault_pages_over_limit",
                                      "events_unread_at_exit"}));
}

// No counter says "stack missed" any more: each way a stack is lost is its
// own loss, with words that tell a person which one to act on.
TEST(HealthTest, EachWayOfLosingAStackIsItsOwnLoss) {
  Counters c{};
  c[LS_CNT_STACK_UNREADABLE] = 1;
  c[LS_CNT_STACK_IDS_FULL] = 20;
  c[LS_CNT_STACKS_FULL] = 300;
  const Health h = health_from(c, 0);
  std::map<std::string, std::pair<uint64_t, std::string>> lost;
  for (const HealthLoss& loss : h.losses())
    if (loss.value) lost[std::string(loss.name)] = {loss.value, std::string(loss.text)};
  ASSERT_EQ(lost.size(), 3u);
  EXPECT_EQ(lost["stack_unreadable"].first, 1u);
  EXPECT_EQ(lost["stack_id_map_full"].first, 20u);
  EXPECT_EQ(lost["stack_map_full"].first, 300u);
  EXPECT_NE(lost["stack_unreadable"].second.find("unreadable"), std::string::npos);
  EXPECT_NE(lost["stack_id_map_full"].second.find("id map full"), std::string::npos);
  EXPECT_NE(lost["stack_map_full"].second.find("--max-stack-traces"), std::string::npos);
  EXPECT_EQ(h.lost_total(), 321u);
}

TEST(HealthTest, AnyLossMakesItLossy) {
  EXPECT_TRUE(Health{}.lossless());
  EXPECT_EQ(Health{}.lost_total(), 0u);
  size_t losses = 0;
  for (const HealthFigureInfo& info : kHealthFigures) {
    Health h;
    h.*info.field = 3;
    if (info.loss.empty()) {
      EXPECT_TRUE(h.lossless()) << info.key << " is counted, not lost";
      EXPECT_EQ(h.lost_total(), 0u) << info.key;
    } else {
      ++losses;
      EXPECT_FALSE(h.lossless()) << info.key;
      EXPECT_EQ(h.lost_total(), 3u) << info.key;
    }
  }
  EXPECT_EQ(losses, Health{}.losses().size());
}

// leakscope_dropped_total{reason=...} samples, by reason.
std::map<std::string, uint64_t> dropped_samples(const std::string& text) {
  std::map<std::string, uint64_t> out;
  std::istringstream in(text);
  const std::string prefix = "leakscope_dropped_total{reason=\"";
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(prefix)) continue;
    const size_t end = line.find('"', prefix.size());
    const std::string reason = line.substr(prefix.size(), end - prefix.size());
    EXPECT_EQ(out.count(reason), 0u) << "reason emitted twice: " << reason;
    out[reason] = std::stoull(line.substr(line.rfind(' ') + 1));
  }
  return out;
}

// The report's lost total and /metrics' drops, from one Health, agree: in
// total and reason by reason.
TEST(HealthTest, ReportAndMetricsCountTheSameLosses) {
  Counters c{};
  for (size_t i = 0; i < c.size(); ++i) c[i] = distinct(i);
  Report r;
  r.health = health_from(c, 77);
  MetricsSnapshot m;
  m.health = r.health;

  const nlohmann::json report = nlohmann::json::parse(render_json(r));
  const std::map<std::string, uint64_t> dropped = dropped_samples(render_prometheus(m));

  uint64_t metrics_total = 0;
  for (const auto& [reason, value] : dropped) metrics_total += value;
  const uint64_t report_total = report["health"]["lost_total"].get<uint64_t>();
  EXPECT_EQ(report_total, metrics_total);
  EXPECT_EQ(report_total, r.health.lost_total());
  EXPECT_GE(report_total, 77u + distinct(LS_CNT_FAULTS_LOST) + distinct(LS_CNT_IMAGES_FULL));
  EXPECT_EQ(report["health"]["lossless"], false);

  // Reason by reason: the JSON key of each loss holds the metrics sample.
  uint64_t report_sum = 0;
  size_t losses = 0;
  for (const HealthFigureInfo& info : kHealthFigures) {
    if (info.loss.empty()) continue;
    ++losses;
    const std::string key(info.key), reason(info.loss);
    ASSERT_TRUE(report["health"].contains(key)) << key;
    ASSERT_EQ(dropped.count(reason), 1u) << reason;
    EXPECT_EQ(report["health"][key].get<uint64_t>(), dropped.at(reason)) << key << " / " << reason;
    report_sum += report["health"][key].get<uint64_t>();
  }
  EXPECT_EQ(dropped.size(), losses);
  EXPECT_EQ(report_sum, report_total);
}

}  // namespace
}  // namespace leakscope
