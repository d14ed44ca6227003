#include <gtest/gtest.h>

#include <chrono>

#include <nlohmann/json.hpp>

#include "alerts/alert.h"
#include "alerts/tracker.h"
#include "js_stack.h"

using namespace leakscope;
using Clock = std::chrono::system_clock;

namespace {

// 2023-11-14T22:13:20Z: a fixed fake clock.
const Clock::time_point kT0 = Clock::time_point(std::chrono::seconds(1'700'000'000));

Clock::time_point at(double seconds) {
  return kT0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

Frame frame(std::string function, uint64_t address, std::string file = "", int line = 0) {
  Frame f;
  f.address = address;
  f.function = std::move(function);
  f.file = std::move(file);
  f.line = line;
  f.module = "/usr/bin/svc";
  f.module_offset = address - 0x400000;
  return f;
}

AlertSubject subject(bool leak, pid_t pid = 42, uint64_t base = 0x401000) {
  AlertSubject s;
  s.host = "node1";
  s.pid = pid;
  s.comm = "svc";
  s.cmdline = {"/usr/bin/svc", "--port", "80"};
  s.kind = Kind::Heap;
  s.frames = {frame("cache_put", base + 0x20, "/src/svc/cache.c", 20),
              frame("handle_request", base + 0x400, "/src/svc/main.c", 99)};
  s.rate = 12288;
  s.rate_unit = "bytes/s";
  s.live_bytes = 1 << 20;
  s.live_objects = 1024;
  s.confidence = 0.93;
  s.is_leak = leak;
  return s;
}

AlertOptions options(double pending = 10, double resolve = 10, double repeat = 60) {
  AlertOptions o;
  o.pending_seconds = pending;
  o.resolve_seconds = resolve;
  o.repeat_seconds = repeat;
  return o;
}

}  // namespace

TEST(AlertStateTest, Names) {
  EXPECT_EQ(alert_state_name(AlertState::Pending), "pending");
  EXPECT_EQ(alert_state_name(AlertState::Firing), "firing");
  EXPECT_EQ(alert_state_name(AlertState::Resolved), "resolved");
}

TEST(AlertTrackerTest, PendingThenFiringAfterPendingSeconds) {
  AlertTracker t(options());
  EXPECT_TRUE(t.update({subject(true)}, at(0)).empty());
  EXPECT_EQ(t.pending(), 1u);
  EXPECT_EQ(t.firing(), 0u);
  EXPECT_TRUE(t.update({subject(true)}, at(5)).empty());
  EXPECT_TRUE(t.update({subject(true)}, at(9.9)).empty());
  auto out = t.update({subject(true)}, at(10));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].state, AlertState::Firing);
  EXPECT_EQ(out[0].first_seen, "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(out[0].starts_at, "2023-11-14T22:13:30.000Z");
  EXPECT_EQ(out[0].ends_at, "2023-11-14T22:16:30.000Z");  // now + 3 x repeat
  EXPECT_EQ(out[0].fingerprint, alert_fingerprint(subject(true)));
  EXPECT_EQ(out[0].subject.pid, 42);
  EXPECT_EQ(t.pending(), 0u);
  EXPECT_EQ(t.firing(), 1u);
}

TEST(AlertTrackerTest, ZeroPendingFiresAtOnce) {
  AlertTracker t(options(0));
  auto out = t.update({subject(true)}, at(0));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].state, AlertState::Firing);
  EXPECT_EQ(out[0].first_seen, out[0].starts_at);
}

TEST(AlertTrackerTest, NotLeakingSubjectsAreNotTracked) {
  AlertTracker t(options(0));
  EXPECT_TRUE(t.update({subject(false), subject(false, 43)}, at(0)).empty());
  EXPECT_EQ(t.pending() + t.firing(), 0u);
}

