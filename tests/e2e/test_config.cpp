// `leakscope trace --config FILE` through the binary: a trace set up by the
// file alone names the leak, the command line overrides the file, and a bad
// file is one line on stderr and the usage exit code (2).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
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
