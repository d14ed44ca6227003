// `leakscope trace --config FILE`: CLI11's config file, a [trace] table whose
// keys are trace's long flags; the command line overrides it. Parsed as the
// binary parses it (TraceCommand on a CLI::App), down to the TraceConfig.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "cli/trace_command.h"

using namespace leakscope;
namespace fs = std::filesystem;

namespace {

const fs::path kDefaultConfig =
    fs::path(LEAKSCOPE_TEST_DATA_DIR) / ".." / ".." / "packaging" / "leakscope.toml";

class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/leakscope-config-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string write(const std::string& text, const std::string& name = "leakscope.toml") {
    const fs::path path = dir_ / name;
    std::ofstream(path) << text;
    return path.string();
  }

  // Parses `leakscope ARGS` as run_app does; the TraceConfig it makes.
  TraceConfig parse(std::vector<std::string> args) {
    CLI::App app;
    TraceCommand trace(app);
    args.insert(args.begin(), "leakscope");
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    app.parse(static_cast<int>(argv.size()), argv.data());
    return trace.config(false);
  }

  fs::path dir_;
};

}  // namespace

// The packaged default: what a host service does.
TEST_F(ConfigFileTest, DefaultFileWatchesTheHostServesMetricsLocallyAlertsTheJournalAndReports) {
  ASSERT_TRUE(fs::exists(kDefaultConfig)) << kDefaultConfig;
  const TraceConfig c = parse({"trace", "--config", kDefaultConfig.string()});
  EXPECT_TRUE(c.all);
  EXPECT_TRUE(c.follow_children) << "--all follows children";
  EXPECT_EQ(c.metrics_address, "127.0.0.1:9464");
  EXPECT_EQ(c.alert_sinks, std::vector<std::string>{"journald"});
  EXPECT_EQ(c.report_dir, "/var/lib/leakscope/reports");
  EXPECT_DOUBLE_EQ(c.report_every_seconds, 600);
  EXPECT_TRUE(c.quiet);
  EXPECT_TRUE(c.pids.empty());
}

TEST_F(ConfigFileTest, FlagsOverrideTheFile) {
  const TraceConfig c =
      parse({"trace", "--config", kDefaultConfig.string(), "--metrics", "127.0.0.1:9999", "--alert",
             "stdout", "--report-every", "1m", "--quiet=false"});
  EXPECT_EQ(c.metrics_address, "127.0.0.1:9999");
  EXPECT_EQ(c.alert_sinks, std::vector<std::string>{"stdout"})
      << "a list given replaces the file's";
  EXPECT_DOUBLE_EQ(c.report_every_seconds, 60);
  EXPECT_FALSE(c.quiet);
  EXPECT_TRUE(c.all) << "what the flags leave alone comes from the file";
  EXPECT_EQ(c.report_dir, "/var/lib/leakscope/reports");
}

TEST_F(ConfigFileTest, KeysTakeEachKindOfFlag) {
  const std::string file = write(
      "[trace]\n"
      "pid = [\"4242,4250\", \"4251\"]\n"
      "tick = \"500ms\"\n"
      "sample = 8\n"
      "kinds = [\"heap\", \"mmap\"]\n"
      "no-control = true\n"
      "unwind = \"fp\"\n");
  const TraceConfig c = parse({"trace", "--config", file});
  EXPECT_EQ(c.pids, (std::vector<pid_t>{4242, 4250, 4251}));
  EXPECT_DOUBLE_EQ(c.tick_seconds, 0.5);
  EXPECT_EQ(c.kernel.sample_every, 8u);
  EXPECT_EQ(c.kernel.kinds_mask, LS_KIND_BIT(LS_KIND_HEAP) | LS_KIND_BIT(LS_KIND_MMAP));
  EXPECT_TRUE(c.control_path.empty());
  EXPECT_FALSE(c.unwind_cfi);
  // Without --config nothing is read.
  EXPECT_TRUE(parse({"trace", "-p", "1"}).control_path.size() > 0);
}

// Every option of trace --help can be a key: none is refused as unknown or
// not configurable (a value it does not take is refused as a bad value).
TEST_F(ConfigFileTest, EveryTraceFlagIsAKey) {
  CLI::App app;
  TraceCommand trace(app);
  const CLI::App* sub = app.get_subcommand("trace");
  int checked = 0;
  for (const CLI::Option* option : sub->get_options()) {
    if (option->get_lnames().empty()) continue;  // the command positional
    const std::string name = option->get_lnames().front();
    if (name == "help" || name == "config") continue;
    const bool flag = option->get_type_size_max() == 0;
    const std::string file =
        write("[trace]\n" + name + " = " + (flag ? "true" : "\"1\"") + "\n", name + ".toml");
    try {
      parse({"trace", "--config", file});
    } catch (const CLI::ConfigError& e) {
      ADD_FAILURE() << name << ": " << e.what();
    } catch (const CLI::FileError& e) {
      ADD_FAILURE() << name << ": " << e.what();
    } catch (const std::exception&) {
      // A bad value or a missing companion flag: the key itself was taken.
    }
    ++checked;
  }
  EXPECT_GE(checked, 45);
}

// The default file's commented examples are real keys: uncommented, the
// file still parses.
TEST_F(ConfigFileTest, DefaultFilesCommentedKeysAreFlags) {
  std::ifstream in(kDefaultConfig);
  std::stringstream out;
  const std::regex commented(R"(^# ([a-z][a-z-]*) = (.*)$)");
  int uncommented = 0;
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_match(line, m, commented)) {
      line = m[1].str() + " = " + m[2].str();
      ++uncommented;
    }
    out << line << "\n";
  }
  EXPECT_GE(uncommented, 8);
  const TraceConfig c = parse({"trace", "--config", write(out.str())});
  EXPECT_EQ(c.comms, (std::vector<std::string>{"redis-server", "node"}));
  EXPECT_EQ(c.cgroup_filter, "/system.slice");
  EXPECT_EQ(c.report_keep, 10u);
}

TEST_F(ConfigFileTest, BadFilesAreUsageErrors) {
  EXPECT_THROW(parse({"trace", "--config", write("[trace]\nbogus = 1\n")}), CLI::ConfigError);
  EXPECT_THROW(parse({"trace", "--config", write("all = true\n")}), CLI::ConfigError)
      << "keys outside [trace] are not trace's";
  EXPECT_THROW(parse({"trace", "--config", (dir_ / "missing.toml").string()}), CLI::FileError);
  EXPECT_THROW(parse({"trace", "--config", write("[trace]\ntick = \"forever\"\n")}),
               CLI::ValidationError);
  EXPECT_THROW(parse({"trace", "--config", write("[trace]\nconfig = \"other.toml\"\n")}),
               CLI::ConfigError);
}

// As the README shows it: comments after a value are comments.
TEST_F(ConfigFileTest, CommentsAfterAValueAreComments) {
  const TraceConfig c = parse({"trace", "--config",
                               write("[trace]\n"
                                     "all = true          # the host\n"
                                     "metrics = \"127.0.0.1:9464\"   # local only\n"
                                     "alert = [\"journald\"]   # the journal\n"
                                     "report-dir = \"/var/lib/leakscope/reports\" # reports\n")});
  EXPECT_TRUE(c.all);
  EXPECT_EQ(c.metrics_address, "127.0.0.1:9464");
  EXPECT_EQ(c.alert_sinks, std::vector<std::string>{"journald"});
  EXPECT_EQ(c.report_dir, "/var/lib/leakscope/reports");
}