TEST(AlertTrackerTest, RepeatsWhileFiring) {
  AlertTracker t(options(10, 10, 60));
  t.update({subject(true)}, at(0));
  ASSERT_EQ(t.update({subject(true)}, at(10)).size(), 1u);
  EXPECT_TRUE(t.update({subject(true)}, at(30)).empty());
  EXPECT_TRUE(t.update({subject(true)}, at(69)).empty());
  auto again = t.update({subject(true)}, at(70));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].state, AlertState::Firing);
  EXPECT_EQ(again[0].starts_at, "2023-11-14T22:13:30.000Z");  // unchanged
  EXPECT_EQ(again[0].ends_at, "2023-11-14T22:17:30.000Z");
  EXPECT_TRUE(t.update({subject(true)}, at(100)).empty());
  EXPECT_EQ(t.update({subject(true)}, at(130)).size(), 1u);
}

TEST(AlertTrackerTest, ResolvesAfterResolveSecondsWithoutLeak) {
  AlertTracker t(options(10, 10, 60));
  t.update({subject(true)}, at(0));
  ASSERT_EQ(t.update({subject(true)}, at(10)).size(), 1u);
  auto calm = subject(false);
  calm.rate = 0;
  EXPECT_TRUE(t.update({calm}, at(15)).empty());
  EXPECT_TRUE(t.update({calm}, at(19)).empty());
  EXPECT_EQ(t.firing(), 1u);
  auto out = t.update({calm}, at(20));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].state, AlertState::Resolved);
  EXPECT_EQ(out[0].ends_at, "2023-11-14T22:13:40.000Z");
  EXPECT_EQ(out[0].starts_at, "2023-11-14T22:13:30.000Z");
  EXPECT_EQ(out[0].subject.rate, 0);  // the latest numbers
  EXPECT_EQ(t.firing(), 0u);
  // Sent once, then forgotten.
  EXPECT_TRUE(t.update({calm}, at(30)).empty());
  EXPECT_TRUE(t.update({}, at(100)).empty());
  // A new leak starts over.
  EXPECT_TRUE(t.update({subject(true)}, at(200)).empty());
  auto refire = t.update({subject(true)}, at(210));
  ASSERT_EQ(refire.size(), 1u);
  EXPECT_EQ(refire[0].first_seen, "2023-11-14T22:16:40.000Z");
}

TEST(AlertTrackerTest, AbsentSubjectCountsAsNotLeaking) {
  AlertTracker t(options(0, 5, 60));
  ASSERT_EQ(t.update({subject(true)}, at(0)).size(), 1u);
  EXPECT_TRUE(t.update({}, at(3)).empty());
  auto out = t.update({}, at(5));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].state, AlertState::Resolved);
  EXPECT_EQ(out[0].subject.comm, "svc");
}

TEST(AlertTrackerTest, PendingThatStopsIsDroppedSilently) {
  AlertTracker t(options(10));
  EXPECT_TRUE(t.update({subject(true)}, at(0)).empty());
  EXPECT_TRUE(t.update({subject(false)}, at(5)).empty());
  EXPECT_EQ(t.pending(), 0u);
  // Leaking again restarts the pending period.
  EXPECT_TRUE(t.update({subject(true)}, at(6)).empty());
  EXPECT_TRUE(t.update({subject(true)}, at(12)).empty());
  auto out = t.update({subject(true)}, at(16));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].first_seen, "2023-11-14T22:13:26.000Z");
}

TEST(AlertTrackerTest, FlappingWhileFiringDoesNotResolveOrDuplicate) {
  AlertTracker t(options(0, 10, 60));
  ASSERT_EQ(t.update({subject(true)}, at(0)).size(), 1u);
  for (int i = 1; i < 50; ++i) {
    bool leak = i % 3 != 0;  // a gap shorter than resolve_seconds now and then
    EXPECT_TRUE(t.update({subject(leak)}, at(i)).empty()) << "tick " << i;
  }
  EXPECT_EQ(t.firing(), 1u);
}

TEST(AlertTrackerTest, SeparateAlertsPerPidAndKind) {
  AlertTracker t(options(0));
  auto other_kind = subject(true);
  other_kind.kind = Kind::Mmap;
  auto out = t.update({subject(true, 42), subject(true, 43), other_kind}, at(0));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(t.firing(), 3u);
  // Same stack in two processes: same fingerprint, two alerts.
  EXPECT_EQ(alert_fingerprint(subject(true, 42)), alert_fingerprint(subject(true, 43)));
}

