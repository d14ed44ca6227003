// SIGHUP with --config: the running TraceConfig against the one read again,
// field by field, into what a running trace takes and what needs a restart
// (tracer/config_reload.h); and two files parsed as the binary parses them.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli/trace_command.h"
#include "tracer/config_reload.h"

using namespace leakscope;
namespace fs = std::filesystem;
using Names = std::vector<std::string>;

namespace {

TraceConfig base() {
  TraceConfig c;
  c.pids = {4242};
  c.control_path = "/run/leakscope/leakscope-1.sock";
  return c;
}

}  // namespace

TEST(ConfigReload, TheSameConfigChangesNothing) {
  const ConfigChanges changes = diff_configs(base(), base());
  EXPECT_TRUE(changes.empty());
  EXPECT_TRUE(changes.applied.empty());
  EXPECT_TRUE(changes.needs_restart.empty());
}

TEST(ConfigReload, WhatARunningTraceTakesIsAppliedAndCopied) {
  TraceConfig running = base();
  TraceConfig next = base();
  next.top = 3;
  next.quiet = true;
  next.interval_seconds = 2;
  next.detector.window_seconds = 30;
  next.detector.min_span_seconds = 15;
  next.detector.heap.min_rate = 8192;
  next.alerts.pending_seconds = 1;
  next.alerts.resolve_seconds = 2;
  next.alerts.repeat_seconds = 30;
  next.report_every_seconds = 120;
  next.report_keep = 3;
  const ConfigChanges changes = diff_configs(running, next);
  EXPECT_EQ(changes.applied, (Names{"--interval", "--top", "--quiet", "--window", "--min-rate", "--alert-pending",
                                    "--alert-resolve", "--alert-repeat", "--report-every", "--report-keep"}));
  EXPECT_TRUE(changes.needs_restart.empty()) << changes.needs_restart.front();

  apply_reloadable(running, next);
  EXPECT_EQ(running.top, 3u);
  EXPECT_TRUE(running.quiet);
  EXPECT_DOUBLE_EQ(running.interval_seconds, 2);
  EXPECT_DOUBLE_EQ(running.detector.window_seconds, 30);
  EXPECT_DOUBLE_EQ(running.detector.min_span_seconds, 15);
  EXPECT_DOUBLE_EQ(running.detector.heap.min_rate, 8192);
  EXPECT_DOUBLE_EQ(running.alerts.pending_seconds, 1);
  EXPECT_DOUBLE_EQ(running.alerts.resolve_seconds, 2);
  EXPECT_DOUBLE_EQ(running.alerts.repeat_seconds, 30);
  EXPECT_DOUBLE_EQ(running.report_every_seconds, 120);
  EXPECT_EQ(running.report_keep, 3u);
  EXPECT_TRUE(diff_configs(running, next).empty()) << "applied: nothing left to differ";
}

TEST(ConfigReload, WhatTheTraceWasSetUpWithNeedsARestartAndIsKept) {
  TraceConfig running = base();
  TraceConfig next = base();
  next.tick_seconds = 0.5;
  next.pids = {4242, 4250};
  next.kernel.kinds_mask = LS_KIND_BIT(LS_KIND_HEAP);
  next.kernel.sizes.max_objects = 4096;
  next.metrics_address = "127.0.0.1:9464";
  next.control_path = "/tmp/x.sock";
  next.alert_sinks = {"journald"};
  next.duration_seconds = 60;
  next.report_dir = "/var/lib/leakscope/reports";
  const ConfigChanges changes = diff_configs(running, next);
  EXPECT_TRUE(changes.applied.empty()) << changes.applied.front();
  EXPECT_EQ(changes.needs_restart, (Names{"--pid", "--tick", "--duration", "--max-objects", "--kinds", "--alert",
                                          "--metrics", "--control", "--report-dir"}));

  const TraceConfig before = running;
  apply_reloadable(running, next);
  EXPECT_DOUBLE_EQ(running.tick_seconds, before.tick_seconds);
  EXPECT_EQ(running.pids, before.pids);
  EXPECT_EQ(running.kernel.kinds_mask, before.kernel.kinds_mask);
  EXPECT_EQ(running.kernel.sizes.max_objects, before.kernel.sizes.max_objects);
  EXPECT_EQ(running.metrics_address, before.metrics_address);
  EXPECT_EQ(running.control_path, before.control_path);
  EXPECT_EQ(running.alert_sinks, before.alert_sinks);
  EXPECT_EQ(running.report_dir, before.report_dir);
  EXPECT_EQ(diff_configs(running, next).needs_restart, changes.needs_restart) << "still pending a restart";
}

TEST(ConfigReload, AFlagSettingSeveralFieldsIsNamedOnce) {
  TraceConfig running = base();
  TraceConfig next = base();
  // --all sets the images map's size too; --window the detector's span.
  next.all = true;
  next.pids.clear();
  next.kernel.sizes.max_images = 1u << 16;
  next.detector.window_seconds = 10;
  next.detector.min_span_seconds = 5;
  const ConfigChanges changes = diff_configs(running, next);
  EXPECT_EQ(changes.applied, Names{"--window"});
  EXPECT_EQ(changes.needs_restart, (Names{"--pid", "--all"}));
}

TEST(ConfigReload, MixedChangesAreSplit) {
  TraceConfig running = base();
  TraceConfig next = base();
  next.top = 20;
  next.tick_seconds = 2;
  next.detector.timerfd.min_rate = 1;
  next.js = true;
  const ConfigChanges changes = diff_configs(running, next);
  EXPECT_EQ(changes.applied, (Names{"--top", "--min-rate"}));
  EXPECT_EQ(changes.needs_restart, (Names{"--tick", "--js"}));
  apply_reloadable(running, next);
  EXPECT_EQ(running.top, 20u);
  EXPECT_DOUBLE_EQ(running.detector.timerfd.min_rate, 1);
  EXPECT_DOUBLE_EQ(running.tick_seconds, 1);
  EXPECT_FALSE(running.js);
}

// Two versions of one file, parsed as run_app parses them, differ by what
// the edit changed and nothing else (no field the parser fills anew, like
// the control socket's default path, shows up as a change).
TEST(ConfigReload, TwoVersionsOfAFileDifferByTheirEdit) {
  char tmpl[] = "/tmp/leakscope-reload-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const fs::path file = fs::path(tmpl) / "leakscope.toml";
  auto parse = [&](const std::string& text) {
    std::ofstream(file) << text;
    CLI::App app;
    TraceCommand trace(app);
    std::vector<std::string> args = {"leakscope", "trace", "--config", file.string(), "-p", "4242", "--top", "7"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    app.parse(static_cast<int>(argv.size()), argv.data());
    return trace.config(false);
  };
  const TraceConfig first = parse("[trace]\ntop = 5\nwindow = \"60s\"\ntick = \"1s\"\n");
  const TraceConfig second = parse("[trace]\ntop = 50\nwindow = \"20s\"\ntick = \"500ms\"\n");
  fs::remove_all(tmpl);
  EXPECT_EQ(first.top, 7u) << "the command line overrides the file";
  const ConfigChanges changes = diff_configs(first, second);
  EXPECT_EQ(changes.applied, Names{"--window"}) << "--top is the command line's, in both";
  EXPECT_EQ(changes.needs_restart, Names{"--tick"});
}
