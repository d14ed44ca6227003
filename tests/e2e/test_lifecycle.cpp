// Process lifecycles: children followed from birth, exec into a new image,
// churn of short-lived processes, and whole-host tracing with drill-down.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "harness.h"

using namespace e2e;
using nlohmann::json;

namespace {

std::string temp_path(const std::string& what, const std::string& ext) {
  return "/tmp/leakscope-e2e-" + what + "-" + std::to_string(::getpid()) + ext;
}

const json* find_process(const json& report, pid_t pid, const std::string& origin = "") {
  for (const json& p : report["processes"])
    if (p["pid"] == pid && (origin.empty() || p["origin"] == origin)) return &p;
  return nullptr;
}

pid_t worker_pid(const Fixture& fx, int worker) {
  std::string prefix = "worker " + std::to_string(worker) + " ";
  for (const std::string& line : fx.lines())
    if (line.rfind(prefix, 0) == 0) return std::stoi(line.substr(prefix.size()));
  return 0;
}

// The process's own memory: resident anonymous pages. File pages (its
// binary's code as it first runs, ELF files the symbolizer maps) are page
// cache, shared, and come once.
long rss_anon_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("RssAnon:", 0) == 0) return std::stol(line.substr(8));
  return -1;
}

json status_of(const std::string& sock) {
  Leakscope st({"status", "--control", sock, "--json"});
  EXPECT_EQ(st.wait(), 0) << st.err();
  return json::parse(st.out());
}

void check_prefork_report(const json& report, const Fixture& fx, const Expect& leaked) {
  pid_t leaky = worker_pid(fx, 1);
  ASSERT_GT(leaky, 0);
  // The leak is found in the second worker, under its own PID...
  const json* leak = find_stack(report, "remember_session", leaky, "heap");
  ASSERT_NE(leak, nullptr) << report.dump(1);
  EXPECT_EQ((*leak)["verdict"].get<std::string>().empty(), false);
  // Probes reach a child a tick after its birth: most of its requests.
  EXPECT_GE((*leak)["live_bytes"].get<long long>(), leaked.bytes / 2);
  EXPECT_LE((*leak)["live_bytes"].get<long long>(), leaked.bytes);
  // ...and blamed on nobody else.
  for (pid_t other : {fx.pid(), worker_pid(fx, 0), worker_pid(fx, 2)})
    EXPECT_EQ(find_stack(report, "remember_session", other), nullptr) << other;
  const json* proc = find_process(report, leaky);
  ASSERT_NE(proc, nullptr);
  EXPECT_EQ((*proc)["origin"], "child");
  EXPECT_EQ((*proc)["parent_pid"], fx.pid());
  EXPECT_EQ((*proc)["ended"], "exit");
  // The balanced handler leaves nothing live in any worker.
  for (const json& s : report["stacks"])
    if (!s["frames"].empty() && s["frames"][0]["function"] == "handle_request") {
      EXPECT_EQ(s["live_objects"], 0) << s.dump();
    }
}

}  // namespace

TEST(LifecycleE2E, PreforkWorkerLeakIsFoundInTheWorkerNotTheParent) {
  Fixture fx("prefork");
  std::string path = temp_path("prefork", ".json");
  Leakscope ls({"trace", "-p", std::to_string(fx.pid()), "--follow-children", "--tick", "100ms",
                "-q", "--json", path, "-v"});
  ASSERT_TRUE(ls.wait_tracing()) << ls.err();
  fx.go();
  auto expects = fx.wait_done();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_EQ(ls.stop(), 0) << ls.err();
  json report = take_json(path);
  ASSERT_TRUE(report.is_object()) << ls.err();
  check_prefork_report(report, fx, expects.at("remember_session"));
  fx.finish();
}

