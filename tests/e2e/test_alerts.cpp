// Alerts and metrics end to end: a real Alertmanager, a dead sink, a scrape
// checked by promtool.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <httplib.h>
#include <thread>

#include "harness.h"
#include "services.h"

using namespace e2e;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// Short window so the test does not wait a minute for a verdict.
const std::vector<std::string> kQuickDetector = {"--window", "10s", "--alert-pending", "0s",
                                                 "--alert-resolve", "2s", "--alert-repeat", "5s"};

template <typename Pred>
bool eventually(double seconds, Pred pred) {
  auto t0 = Clock::now();
  while (std::chrono::duration<double>(Clock::now() - t0).count() < seconds) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return pred();
}

json active_alerts(const Alertmanager& am) {
  std::string body = am.get("/api/v2/alerts?active=true&silenced=false&inhibited=false");
  json j = json::parse(body, nullptr, false);
  return j.is_array() ? j : json::array();
}

const json* alert_for(const json& alerts, const std::string& site) {
  for (const auto& a : alerts)
    if (a["labels"].value("leak_site", "") == site) return &a;
  return nullptr;
}

}  // namespace

TEST(AlertsE2E, AlertmanagerSeesTheLeakFireAndResolve) {
  Alertmanager am;
  Fixture fx("patterns", {"steady"});
  std::string exec_out = "/tmp/leakscope-e2e-exec-alerts.txt";
  std::remove(exec_out.c_str());
  std::vector<std::string> args = {"trace", "-p", std::to_string(fx.pid()), "--alert",
                                   "alertmanager:" + am.url(), "--alert",
                                   "exec:cat >> " + exec_out};
  args.insert(args.end(), kQuickDetector.begin(), kQuickDetector.end());
  Leakscope ls(args);
  ASSERT_TRUE(ls.wait_tracing()) << ls.err();
  fx.go();

  ASSERT_TRUE(eventually(45, [&] { return alert_for(active_alerts(am), "leak_steadily"); }))
      << "Alertmanager never got the alert\n" << ls.out() << ls.err();
  json alerts = active_alerts(am);
  const json* a = alert_for(alerts, "leak_steadily");
  EXPECT_EQ(a->at("labels")["alertname"], "MemoryLeak");
  EXPECT_EQ(a->at("labels")["pid"], std::to_string(fx.pid()));
  EXPECT_EQ(a->at("labels")["kind"], "heap");
  EXPECT_NE(a->at("annotations")["description"].get<std::string>().find("leak_steadily"),
            std::string::npos);

  // The leak stops; the verdict follows within a window and the alert resolves.
  fx.send("stop");
  EXPECT_TRUE(eventually(40, [&] { return !alert_for(active_alerts(am), "leak_steadily"); }))
      << "the alert never resolved\n" << ls.out();
  EXPECT_EQ(ls.stop(), 0);
  EXPECT_TRUE(fx.running());

  // The exec sink got the same alert as JSON on its stdin.
  std::ifstream in(exec_out);
  std::string first;
  ASSERT_TRUE(std::getline(in, first)) << "exec sink received nothing";
  json rec = json::parse(first);
  EXPECT_EQ(rec["leak_site"]["function"], "leak_steadily");
  EXPECT_EQ(rec["state"], "firing");
  std::remove(exec_out.c_str());
}

TEST(AlertsE2E, DeadSinkNeverStallsTracing) {
  Fixture fx("patterns", {"steady"});
  int dead = free_tcp_port();
  std::string path = "/tmp/leakscope-e2e-deadsink.json";
  std::vector<std::string> args = {"trace", "-p", std::to_string(fx.pid()), "--tick", "500ms",
                                   "--interval", "1s", "--json", path, "--alert",
                                   "alertmanager:http://127.0.0.1:" + std::to_string(dead)};
  args.insert(args.end(), kQuickDetector.begin(), kQuickDetector.end());
  Leakscope ls(args);
  ASSERT_TRUE(ls.wait_tracing()) << ls.err();
  fx.go();
  std::this_thread::sleep_for(std::chrono::seconds(15));
  auto t0 = Clock::now();
  ASSERT_EQ(ls.stop(), 0) << ls.err();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 10);
  // One table a second kept coming while the sink was failing.
  std::string out = ls.out();
  size_t tables = 0;
  for (size_t at = out.find("--- "); at != std::string::npos; at = out.find("--- ", at + 1)) ++tables;
  EXPECT_GE(tables, 10u) << out;
  std::ifstream in(path);
  ASSERT_TRUE(in.good());
  json r = json::parse(in);
  std::remove(path.c_str());
  EXPECT_EQ(r["stacks"][0]["frames"][0]["function"], "leak_steadily");
  EXPECT_EQ(r["stacks"][0]["verdict"], "leak");
  ASSERT_EQ(r["alerts"]["sinks"].size(), 1u);
  EXPECT_GT(r["alerts"]["sinks"][0]["failures"].get<int>(), 0) << r["alerts"].dump();
  EXPECT_EQ(r["alerts"]["sinks"][0]["delivered"].get<int>(), 0);
  EXPECT_TRUE(fx.running());
}

TEST(MetricsE2E, ScrapeServesPrometheusTextThatPromtoolAccepts) {
  Fixture fx("patterns", {"steady"});
  int port = free_tcp_port();
  std::vector<std::string> args = {"trace", "-p", std::to_string(fx.pid()), "--tick", "500ms",
                                   "--metrics", "127.0.0.1:" + std::to_string(port)};
  args.insert(args.end(), kQuickDetector.begin(), kQuickDetector.end());
  Leakscope ls(args);
  ASSERT_TRUE(ls.wait_tracing()) << ls.err();
  fx.go();
  std::string body;
  std::string needle = "leakscope_suspected_leaks{pid=\"" + std::to_string(fx.pid());
  ASSERT_TRUE(eventually(40, [&] {
    httplib::Client c("127.0.0.1", port);
    auto res = c.Get("/metrics");
    if (!res || res->status != 200) return false;
    body = res->body;
    auto at = body.find(needle);
    return at != std::string::npos && body.substr(at, body.find('\n', at) - at).ends_with(" 1");
  })) << body << ls.err();
  EXPECT_NE(body.find("leakscope_live_bytes{pid=\"" + std::to_string(fx.pid())), std::string::npos);
  EXPECT_NE(body.find("leakscope_build_info"), std::string::npos);
  EXPECT_NE(body.find("leakscope_ticks_total"), std::string::npos);
  std::string file = "/tmp/leakscope-e2e-metrics.txt";
  std::ofstream(file) << body;
  auto [code, out] = run_command("promtool check metrics < " + file);
  EXPECT_EQ(code, 0) << out;
  std::remove(file.c_str());
  EXPECT_EQ(ls.stop(), 0);
}
