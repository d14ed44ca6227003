// Kind js on real Node.js processes (issue 13): the Express app of
// examples/express-leaks under load, traced with --kinds js; the inspector
// opened for it and closed again however leakscope ends; and every refusal,
// with nothing sent to the process refused.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <thread>

#include "harness.h"
#include "services.h"

namespace e2e {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr int kInspectorPort = 9229;  // Node's default

// Waits until nothing listens on 127.0.0.1:9229 (every process here shares
// the test's network namespace); false after `timeout_s`.
bool inspector_closes_within(double timeout_s) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (tcp_port_open(kInspectorPort)) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(100ms);
  }
  return true;
}

// The js stacks of `pid` whose leak site is app.js at `line`.
std::vector<const json*> js_stacks_at(const json& report, pid_t pid, int line) {
  std::vector<const json*> out;
  for (const json& s : report["stacks"]) {
    if (s["kind"] != "js" || s["pid"] != pid) continue;
    size_t site = s.value("leak_site", 0);
    if (site >= s["frames"].size()) continue;
    const json& f = s["frames"][site];
    if (f.value("file", "") == ExpressApp::script() && f.value("line", 0) == line) out.push_back(&s);
  }
  return out;
}

std::string verdicts_at(const json& report, pid_t pid, int line) {
  std::string out;
  for (const json* s : js_stacks_at(report, pid, line))
    out += (*s).value("verdict", "?") + " " + std::to_string((*s)["live_bytes"].get<long long>()) +
           " B; ";
  return out.empty() ? "no stack" : out;
}

bool leak_at(const json& report, pid_t pid, int line) {
  for (const json* s : js_stacks_at(report, pid, line))
    if ((*s).value("verdict", "") == "leak") return true;
  return false;
}

// The handler lines of examples/express-leaks/app.js (its README).
struct Route {
  const char* path;
  int line;
};
constexpr Route kLeaky[] = {{"/leaky", 42}, {"/event-leak", 47}, {"/cache-leak", 52}};
constexpr Route kTwins[] = {{"/leaky-safe", 44}, {"/event-safe", 49}, {"/cache-safe", 54}};

TEST(JsE2E, ExpressLeaksAreNamedByTheirHandlerLineAndTheirTwinsAreNot) {
  ASSERT_FALSE(tcp_port_open(kInspectorPort)) << "another inspector listens on 9229";
  ExpressApp app;
  std::vector<std::string> routes;
  for (const Route& r : kLeaky) routes.push_back(r.path);
  for (const Route& r : kTwins) routes.push_back(r.path);
  auto load = app.drive(routes, 50);
  const std::string path = "/tmp/leakscope-e2e-js-" + std::to_string(::getpid()) + ".json";
  Leakscope ls({"trace", "-p", std::to_string(app.pid()), "--kinds", "js", "--json", path, "--no-control",
                "--duration", "90s", "-q"});
  ASSERT_TRUE(ls.wait_tracing(40)) << ls.err();
  EXPECT_TRUE(tcp_port_open(kInspectorPort)) << "the inspector is open while tracing";
  EXPECT_EQ(ls.wait(150), 0) << ls.err();
  const json report = take_json(path);
  ASSERT_TRUE(report.is_object()) << ls.err();
  // Left as it was: the inspector closed, the app serving.
  EXPECT_TRUE(inspector_closes_within(2)) << "port 9229 still open after leakscope exited";
  EXPECT_EQ(http_get_status(app.port(), "/health"), 200);
  load->kill(SIGTERM);

  for (const Route& r : kLeaky)
    EXPECT_TRUE(leak_at(report, app.pid(), r.line))
        << r.path << " (app.js:" << r.line << "): " << verdicts_at(report, app.pid(), r.line);
  for (const Route& r : kTwins)
    EXPECT_FALSE(leak_at(report, app.pid(), r.line))
        << r.path << " (app.js:" << r.line << "): " << verdicts_at(report, app.pid(), r.line);
  // The text report names the leak site by file, line and column.
  EXPECT_NE(ls.out().find(ExpressApp::script() + ":52:"), std::string::npos) << ls.out();
}

TEST(JsE2E, AfterKill9TheInspectorClosesWithinTheDocumentedTime) {
  ASSERT_FALSE(tcp_port_open(kInspectorPort)) << "another inspector listens on 9229";
  ExpressApp app;
  auto load = app.drive({"/cache-leak"}, 50);
  Leakscope ls({"trace", "-p", std::to_string(app.pid()), "--kinds", "js", "--no-control", "-q"});
  ASSERT_TRUE(ls.wait_tracing(40)) << ls.err();
  std::this_thread::sleep_for(3s);
  ASSERT_TRUE(tcp_port_open(kInspectorPort));
  ::kill(ls.pid(), SIGKILL);
  ls.wait(10);
  // README: the session drops with leakscope (its sampling ends then); the
  // watchdog closes the port within 12 s.
  const auto killed = std::chrono::steady_clock::now();
  EXPECT_TRUE(inspector_closes_within(15)) << "port 9229 still open 15 s after kill -9";
  std::cerr << "inspector closed " << std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count()
            << " s after kill -9\n";
  EXPECT_EQ(http_get_status(app.port(), "/health"), 200);
  EXPECT_TRUE(app.process().running());
  EXPECT_TRUE(ls.leftover_bpf_objects().empty());
}