TEST(LifecycleE2E, CommandModeFollowsChildrenByDefault) {
  std::string path = temp_path("prefork-cmd", ".json");
  Leakscope ls({"trace", "--tick", "100ms", "-q", "--json", path, "--", fixture_path("prefork"),
                "--auto"});
  EXPECT_EQ(ls.wait(60), 0) << ls.err();
  json report = take_json(path);
  ASSERT_TRUE(report.is_object()) << ls.err();
  // No handshake to read PIDs from: the leak site is found in a child
  // whose parent is the command.
  const json* leak = find_stack(report, "remember_session", 0, "heap");
  ASSERT_NE(leak, nullptr) << report.dump(1);
  const json* proc = find_process(report, (*leak)["pid"].get<pid_t>());
  ASSERT_NE(proc, nullptr);
  EXPECT_EQ((*proc)["origin"], "child");
  const json* parent = find_process(report, (*proc)["parent_pid"].get<pid_t>());
  ASSERT_NE(parent, nullptr);
  EXPECT_NE((*parent)["origin"], "child");
}

TEST(LifecycleE2E, WithoutFollowChildrenOnlyTheParentIsTraced) {
  Fixture fx("prefork");
  std::string path = temp_path("prefork-nofollow", ".json");
  Leakscope ls({"trace", "-p", std::to_string(fx.pid()), "--tick", "100ms", "-q", "--json", path});
  ASSERT_TRUE(ls.wait_tracing()) << ls.err();
  fx.go();
  fx.wait_done();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(ls.stop(), 0) << ls.err();
  json report = take_json(path);
  EXPECT_EQ(find_stack(report, "remember_session"), nullptr);
  for (const json& p : report["processes"]) EXPECT_EQ(p["pid"], fx.pid()) << p.dump();
  fx.finish();
}

TEST(LifecycleE2E, ExecStartsANewImageAndKeepsTheOldOnesLedger) {
  Fixture fx("exec_leaky");
  std::string path = temp_path("exec", ".json");
  Leakscope ls({"trace", "-p", std::to_string(fx.pid()), "--tick", "100ms", "-q", "--json", path});
  ASSERT_TRUE(ls.wait_tracing()) << ls.err();
  fx.go();
  // The first image prints its expectation; the second (fixture_leaky
  // --auto) its own, then exits, which ends tracing.
  auto first = fx.wait_done();
  EXPECT_EQ(ls.wait(30), 0) << ls.err();
  json report = take_json(path);
  ASSERT_TRUE(report.is_object()) << ls.err();
  const json* before = find_stack(report, "leak_before_exec", fx.pid(), "heap");
  const json* after = find_stack(report, "cache_put", fx.pid(), "heap");
  ASSERT_NE(before, nullptr) << report.dump(1);
  ASSERT_NE(after, nullptr) << report.dump(1);
  EXPECT_EQ((*before)["live_bytes"], first.at("leak_before_exec").bytes);
  EXPECT_EQ((*after)["live_bytes"], 2000 * 1024);  // fixture_leaky's REQUESTS * PAYLOAD
  EXPECT_NE((*before)["trace_id"], (*after)["trace_id"]);
  // The old image's stack was resolved against the old image's maps.
  EXPECT_NE((*before)["frames"][0]["module"].get<std::string>().find("fixture_exec_leaky"),
            std::string::npos);
  int images = 0;
  for (const json& p : report["processes"]) {
    if (p["pid"] != fx.pid()) continue;
    ++images;
    if (p["trace_id"] == (*before)["trace_id"]) {
      EXPECT_EQ(p["ended"], "exec");
    }
    if (p["trace_id"] == (*after)["trace_id"]) {
      EXPECT_EQ(p["origin"], "exec");
      EXPECT_EQ(p["comm"], "fixture_leaky");
      EXPECT_EQ(p["ended"], "exit");
    }
  }
  EXPECT_EQ(images, 2);
}

