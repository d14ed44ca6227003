// `leakscope trace --config FILE` through the binary: a trace set up by the
// file alone names the leak, the command line overrides the file, and a bad
// file is one line on stderr and the usage exit code (2). On SIGHUP the file
// is read again: what a running trace takes is applied, the rest named as
// needing a restart, a bad file warned about; without --config SIGHUP stops.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <cstdio>
#include <fstream>
#include <string>

#include "harness.h"

using namespace e2e;

namespace {

int count_lines(const std::string& s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

std::string write_config(const std::string& name, const std::string& text) {
  const std::string path = "/tmp/leakscope-e2e-config-" + std::to_string(::getpid()) + "-" + name;
  std::ofstream(path) << text;
  return path;
}

int count_of(const std::string& s, const std::string& what) {
  int n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + what.size())) ++n;
  return n;
}

// Waits up to `timeout_s` for `what` on the tracer's stderr.
bool wait_for_err(const Leakscope& ls, const std::string& what, double timeout_s) {
  const auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < timeout_s) {
    if (ls.err().find(what) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

}  // namespace

TEST(ConfigE2E, TheFileAloneSetsUpATraceAndFlagsOverrideIt) {
  Fixture fx("patterns", {"steady"});
  char dir[] = "/tmp/leakscope-e2e-config-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string report = std::string(dir) + "/report.json";
  const std::string config = write_config("trace.toml",
                                          "[trace]\n"
                                          "pid = [\"" +
                                              std::to_string(fx.pid()) +
                                              "\"]\n"
                                              "tick = \"200ms\"\n"
                                              "duration = \"60s\"\n"
                                              "quiet = true\n"
                                              "no-control = true\n"
                                              "json = \"" +
                                              report + "\"\n");
  fx.go();
  // --duration on the command line beats the file's 60 s.
  auto [code, err] = run_leakscope({"trace", "--config", config, "--duration", "4s"}, false, 40);
  std::remove(config.c_str());
  ASSERT_EQ(code, 0) << err;
  const nlohmann::json json = take_json(report);
  ASSERT_FALSE(json.is_null()) << "no report at " << report << "\n" << err;
  const nlohmann::json* s = find_stack(json, "leak_steadily", fx.pid());
  ASSERT_NE(s, nullptr) << json.dump(1).substr(0, 4000);
  EXPECT_GT((*s)["live_bytes"].get<long long>(), 0);
  EXPECT_LT(json["elapsed_seconds"].get<double>(), 30) << "the command line's --duration 4s ruled";
  ::rmdir(dir);
}

TEST(ConfigE2E, BadFilesAreOneLineAndTheUsageCode) {
  struct Case {
    std::string name, text, says;
  };
  const std::vector<Case> cases = {
      {"unknown.toml", "[trace]\nbogus = 1\n", "'bogus' is not a flag of trace"},
      {"outside.toml", "all = true\n", "'all' is a flag of trace: put it in the [trace] table"},
      {"value.toml", "[trace]\ntick = \"forever\"\n", "--tick: 'forever' is not a duration"},
      {"flag.toml", "[trace]\nall = \"maybe\"\n", "--all"},
      {"nested.toml", "[trace]\nconfig = \"x.toml\"\n", "'config' cannot be set in a config file"},
  };
  for (const Case& c : cases) {
    const std::string path = write_config(c.name, c.text);
    auto [code, err] = run_leakscope({"trace", "--config", path, "-p", "1"});
    std::remove(path.c_str());
    EXPECT_EQ(code, 2) << c.name << ": " << err;
    EXPECT_EQ(count_lines(err), 1) << c.name << ": " << err;
    EXPECT_EQ(err.rfind("leakscope: error: ", 0), 0u) << c.name << ": " << err;
    EXPECT_NE(err.find(c.says), std::string::npos) << c.name << ": " << err;
  }
  auto [code, err] = run_leakscope({"trace", "--config", "/nonexistent/leakscope.toml", "-p", "1"});
  EXPECT_EQ(code, 2) << err;
  EXPECT_EQ(count_lines(err), 1) << err;
  EXPECT_NE(err.find("--config /nonexistent/leakscope.toml: cannot be read"), std::string::npos)
      << err;
}

TEST(ConfigE2E, SighupReloadsWhatItCanNamesWhatNeedsARestartAndSurvivesABadFile) {
  Fixture fx("patterns", {"steady"});
  const std::string pid = std::to_string(fx.pid());
  const std::string config = write_config("reload.toml", "[trace]\n"
                                                         "tick = \"200ms\"\n"
                                                         "interval = \"1s\"\n"
                                                         "top = 10\n"
                                                         "window = \"60s\"\n"
                                                         "no-control = true\n");
  Leakscope ls({"trace", "--config", config, "-p", pid});
  ASSERT_TRUE(ls.wait_tracing()) << ls.err();
  fx.go();
  std::this_thread::sleep_for(std::chrono::seconds(1));

  // top and the detector's window are taken by the running trace; the
  // tick is not.
  write_config("reload.toml", "[trace]\n"
                              "tick = \"500ms\"\n"
                              "interval = \"1s\"\n"
                              "top = 3\n"
                              "window = \"20s\"\n"
                              "no-control = true\n");
  ASSERT_EQ(::kill(ls.pid(), SIGHUP), 0);
  ASSERT_TRUE(wait_for_err(ls, "config: reloaded", 20)) << ls.err();
  std::string err = ls.err();
  EXPECT_NE(err.find("config: --tick changed: needs a restart"), std::string::npos) << err;
  EXPECT_EQ(count_of(err, "needs a restart"), 1) << "only the tick changed of what needs one\n" << err;
  EXPECT_NE(err.find("config: reloaded, applied --top, --window"), std::string::npos) << err;

  // A file that no longer parses: one warning, the trace goes on as it was.
  const int warnings = count_of(ls.err(), "warning:");
  write_config("reload.toml", "[trace]\nbogus = 1\n");
  ASSERT_EQ(::kill(ls.pid(), SIGHUP), 0);
  ASSERT_TRUE(wait_for_err(ls, "config: not reloaded", 20)) << ls.err();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  err = ls.err();
  EXPECT_EQ(count_of(err, "config: not reloaded"), 1) << err;
  EXPECT_NE(err.find("'bogus' is not a flag of trace"), std::string::npos) << err;
  EXPECT_EQ(count_of(err, "warning:"), warnings + 1) << "the bad file's, nothing else\n" << err;
  EXPECT_EQ(err.find("stopping"), std::string::npos) << err;
  EXPECT_EQ(::kill(ls.pid(), 0), 0) << "the trace goes on";

  // It still ends as a trace ends: the final report, exit 0.
  EXPECT_EQ(ls.stop(), 0) << ls.err();
  std::remove(config.c_str());
  EXPECT_NE(ls.out().find("leak_steadily"), std::string::npos) << ls.out().substr(0, 4000) << "\n" << ls.err();
  fx.finish();
}

TEST(ConfigE2E, WithoutAConfigFileSighupEndsTheTrace) {
  Fixture fx("patterns", {"steady"});
  Leakscope ls({"trace", "-p", std::to_string(fx.pid()), "--tick", "200ms", "-q", "--no-control"});
  ASSERT_TRUE(ls.wait_tracing()) << ls.err();
  fx.go();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  ASSERT_EQ(::kill(ls.pid(), SIGHUP), 0);
  EXPECT_EQ(ls.wait(30), 0) << ls.err();
  EXPECT_NE(ls.err().find("stopping on HUP (no --config to reload)"), std::string::npos) << ls.err();
  fx.finish();
}
