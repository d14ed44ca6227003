// Telling a leak from a cache, with default detector options, against
// fixtures that each show one memory pattern. One leakscope traces them all
// at once, so the suite pays for the detector's window only once.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "harness.h"

using namespace e2e;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<json> read_jsonl(const std::string& path) {
  std::vector<json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

// Seconds since the epoch of an alert timestamp as the tracker writes it,
// RFC 3339 UTC with milliseconds ("2024-05-01T12:00:00.250Z"). Throws on
// anything else, so a changed format fails the test instead of reading as 0.
double parse_rfc3339(const std::string& s) {
  std::tm tm{};
  const char* rest = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  auto digit = [&](int i) { return rest[i] >= '0' && rest[i] <= '9'; };
  if (rest == nullptr || rest[0] != '.' || !digit(1) || !digit(2) || !digit(3) || rest[4] != 'Z' ||
      rest[5] != '\0')
    throw std::invalid_argument("not an RFC 3339 UTC time with milliseconds: '" + s + "'");
  const int millis = (rest[1] - '0') * 100 + (rest[2] - '0') * 10 + (rest[3] - '0');
  return static_cast<double>(timegm(&tm)) + millis / 1000.0;
}

double wall_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string site_of(const json& alert) { return alert["leak_site"]["function"].get<std::string>(); }

}  // namespace

TEST(DetectorE2E, LeaksAreFlaggedCachesAndSpikesAreNot) {
  const double kFill = 30;  // slow_cache fills for 30 s, then levels off
  std::vector<std::string> modes = {"steady", "bursty", "capped_cache", "big_buffer", "startup",
                                    "slow_cache"};
  std::map<std::string, std::unique_ptr<Fixture>> fx;
  std::string pids;
  for (const auto& m : modes) {
    std::vector<std::string> args = {m};
    if (m == "slow_cache") args.push_back(std::to_string(static_cast<int>(kFill)));
    fx[m] = std::make_unique<Fixture>("patterns", args);
    pids += (pids.empty() ? "" : ",") + std::to_string(fx[m]->pid());
  }
  std::string alerts = "/tmp/leakscope-e2e-detector-alerts.jsonl";
  std::string report = "/tmp/leakscope-e2e-detector.json";
  std::remove(alerts.c_str());
  // Default detector options. --alert-pending 0s turns every tick's leak
  // verdict into an alert record at once, so the alert log is the verdict
  // history: a stack that never alerted was never `leak` at any tick.
  Leakscope ls({"trace", "-p", pids, "--interval", "10s", "--alert", "jsonl:" + alerts,
                "--alert-pending", "0s", "--json", report});
  ASSERT_TRUE(ls.wait_tracing()) << ls.err();
  const double attach = wall_now();
  auto t0 = Clock::now();
  for (auto& [m, f] : fx) f->go();
  const double levelled_off = wall_now() + kFill;  // the slow cache stops growing

  // Two windows after the slow cache levels off, plus the resolve delay.
  const double kRun = kFill + 2 * 60 + 15;
  while (std::chrono::duration<double>(Clock::now() - t0).count() < kRun)
    std::this_thread::sleep_for(std::chrono::seconds(1));
  const double stopped = wall_now();
  ASSERT_EQ(ls.stop(), 0) << ls.err();

  auto records = read_jsonl(alerts);
  std::map<std::string, std::vector<json>> by_site;
  for (const auto& r : records) by_site[site_of(r)].push_back(r);

  // Steady and bursty leaks: a leak within 60 s of attach (first_seen is
  // when the verdict first said "leak"), then firing.
  for (const std::string site : {"leak_steadily", "leak_in_bursts"}) {
    ASSERT_FALSE(by_site[site].empty()) << site << " never alerted\n" << ls.out();
    const json& first = by_site[site].front();
    EXPECT_EQ(first["state"], "firing") << first.dump();
    EXPECT_LE(parse_rfc3339(first["first_seen"]) - attach, 60) << first.dump();
    EXPECT_EQ(first["kind"], "heap");
  }
  // Never a leak, at any tick: a capped cache, a big transient buffer, tables
  // kept from start-up.
  for (const std::string site : {"cache_insert", "process_upload", "load_tables"}) {
    EXPECT_TRUE(by_site[site].empty()) << site << " was a leak at some tick: "
                                       << by_site[site].front().dump();
  }

  // While it fills (2 KiB/s for kFill s) the slow cache looks like a leak,
  // so its alert fires; it must resolve on its own within two windows of
  // levelling off, well before leakscope stops (which resolves whatever
  // still fires), and stay resolved.
  const auto& slow = by_site["fill_slowly"];
  if (slow.empty()) {
    ADD_FAILURE() << "the slow cache never looked like a leak while filling\n" << ls.out();
  } else {
    EXPECT_EQ(slow.front()["state"], "firing") << slow.front().dump();
    EXPECT_LE(parse_rfc3339(slow.front()["first_seen"]), levelled_off + 5) << slow.front().dump();
    const json& last = slow.back();
    EXPECT_EQ(last["state"], "resolved") << last.dump();
    const double resolved_at = parse_rfc3339(last["ends_at"]);
    EXPECT_LE(resolved_at, levelled_off + 2 * 60) << last.dump();
    EXPECT_LT(resolved_at, stopped - 10) << "resolved only by the shutdown: " << last.dump();
  }

  // The final report: the two leaks on top, with verdicts and evidence.
  std::ifstream in(report);
  ASSERT_TRUE(in.good()) << ls.err();
  json r = json::parse(in);
  std::remove(report.c_str());
  std::remove(alerts.c_str());
  ASSERT_GE(r["stacks"].size(), 2u);
  std::set<std::string> top2 = {r["stacks"][0]["frames"][0]["function"],
                                r["stacks"][1]["frames"][0]["function"]};
  EXPECT_EQ(top2, (std::set<std::string>{"leak_steadily", "leak_in_bursts"})) << ls.out();
  for (int i = 0; i < 2; ++i) {
    const json& s = r["stacks"][i];
    EXPECT_EQ(s["verdict"], "leak");
    EXPECT_GT(s["confidence"].get<double>(), 0.5);
    EXPECT_GE(s["evidence"]["rate"].get<double>(), 10 * 1024);
    EXPECT_EQ(s["evidence"]["rate_unit"], "bytes/s");
    EXPECT_GT(s["evidence"]["oldest_age_seconds"].get<double>(), 60);
  }
  for (const auto& s : r["stacks"]) {
    std::string site = s["frames"].empty() ? "" : s["frames"][0]["function"].get<std::string>();
    if (site == "cache_insert" || site == "process_upload" || site == "load_tables" ||
        site == "fill_slowly") {
      EXPECT_NE(s["verdict"], "leak") << s.dump();
    }
  }
  for (auto& [m, f] : fx) EXPECT_TRUE(f->running()) << m;
}