TEST(LifecycleE2E, ChurnOfShortLivedChildrenLeavesNoStaleEntries) {
  Fixture fx("churn", {"1500"});
  std::string sock = temp_path("churn", ".sock");
  Leakscope ls({"trace", "-p", std::to_string(fx.pid()), "--follow-children", "--tick", "100ms",
                "-q", "--control", sock});
  ASSERT_TRUE(ls.wait_tracing()) << ls.err();
  fx.go();
  fx.wait_done(120);
  // The first round pays what is paid once (the symbolizer's first look at
  // the fixture's modules, the workers' allocator arenas): compared are the
  // second and the third.
  fx.send("again");
  fx.wait_done(120);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  long rss_first = rss_anon_kib(ls.pid());
  json first = status_of(sock);
  fx.send("again");
  fx.wait_done(120);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  long rss_second = rss_anon_kib(ls.pid());
  json second = status_of(sock);

  for (const json& s : {first, second}) {
    // Only the parent is left in the kernel's maps and in memory: every
    // child's targets entry, live objects and ledger rows went with it.
    EXPECT_EQ(s["maps"]["targets"]["used"], 1) << s.dump();
    EXPECT_LE(s["maps"]["ledger"]["used"].get<int>(), 4) << s.dump();
    EXPECT_LE(s["images_kept"].get<int>(), 2) << s.dump();
    EXPECT_EQ(s["drops"]["events_lost"], 0) << s.dump();
  }
  // A further round of 1,500 processes costs the tracer no memory to speak of.
  EXPECT_LT(rss_second - rss_first, 4 * 1024) << "RssAnon " << rss_first << " KiB -> " << rss_second << " KiB";
  EXPECT_EQ(ls.stop(), 0) << ls.err();
  fx.finish();
}

TEST(LifecycleE2E, WholeHostFindsTheGrowingProcessAndDrillsIntoIt) {
  Fixture grower("grower", {"18"});
  // A busy process that does not leak: requests whose memory is reused,
  // tables loaded once, a 32 MiB buffer mapped and unmapped every 2 s.
  Fixture bystander("quiet_leak", {"30", "0"});
  std::string path = temp_path("all", ".json");
  Leakscope ls({"trace", "--all", "--tick", "250ms", "--window", "6s", "--drill-rate", "256KiB",
                "--drill-for", "30s", "--min-rate", "64KiB", "--duration", "16s", "-q", "--json",
                path, "--exclude-pid", std::to_string(::getpid())});
  ASSERT_TRUE(ls.wait_tracing()) << ls.err();
  grower.go();
  bystander.go();
  EXPECT_EQ(ls.wait(60), 0) << ls.err();
  json report = take_json(path);
  ASSERT_TRUE(report.is_object()) << ls.err();
  EXPECT_GT(report["processes_traced"].get<int>(), 1);  // the whole host, not one process
  // Drilled into the grower, and named its leak site.
  const json* proc = find_process(report, grower.pid());
  ASSERT_NE(proc, nullptr) << report.dump(1);
  EXPECT_TRUE((*proc)["drilled"].get<bool>());
  const json* leak = find_stack(report, "grow_steadily", grower.pid(), "heap");
  ASSERT_NE(leak, nullptr) << report.dump(1);
  EXPECT_EQ((*leak)["verdict"], "leak") << leak->dump();
  EXPECT_NE(ls.err().find("PID " + std::to_string(grower.pid()) + " (fixture_grower) grows"),
            std::string::npos)
      << ls.err();
  // Before any allocator probe, the cheap always-on kind saw the growth
  // and where it came from: first-touch page faults under grow_steadily.
  const json* touched = find_stack(report, "grow_steadily", grower.pid(), "fault");
  ASSERT_NE(touched, nullptr) << report.dump(1);
  EXPECT_GT((*touched)["live_bytes"].get<long long>(), 4ll << 20) << touched->dump();
  // The busy bystander is not called a leak, by any kind. (Other processes
  // of the host are not ours to judge here: a build may run beside.)
  bool bystander_seen = false;
  for (const json& s : report["stacks"])
    if (s["pid"] == bystander.pid()) {
      bystander_seen = true;
      EXPECT_NE(s["verdict"], "leak") << s.dump();
    }
  EXPECT_TRUE(bystander_seen) << report.dump(1);
  grower.finish();
  bystander.finish();
}

namespace {

// Starts `name` under PID `pid` (or not: the PID may be taken meanwhile),
// by setting the namespace's last PID just before the fork.
std::unique_ptr<Fixture> fixture_with_pid(const std::string& name, pid_t pid,
                                          std::vector<std::string> args) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    {
      std::ofstream last("/proc/sys/kernel/ns_last_pid");
      last << (pid - 1);
    }
    auto fx = std::make_unique<Fixture>(name, args);
    if (fx->pid() == pid) return fx;
    fx->finish();
  }
  return nullptr;
}

}  // namespace