TEST(JsE2E, WholeHostDrillJsSamplesTheGrowingNodeProcessAndClosesItsInspector) {
  ASSERT_FALSE(tcp_port_open(kInspectorPort)) << "another inspector listens on 9229";
  ExpressApp app;
  // /pin-leak makes the process grow fast enough to be drilled into (its
  // Buffers are native memory); /cache-leak is the JS heap's leak.
  auto load = app.drive({"/cache-leak", "/pin-leak"}, 50);
  const std::string path = "/tmp/leakscope-e2e-drill-js-" + std::to_string(::getpid()) + ".json";
  Leakscope ls({"trace", "--all", "--drill-js", "--comm", "node", "--drill-rate", "128KiB", "--drill-for", "90s",
                "--duration", "75s", "-q", "--json", path, "--exclude-pid", std::to_string(::getpid())});
  ASSERT_TRUE(ls.wait_tracing(40)) << ls.err();
  EXPECT_EQ(ls.wait(150), 0) << ls.err();
  const json report = take_json(path);
  ASSERT_TRUE(report.is_object()) << ls.err();
  EXPECT_NE(ls.err().find(std::to_string(app.pid()) + ": inspector opened"), std::string::npos) << ls.err();
  EXPECT_TRUE(leak_at(report, app.pid(), 52)) << "/cache-leak (app.js:52): " << verdicts_at(report, app.pid(), 52)
                                              << "\n" << ls.err();
  EXPECT_TRUE(inspector_closes_within(2)) << "port 9229 still open after leakscope exited";
  EXPECT_EQ(http_get_status(app.port(), "/health"), 200);
}

TEST(JsE2E, ASampledProcessThatEndsIsNotHeldByTheSession) {
  // Node waits for its DevTools sessions to go before it exits: the sampler
  // must go as soon as Node says it waits, or the process would hang.
  ASSERT_FALSE(tcp_port_open(kInspectorPort));
  Program node({"/usr/bin/node", "-e",
                "const t = setInterval(() => {}, 100); console.log('up'); "
                "setTimeout(() => { clearInterval(t); console.log('bye'); }, 8000);"});
  ASSERT_TRUE(node.wait_output("up", 10));
  Leakscope ls({"trace", "-p", std::to_string(node.pid()), "--kinds", "js", "--no-control", "-q"});
  ASSERT_TRUE(ls.wait_tracing(30)) << ls.err();
  ASSERT_TRUE(node.wait_output("bye", 15));
  const auto said_bye = std::chrono::steady_clock::now();
  while (node.running() && std::chrono::steady_clock::now() - said_bye < 20s) std::this_thread::sleep_for(50ms);
  const double lingered = std::chrono::duration<double>(std::chrono::steady_clock::now() - said_bye).count();
  EXPECT_FALSE(node.running()) << "node still runs 20 s after its event loop ended";
  EXPECT_LT(lingered, 4) << "node waited " << lingered << " s for the session to go";
  EXPECT_EQ(ls.wait(20), 0) << ls.err();
  EXPECT_NE(ls.err().find("every traced process has exited"), std::string::npos) << ls.err();
}

// A refused -p: exit code 9, one line naming why, the process unharmed and
// no inspector opened.
void expect_refused(const Program& target, const std::string& why) {
  auto [code, err] = run_leakscope({"trace", "-p", std::to_string(target.pid()), "--kinds", "js",
                                    "--no-control", "--duration", "5s"});
  EXPECT_EQ(code, 9) << err;
  EXPECT_NE(err.find(why), std::string::npos) << err;
  EXPECT_NE(err.find("leakscope: error: kind js: "), std::string::npos) << err;
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(target.running()) << "the refused process is gone";
  EXPECT_FALSE(tcp_port_open(kInspectorPort));
}

TEST(JsE2E, RefusesWhatIsNoNodeProcess) {
  Program sleeper({"/bin/sleep", "60"});
  expect_refused(sleeper, "is not a Node.js process");
}

TEST(JsE2E, RefusesANodeStartedWithDisableSigusr1WhichSigusr1WouldKill) {
  // Node 20 has no --disable-sigusr1 (Node 22 has): a process named node
  // that catches no SIGUSR1 and has the flag in NODE_OPTIONS stands for one
  // (SIGUSR1 would end it: it is sent nothing).
  const std::string dir = "/tmp/leakscope-e2e-nosigusr1-" + std::to_string(::getpid());
  ASSERT_EQ(run_command("mkdir -p " + dir + " && cp /bin/sleep " + dir + "/node").first, 0);
  {
    Program node({dir + "/node", "60"}, {"NODE_OPTIONS=--disable-sigusr1"});
    std::this_thread::sleep_for(300ms);
    expect_refused(node, "--disable-sigusr1");
  }
  run_command("rm -rf " + dir);
}