namespace {

// The first (highest ranked) stack of `kind` traced in `pid`, or null.
const json* top_of_kind(const json& report, const std::string& kind, pid_t pid) {
  for (const auto& s : report["stacks"])
    if (s["kind"] == kind && s["pid"].get<pid_t>() == pid) return &s;
  return nullptr;
}

std::string leak_site(const json& stack) {
  return stack["frames"].empty() ? "" : stack["frames"][0]["function"].get<std::string>();
}

}  // namespace

// A timer and an epoll registration leaked 10 times a second (>= 5 objects/s)
// are each `leak` and the top of their kind well within 60 s of attach; the
// twins beside them (the same calls, closed or removed ~0.5 s later) are not.
TEST(DetectorE2E, TimerAndEpollLeaksAreLeaksOnTopOfTheirKind) {
  Fixture timers("timers", {"steady"});
  Fixture epolls("epolls", {"steady"});
  // The detector needs min_span (20 s) of history; a few more seconds give
  // its floors room to rise above the ~0.5 s churn of the twins.
  const std::string kRun = "30s";
  const std::string report = "/tmp/leakscope-e2e-detector-kinds.json";
  Leakscope ls({"trace", "-p", std::to_string(timers.pid()) + "," + std::to_string(epolls.pid()),
                "-q", "--duration", kRun, "--json", report});
  ASSERT_TRUE(ls.wait_tracing()) << ls.err();
  timers.go();
  epolls.go();
  ASSERT_EQ(ls.wait(60), 0) << ls.err();
  json r = take_json(report);
  ASSERT_TRUE(r.is_object()) << ls.err();
  ASSERT_TRUE(timers.running());
  ASSERT_TRUE(epolls.running());

  struct Case {
    pid_t pid;
    std::string kind, leak, twin;
  };
  for (const Case& c : {Case{timers.pid(), "timerfd", "arm_request_timer", "arm_request_timer_closed"},
                        Case{epolls.pid(), "epoll", "register_listener", "register_listener_briefly"}}) {
    const json* top = top_of_kind(r, c.kind, c.pid);
    ASSERT_NE(top, nullptr) << "no " << c.kind << " stack\n" << ls.out();
    EXPECT_EQ(leak_site(*top), c.leak) << top->dump(2);
    EXPECT_EQ((*top)["verdict"], "leak") << top->dump(2);
    EXPECT_EQ((*top)["evidence"]["rate_unit"], "objects/s");
    EXPECT_GE((*top)["evidence"]["rate"].get<double>(), 5) << top->dump(2);
    EXPECT_LE((*top)["evidence"]["window_seconds"].get<double>(), 60);

    const json* twin = find_stack(r, c.twin, c.pid, c.kind);
    ASSERT_NE(twin, nullptr) << "the twin " << c.twin << " was not traced\n" << ls.out();
    EXPECT_GE((*twin)["allocs"].get<long long>(), 100) << "the twin ran all along";
    EXPECT_LE((*twin)["live_objects"].get<long long>(), 10) << twin->dump(2);
    EXPECT_NE((*twin)["verdict"], "leak") << twin->dump(2);
  }
}