TEST(LifecycleE2E, AReusedPidIsNeverTakenForTheProcessThatHadIt) {
  Fixture keeper("balanced");  // keeps the tracer running after the first exits
  auto first = std::make_unique<Fixture>("leaky", std::vector<std::string>{"--exit"});
  pid_t reused = first->pid();
  std::string path = temp_path("reuse", ".json");
  Leakscope ls({"trace", "-p", std::to_string(reused), "-p", std::to_string(keeper.pid()), "--tick",
                "100ms", "-q", "--json", path});
  ASSERT_TRUE(ls.wait_tracing()) << ls.err();
  first->go();
  auto leaked = first->wait_done();
  first->finish();  // exits and is reaped: its PID is free
  // At once a new process under the same PID, leaking the same way: no tick
  // has passed, only the kernel side can have noticed the exit.
  auto second = fixture_with_pid("leaky", reused, {});
  ASSERT_NE(second, nullptr) << "could not start a process under PID " << reused;
  second->go();
  second->wait_done();
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  ASSERT_EQ(ls.stop(), 0) << ls.err();
  json report = take_json(path);
  ASSERT_TRUE(report.is_object()) << ls.err();
  // The first process's ledger, and only its: the second was never traced.
  const json* leak = find_stack(report, "cache_put", reused, "heap");
  ASSERT_NE(leak, nullptr) << report.dump(1);
  EXPECT_EQ((*leak)["live_objects"], leaked.at("cache_put").objects);
  EXPECT_EQ((*leak)["live_bytes"], leaked.at("cache_put").bytes);
  int images = 0;
  for (const json& p : report["processes"])
    if (p["pid"] == reused) {
      ++images;
      EXPECT_EQ(p["ended"], "exit");
    }
  EXPECT_EQ(images, 1);
  for (const json& s : report["stacks"])
    if (s["pid"] == reused) {
      EXPECT_EQ(s["trace_id"], (*leak)["trace_id"]) << s.dump();
    }
  second->finish();
  keeper.finish();
}

TEST(LifecycleE2E, ADrillDownThatConfirmsNoHeapLeakTakesItsProbesOff) {
  // Memory grows through mapped pages, not the heap: drilled into, nothing
  // found, probes off after --drill-for.
  Fixture grower("grower", {"12", "mmap"});
  std::string path = temp_path("drill-off", ".json");
  Leakscope ls({"trace", "--all", "--comm", "fixture_grower", "--tick", "250ms", "--window", "4s",
                "--drill-rate", "256KiB", "--drill-for", "3s", "--duration", "9s", "-q", "--json",
                path});
  ASSERT_TRUE(ls.wait_tracing()) << ls.err();
  grower.go();
  EXPECT_EQ(ls.wait(60), 0) << ls.err();
  json report = take_json(path);
  ASSERT_TRUE(report.is_object()) << ls.err();
  // --comm: the grower alone of the whole host.
  EXPECT_EQ(report["processes_traced"], 1) << report.dump(1);
  std::string pid = std::to_string(grower.pid());
  EXPECT_NE(ls.err().find("PID " + pid + " (fixture_grower) grows"), std::string::npos) << ls.err();
  EXPECT_NE(ls.err().find("PID " + pid + " (fixture_grower): no heap leak confirmed; allocator probes off"),
            std::string::npos)
      << ls.err();
  const json* proc = find_process(report, grower.pid());
  ASSERT_NE(proc, nullptr) << report.dump(1);
  EXPECT_FALSE((*proc)["allocator_probes"].get<bool>());
  // The growth itself is still named, by the always-on fault kind (pages
  // first touched under grow_steadily).
  const json* maps = find_stack(report, "grow_steadily", grower.pid(), "fault");
  ASSERT_NE(maps, nullptr) << report.dump(1);
  EXPECT_GT((*maps)["live_bytes"].get<long long>(), 4 << 20);
  grower.finish();
}