TEST(JsE2E, RefusesANodeThatHandlesSigusr1ItselfAndSendsItNothing) {
  Program node({"/usr/bin/node", "-e",
                "process.on('SIGUSR1', () => console.log('GOT SIGUSR1')); setInterval(() => {}, 1000); "
                "console.log('up')"});
  ASSERT_TRUE(node.wait_output("up", 10));
  expect_refused(node, "handles SIGUSR1 itself");
  EXPECT_EQ(node.output().find("GOT SIGUSR1"), std::string::npos) << "leakscope sent SIGUSR1";
}

TEST(JsE2E, RefusesWhenAnotherProcessHoldsTheInspectorPort) {
  ASSERT_FALSE(tcp_port_open(kInspectorPort));
  Program squatter({"/usr/bin/node", "-e",
                    "require('net').createServer().listen(9229, '127.0.0.1', () => console.log('up'))"});
  ASSERT_TRUE(squatter.wait_output("up", 10));
  Program node({"/usr/bin/node", "-e", "setInterval(() => {}, 1000); console.log('up')"});
  ASSERT_TRUE(node.wait_output("up", 10));
  auto [code, err] = run_leakscope({"trace", "-p", std::to_string(node.pid()), "--kinds", "js", "--no-control",
                                    "--duration", "5s"});
  EXPECT_EQ(code, 9) << err;
  EXPECT_NE(err.find("held by another process"), std::string::npos) << err;
  EXPECT_TRUE(node.running());
  EXPECT_EQ(node.output().find("Debugger listening"), std::string::npos) << "SIGUSR1 was sent";
}

TEST(JsE2E, WithoutKindJsANodeProcessGetsAHintAndNoInspector) {
  Program node({"/usr/bin/node", "-e", "setInterval(() => {}, 1000); console.log('up')"});
  ASSERT_TRUE(node.wait_output("up", 10));
  auto [code, err] = run_leakscope({"trace", "-p", std::to_string(node.pid()), "--kinds", "mmap", "--no-control",
                                    "--duration", "2s", "-q"});
  EXPECT_EQ(code, 0) << err;
  EXPECT_NE(err.find("is a Node.js process: its JavaScript heap is sampled only with --kinds js"),
            std::string::npos)
      << err;
  EXPECT_EQ(node.output().find("Debugger listening"), std::string::npos);
  EXPECT_FALSE(tcp_port_open(kInspectorPort));
}

TEST(JsE2E, AnInspectorAlreadyOpenIsUsedAndLeftOpen) {
  ASSERT_FALSE(tcp_port_open(kInspectorPort));
  Program node({"/usr/bin/node", "--inspect=127.0.0.1:9229", "-e",
                "const keep = []; setInterval(() => keep.push('x'.repeat(4096) + keep.length), 5); "
                "console.log('up')"});
  ASSERT_TRUE(node.wait_output("up", 10));
  auto [code, err] = run_leakscope({"trace", "-p", std::to_string(node.pid()), "--kinds", "js", "--no-control",
                                    "--duration", "4s", "-q"});
  EXPECT_EQ(code, 0) << err;
  EXPECT_NE(err.find("already open"), std::string::npos) << err;
  std::this_thread::sleep_for(500ms);
  EXPECT_TRUE(tcp_port_open(kInspectorPort)) << "the user's own inspector was closed";
  EXPECT_TRUE(node.running());
}

TEST(JsE2E, BadJsFlagsAreUsageErrorsWithOneLine) {
  struct Case {
    std::vector<std::string> args;
    const char* says;
  };
  const Case cases[] = {
      {{"trace", "-p", "1", "--kinds", "js", "--js-interval", "lots"}, "--js-interval: 'lots' is not a size"},
      {{"trace", "-p", "1", "--js", "--js-interval", "16"}, "--js-interval: '16' is not a size"},
      {{"trace", "-p", "1", "--js-interval", "2GiB"}, "--js-interval"},
      {{"trace", "-p", "1", "--drill-js"}, "--drill-js goes with --all"},
      {{"trace", "-p", "1", "--kinds", "js", "--js-every", "never"}, "--js-every"},
      {{"trace", "--all", "--kinds", "js"}, "use --drill-js"},
      {{"trace", "--all", "--js"}, "use --drill-js"},
      {{"trace", "-p", "1", "--kinds", "javascript"}, "is not one of heap, mmap, brk, timerfd, epoll, fault, js"},
  };
  for (const Case& c : cases) {
    auto [code, err] = run_leakscope(c.args);
    EXPECT_EQ(code, 2) << err;
    EXPECT_NE(err.find(c.says), std::string::npos) << err;
    EXPECT_EQ(err.find('\n'), err.size() - 1) << "one line: " << err;
    EXPECT_EQ(err.rfind("leakscope: error: ", 0), 0u) << err;
  }
}

}  // namespace
}  // namespace e2e