TEST(AlertTrackerTest, ResolveAllResolvesFiringAndForgetsPending) {
  AlertTracker t(options(10));
  t.update({subject(true, 42)}, at(0));
  t.update({subject(true, 42), subject(true, 43)}, at(10));
  EXPECT_EQ(t.firing(), 1u);
  EXPECT_EQ(t.pending(), 1u);
  auto out = t.resolve_all(at(11));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].state, AlertState::Resolved);
  EXPECT_EQ(out[0].subject.pid, 42);
  EXPECT_EQ(out[0].ends_at, "2023-11-14T22:13:31.000Z");
  EXPECT_EQ(t.firing() + t.pending(), 0u);
}

TEST(AlertFingerprintTest, StableAcrossPidsAndAddresses) {
  auto a = subject(true, 42, 0x401000);
  auto b = subject(false, 4242, 0x7f0000001000);  // ASLR: other addresses
  b.rate = 1;
  b.live_bytes = 5;
  EXPECT_EQ(alert_fingerprint(a), alert_fingerprint(b));
  EXPECT_EQ(alert_fingerprint(a).size(), 16u);
  EXPECT_EQ(alert_fingerprint(a).find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(AlertFingerprintTest, DiffersForDifferentStacksHostsCommsKinds) {
  auto base = subject(true);
  std::string fp = alert_fingerprint(base);
  auto other_stack = base;
  other_stack.frames[1].function = "handle_admin";
  auto other_host = base;
  other_host.host = "node2";
  auto other_comm = base;
  other_comm.comm = "svc2";
  auto other_kind = base;
  other_kind.kind = Kind::Timerfd;
  auto shorter = base;
  shorter.frames.pop_back();
  for (const auto* s : {&other_stack, &other_host, &other_comm, &other_kind, &shorter})
    EXPECT_NE(alert_fingerprint(*s), fp);
}

TEST(AlertFingerprintTest, UnknownFunctionsUseModuleBasenameAndOffset) {
  auto a = subject(true);
  a.frames[0].function.clear();
  a.frames[0].module = "/usr/lib/x86_64-linux-gnu/libfoo.so.1";
  a.frames[0].module_offset = 0xbeef;
  auto b = a;
  b.frames[0].module = "/opt/other/libfoo.so.1";  // same object elsewhere
  b.frames[0].address = 0x7f00deadbeef;
  EXPECT_EQ(alert_fingerprint(a), alert_fingerprint(b));
  auto c = a;
  c.frames[0].module_offset = 0xbef0;
  EXPECT_NE(alert_fingerprint(a), alert_fingerprint(c));
}

TEST(AlertRecordTest, SummaryForBytesAndObjects) {
  AlertRecord r;
  r.subject = subject(true);
  EXPECT_EQ(r.summary(), "leak in svc (pid 42): +12.0 KiB/s heap at cache_put (cache.c:20)");
  r.subject.kind = Kind::Timerfd;
  r.subject.rate = 5;
  r.subject.rate_unit = "objects/s";
  r.subject.frames[0].file.clear();
  EXPECT_EQ(r.summary(), "leak in svc (pid 42): +5.0 timers/s at cache_put");
  r.subject.frames.clear();
  EXPECT_NE(r.summary().find("at [unknown]"), std::string::npos);
}

TEST(AlertRecordTest, JsonHasTheSchemaFields) {
  AlertTracker t(options(0));
  auto out = t.update({subject(true)}, at(0));
  ASSERT_EQ(out.size(), 1u);
  auto j = nlohmann::json::parse(alert_to_json(out[0]));
  for (const char* key :
       {"schema_version", "fingerprint", "state", "summary", "host", "pid", "comm", "cmdline",
        "cgroup", "container_id", "kind", "leak_site", "frames", "rate", "rate_unit",
        "live_bytes", "live_objects", "confidence", "first_seen", "starts_at", "ends_at"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["schema_version"], kAlertSchemaVersion);
  EXPECT_EQ(j["state"], "firing");
  EXPECT_EQ(j["pid"], 42);
  EXPECT_EQ(j["kind"], "heap");
  EXPECT_EQ(j["cmdline"][1], "--port");
  EXPECT_TRUE(j["cgroup"].is_null());
  EXPECT_EQ(j["leak_site"]["function"], "cache_put");
  EXPECT_EQ(j["leak_site"]["file"], "/src/svc/cache.c");
  EXPECT_EQ(j["leak_site"]["line"], 20);
  EXPECT_EQ(j["frames"].size(), 2u);
  EXPECT_EQ(j["frames"][1]["function"], "handle_request");
  EXPECT_EQ(j["rate"], 12288.0);
  EXPECT_EQ(j["live_bytes"], 1 << 20);
  EXPECT_EQ(j["fingerprint"], out[0].fingerprint);
  EXPECT_EQ(j["starts_at"], out[0].starts_at);
}

TEST(AlertRecordTest, JsonSurvivesInvalidUtf8) {
  AlertRecord r;
  r.subject = subject(true);
  r.subject.comm = "bad\xff\xfe";
  r.subject.cmdline = {"x\xc3"};
  auto j = nlohmann::json::parse(alert_to_json(r));
  EXPECT_TRUE(j["comm"].is_string());
}

namespace {

AlertSubject js_subject() {
  AlertSubject s = subject(true);
  s.comm = "node";
  s.kind = Kind::Js;
  s.frames = js_test::js_frames();
  s.leak_site = js_test::kJsLeakSite;
  s.rate = 20480;
  return s;
}

}  // namespace

// A js alert names its leak site (the app's handler), not the runtime's
// frame that allocated.
TEST(AlertRecordTest, JsSummaryAndJsonNameTheLeakSite) {
  AlertRecord r;
  r.subject = js_subject();
  EXPECT_EQ(r.summary(), "leak in node (pid 42): +20.0 KiB/s js at handler (app.js:42:13)");
  auto j = nlohmann::json::parse(alert_to_json(r));
  EXPECT_EQ(j["kind"], "js");
  EXPECT_EQ(j["leak_site"]["function"], "handler");
  EXPECT_EQ(j["leak_site"]["file"], "/srv/app/app.js");
  EXPECT_EQ(j["leak_site"]["line"], 42);
  EXPECT_EQ(j["leak_site"]["column"], 13);
  EXPECT_EQ(j["leak_site"]["index"], 1);
  EXPECT_EQ(j["leak_site"]["module"], "[js]");
  ASSERT_EQ(j["frames"].size(), 3u);
  EXPECT_EQ(j["frames"][0]["display"], "push (node:internal/fixed_queue:98:17)");
  EXPECT_EQ(j["frames"][1]["display"], "handler (/srv/app/app.js:42:13)");
  EXPECT_EQ(j["frames"][2]["column"], 5);

  // A leak site out of range: the first frame.
  r.subject.leak_site = 3;
  EXPECT_EQ(r.summary(), "leak in node (pid 42): +20.0 KiB/s js at push (node:internal/fixed_queue:98:17)");
  EXPECT_EQ(nlohmann::json::parse(alert_to_json(r))["leak_site"]["index"], 0);

  // Native alerts: the first frame, index 0, no column.
  AlertRecord native;
  native.subject = subject(true);
  auto n = nlohmann::json::parse(alert_to_json(native));
  EXPECT_EQ(n["leak_site"]["index"], 0);
  EXPECT_FALSE(n["leak_site"].contains("column"));
  EXPECT_FALSE(n["frames"][0].contains("column"));
  EXPECT_EQ(n["frames"][0]["display"], "cache_put");
}

TEST(AlertFingerprintTest, JsFramesCountWithTheirFileNotTheirLine) {
  const AlertSubject a = js_subject();
  AlertSubject moved = a;  // code edited above: lines and columns move
  moved.frames[1].line = 50;
  moved.frames[1].column = 3;
  EXPECT_EQ(alert_fingerprint(a), alert_fingerprint(moved));
  AlertSubject other_file = a;  // the same anonymous function name elsewhere
  other_file.frames[2].file = "/srv/app/node_modules/koa/lib/application.js";
  EXPECT_NE(alert_fingerprint(a), alert_fingerprint(other_file));
}
