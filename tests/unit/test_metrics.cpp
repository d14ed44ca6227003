#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/errors.h"
#include "metrics/metrics.h"

namespace leakscope {
namespace {

constexpr const char* kPromtool = "/usr/bin/promtool";

std::filesystem::path repo_root() {
  // tests/unit/test_metrics.cpp -> repo root
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
}

struct CommandResult {
  int status = -1;
  std::string output;
};

CommandResult run(const std::string& command) {
  CommandResult r;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

bool have_promtool() { return access(kPromtool, X_OK) == 0; }

#define REQUIRE_PROMTOOL()                                                              \
  ASSERT_TRUE(have_promtool()) << kPromtool                                             \
                               << " is missing: run tools/setup (it installs promtool)"

bool contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

MetricsSnapshot sample_snapshot() {
  MetricsSnapshot s;
  s.version = "1.2.3";
  ProcessKindMetrics a;
  a.pid = 4242;
  a.comm = "svc \"x\"\\y\nz";
  a.kind = "heap";
  a.live_bytes = 1048576;
  a.live_objects = 1024;
  a.growth_bytes_per_second = 2048.5;
  a.growth_objects_per_second = 2;
  a.suspected_leaks = 3;
  ProcessKindMetrics b = a;
  b.pid = 17;
  b.comm = "bad\xff\xfe";
  b.kind = "mmap";
  b.live_bytes = 4096;
  b.live_objects = 1;
  b.growth_bytes_per_second = 0;
  b.growth_objects_per_second = -0.25;
  b.suspected_leaks = 0;
  ProcessKindMetrics c = a;  // same pid, other kind
  c.kind = "mmap";
  c.live_bytes = 8192;
  s.processes = {a, b, c};
  s.ticks = 99;
  s.last_tick_seconds = 0.0125;
  s.objects_map_fill = 0.5;
  s.ledger_map_fill = 0.01;
  s.health.dropped_objects = 1;
  s.health.dropped_ledger = 2;
  s.health.stacks_full = 3;
  s.health.inflight_drops = 4;
  s.health.events_lost = 5;
  s.health.children_not_followed = 6;
  s.health.fault_events_lost = 7;
  s.health.fault_stacks_over_budget = 8;
  s.health.fault_pages_dropped = 9;
  s.health.allocs = 1000;  // counted, not lost: no drop reason
  s.health.stale_replaced = 10;
  s.symbol_cache_modules = 12;
  s.frame_names_pending = 3;
  s.unwind_tables_compiling = 2;
  s.alerts_firing = 1;
  s.sinks = {{"jsonl", 5, 0, 0, 0}, {"alertmanager", 7, 2, 1, 3}, {"alertmanager", 1, 1, 0, 1}};
  return s;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(MetricsTest, RendersEveryFamilyWithHelpAndType) {
  const std::string text = render_prometheus(sample_snapshot());
  const std::vector<std::pair<std::string, std::string>> families = {
      {"leakscope_build_info", "gauge"},
      {"leakscope_live_bytes", "gauge"},
      {"leakscope_live_objects", "gauge"},
      {"leakscope_growth_bytes_per_second", "gauge"},
      {"leakscope_growth_objects_per_second", "gauge"},
      {"leakscope_suspected_leaks", "gauge"},
      {"leakscope_ticks_total", "counter"},
      {"leakscope_tick_duration_seconds", "gauge"},
      {"leakscope_map_fill_ratio", "gauge"},
      {"leakscope_dropped_total", "counter"},
      {"leakscope_symbol_cache_modules", "gauge"},
      {"leakscope_frame_names_pending", "gauge"},
      {"leakscope_unwind_tables_compiling", "gauge"},
      {"leakscope_alerts_firing", "gauge"},
      {"leakscope_alert_sink_delivered_total", "counter"},
      {"leakscope_alert_sink_failures_total", "counter"},
      {"leakscope_alert_sink_dropped_total", "counter"},
      {"leakscope_alert_sink_queue_length", "gauge"},
  };
  for (const auto& [name, type] : families) {
    EXPECT_TRUE(contains(text, "\n# HELP " + name + " ") || text.starts_with("# HELP " + name + " "))
        << name;
    EXPECT_TRUE(contains(text, "\n# TYPE " + name + " " + type + "\n")) << name;
  }
  EXPECT_TRUE(text.ends_with("\n"));
}

TEST(MetricsTest, RendersSamplesAndLabels) {
  const std::string text = render_prometheus(sample_snapshot());
  EXPECT_TRUE(contains(text, "\nleakscope_build_info{version=\"1.2.3\"} 1\n"));
  EXPECT_TRUE(contains(
      text, "\nleakscope_live_bytes{pid=\"4242\",comm=\"svc \\\"x\\\"\\\\y\\nz\",kind=\"heap\"} 1048576\n"))
      << text;
  EXPECT_TRUE(contains(
      text, "\nleakscope_growth_bytes_per_second{pid=\"4242\",comm=\"svc \\\"x\\\"\\\\y\\nz\",kind=\"heap\"} 2048.5\n"));
  EXPECT_TRUE(contains(
      text, "\nleakscope_growth_objects_per_second{pid=\"17\",comm=\"bad\xEF\xBF\xBD\xEF\xBF\xBD\",kind=\"mmap\"} -0.25\n"))
      << "invalid UTF-8 in comm is replaced";
  EXPECT_TRUE(contains(text, "\nleakscope_suspected_leaks{pid=\"4242\",comm=\"svc \\\"x\\\"\\\\y\\nz\",kind=\"heap\"} 3\n"));
  EXPECT_TRUE(contains(text, "\nleakscope_ticks_total 99\n"));
  EXPECT_TRUE(contains(text, "\nleakscope_tick_duration_seconds 0.0125\n"));
  EXPECT_TRUE(contains(text, "\nleakscope_map_fill_ratio{map=\"objects\"} 0.5\n"));
  EXPECT_TRUE(contains(text, "\nleakscope_map_fill_ratio{map=\"ledger\"} 0.01\n"));
  EXPECT_TRUE(contains(text, "\nleakscope_dropped_total{reason=\"objects_map_full\"} 1\n"));
  EXPECT_TRUE(contains(text, "\nleakscope_dropped_total{reason=\"ledger_map_full\"} 2\n"));
  EXPECT_TRUE(contains(text, "\nleakscope_dropped_total{reason=\"stack_map_full\"} 3\n"));
  EXPECT_TRUE(contains(text, "\nleakscope_dropped_total{reason=\"calls_missed\"} 4\n"));
  EXPECT_TRUE(contains(text, "\nleakscope_dropped_total{reason=\"events_lost\"} 5\n"))
      << "syscall events lost (ring buffer full) are a drop reason like the others";
  // Losses the report always counted, now on /metrics too, each under its own reason.
  EXPECT_TRUE(contains(text, "\nleakscope_dropped_total{reason=\"children_not_followed\"} 6\n"));
  EXPECT_TRUE(contains(text, "\nleakscope_dropped_total{reason=\"fault_events_lost\"} 7\n"));
  EXPECT_TRUE(contains(text, "\nleakscope_dropped_total{reason=\"fault_stacks_over_budget\"} 8\n"));
  EXPECT_TRUE(contains(text, "\nleakscope_dropped_total{reason=\"fault_pages_over_limit\"} 9\n"));
  size_t dropped_samples = 0;
  for (const std::string& line : lines_of(text))
    if (line.starts_with("leakscope_dropped_total{")) ++dropped_samples;
  // The two other ways of losing a stack are reasons of their own, at 0 here.
  EXPECT_TRUE(contains(text, "\nleakscope_dropped_total{reason=\"stack_unreadable\"} 0\n"));
  EXPECT_TRUE(contains(text, "\nleakscope_dropped_total{reason=\"stack_id_map_full\"} 0\n"));
  EXPECT_TRUE(contains(text, "\nleakscope_dropped_total{reason=\"syscall_stacks_shed\"} 0\n"));
  EXPECT_EQ(dropped_samples, 13u) << "one sample per loss, no more: " << text;
  EXPECT_TRUE(contains(text, "\nleakscope_symbol_cache_modules 12\n"));
  EXPECT_TRUE(contains(text, "\nleakscope_frame_names_pending 3\n"));
  EXPECT_TRUE(contains(text, "\nleakscope_unwind_tables_compiling 2\n"));
  EXPECT_TRUE(contains(text, "\nleakscope_alerts_firing 1\n"));
  // Two sinks of one type are summed into one series.
  EXPECT_TRUE(contains(text, "\nleakscope_alert_sink_delivered_total{sink=\"alertmanager\"} 8\n"));
  EXPECT_TRUE(contains(text, "\nleakscope_alert_sink_failures_total{sink=\"alertmanager\"} 3\n"));
  EXPECT_TRUE(contains(text, "\nleakscope_alert_sink_dropped_total{sink=\"alertmanager\"} 1\n"));
  EXPECT_TRUE(contains(text, "\nleakscope_alert_sink_queue_length{sink=\"alertmanager\"} 4\n"));
  EXPECT_TRUE(contains(text, "\nleakscope_alert_sink_delivered_total{sink=\"jsonl\"} 5\n"));
  // Bounded labels: only these label names appear.
  for (const std::string& line : lines_of(text)) {
    if (line.starts_with("#")) continue;
    for (const char* banned : {"stack=", "addr", "0x"}) {
      EXPECT_FALSE(contains(line, banned)) << line;
    }
  }
}

TEST(MetricsTest, OrderIsDeterministic) {
  MetricsSnapshot s = sample_snapshot();
  const std::string text = render_prometheus(s);
  std::reverse(s.processes.begin(), s.processes.end());
  std::reverse(s.sinks.begin(), s.sinks.end());
  EXPECT_EQ(render_prometheus(s), text);
  // pid 17 before pid 4242; heap before mmap; alertmanager before jsonl.
  const size_t p17 = text.find("leakscope_live_bytes{pid=\"17\"");
  const size_t p4242h = text.find("leakscope_live_bytes{pid=\"4242\",comm=\"svc \\\"x\\\"\\\\y\\nz\",kind=\"heap\"");
  const size_t p4242m = text.find("leakscope_live_bytes{pid=\"4242\",comm=\"svc \\\"x\\\"\\\\y\\nz\",kind=\"mmap\"");
  ASSERT_NE(p17, std::string::npos);
  ASSERT_NE(p4242h, std::string::npos);
  ASSERT_NE(p4242m, std::string::npos);
  EXPECT_LT(p17, p4242h);
  EXPECT_LT(p4242h, p4242m);
  EXPECT_LT(text.find("sink=\"alertmanager\""), text.find("sink=\"jsonl\""));
}

TEST(MetricsTest, EmptySnapshotStillHasMetadata) {
  const std::string text = render_prometheus(MetricsSnapshot{});
  EXPECT_TRUE(contains(text, "leakscope_build_info{version=\"unknown\"} 1\n"));
  EXPECT_TRUE(contains(text, "# TYPE leakscope_live_bytes gauge\n"));
  EXPECT_FALSE(contains(text, "leakscope_live_bytes{"));
}

void expect_promtool_accepts(const std::string& text) {
  char path[] = "/tmp/leakscope-metrics-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    std::ofstream out(path, std::ios::binary);
    out << text;
  }
  const CommandResult r = run(std::string(kPromtool) + " check metrics < " + path);
  std::filesystem::remove(path);
  EXPECT_EQ(r.status, 0) << r.output << "\n--- exposition ---\n" << text;
  EXPECT_EQ(r.output, "") << "promtool reported problems";
}

TEST(MetricsTest, PromtoolAcceptsExposition) {
  REQUIRE_PROMTOOL();
  expect_promtool_accepts(render_prometheus(sample_snapshot()));
  expect_promtool_accepts(render_prometheus(MetricsSnapshot{}));
}

// The status command and the JSON report count syscall events lost to a
// full ring buffer; /metrics shows them as one more drop reason.
TEST(MetricsTest, EventsLostIsADropReasonPromtoolAccepts) {
  REQUIRE_PROMTOOL();
  MetricsSnapshot s;
  s.health.events_lost = 7;
  const std::string text = render_prometheus(s);
  EXPECT_TRUE(contains(text, "\nleakscope_dropped_total{reason=\"events_lost\"} 7\n")) << text;
  expect_promtool_accepts(text);
}

TEST(MetricsTest, PromtoolAcceptsRulesFile) {
  REQUIRE_PROMTOOL();
  const std::filesystem::path rules = repo_root() / "docs" / "leakscope.rules.yml";
  ASSERT_TRUE(std::filesystem::exists(rules)) << rules;
  const CommandResult r = run(std::string(kPromtool) + " check rules '" + rules.string() + "'");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "SUCCESS")) << r.output;
  for (const char* metric : {"leakscope_suspected_leaks", "leakscope_dropped_total",
                             "leakscope_alert_sink_failures_total"}) {
    std::ifstream in(rules);
    std::stringstream ss;
    ss << in.rdbuf();
    EXPECT_TRUE(contains(ss.str(), metric)) << metric;
  }
}

TEST(MetricsTest, ServesPublishedSnapshot) {
  MetricsServer server("127.0.0.1:0");
  ASSERT_GT(server.port(), 0);
  httplib::Client client("127.0.0.1", server.port());
  client.set_connection_timeout(5);
  client.set_read_timeout(5);

  // Before the first publish: valid exposition with build info.
  auto res = client.Get("/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(contains(res->body, "leakscope_build_info{version="));

  server.publish(sample_snapshot());
  res = client.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(res->get_header_value("Content-Type").starts_with("text/plain; version=0.0.4"))
      << res->get_header_value("Content-Type");
  EXPECT_EQ(res->body, render_prometheus(sample_snapshot()));

  MetricsSnapshot next = sample_snapshot();
  next.ticks = 100;
  server.publish(next);
  res = client.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_TRUE(contains(res->body, "\nleakscope_ticks_total 100\n"));

  res = client.Get("/");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(contains(res->body, "/metrics"));

  res = client.Get("/nope");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
}

TEST(MetricsTest, SecondServerOnSamePortFails) {
  MetricsServer first("127.0.0.1:0");
  const std::string spec = "127.0.0.1:" + std::to_string(first.port());
  try {
    MetricsServer second(spec);
    FAIL() << "a second server bound " << spec;
  } catch (const FatalError& e) {
    EXPECT_EQ(e.code(), ExitCode::Failure);
    const std::string msg = e.what();
    EXPECT_TRUE(msg.starts_with("cannot listen on " + spec + ": ")) << msg;
    EXPECT_FALSE(contains(msg, "\n")) << msg;
  }
  // The first one still serves.
  httplib::Client client("127.0.0.1", first.port());
  auto res = client.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST(MetricsTest, AcceptsAddressForms) {
  {
    MetricsServer any(":0");
    EXPECT_GT(any.port(), 0);
    httplib::Client client("127.0.0.1", any.port());
    auto res = client.Get("/metrics");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
  }
  {
    MetricsServer any4("0.0.0.0:0");
    EXPECT_GT(any4.port(), 0);
  }
  // IPv6 loopback may be unavailable in a container: it may fail to bind,
  // but it must parse.
  try {
    MetricsServer v6("[::1]:0");
    EXPECT_GT(v6.port(), 0);
  } catch (const FatalError& e) {
    EXPECT_EQ(e.code(), ExitCode::Failure) << e.what();
  }
}

TEST(MetricsTest, BadSpecsAreUsageErrors) {
  for (const char* spec : {"", "9464", "127.0.0.1", "127.0.0.1:", "127.0.0.1:http",
                           "127.0.0.1:65536", "127.0.0.1:-1", "::1:9464", "[::1:9464",
                           "[::1]9464", "[nothost]:9464", "256.1.1.1:9464", "a b:9464",
                           "127.0.0.1:99999999999"}) {
    try {
      MetricsServer server(spec);
      ADD_FAILURE() << "accepted '" << spec << "'";
    } catch (const FatalError& e) {
      EXPECT_EQ(e.code(), ExitCode::Usage) << spec << ": " << e.what();
      EXPECT_FALSE(contains(e.what(), "\n")) << e.what();
    }
  }
}

TEST(MetricsTest, DestructorIsPrompt) {
  const auto start = std::chrono::steady_clock::now();
  {
    MetricsServer server("127.0.0.1:0");
    httplib::Client client("127.0.0.1", server.port());
    client.set_keep_alive(true);
    ASSERT_TRUE(client.Get("/metrics"));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

}  // namespace
}  // namespace leakscope
