#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "cli/preflight.h"
#include "cli/quantity.h"
#include "cli/validators.h"
#include "core/errors.h"
#include "metrics/metrics.h"

using namespace leakscope;

TEST(QuantityTest, SizesWithUnits) {
  EXPECT_DOUBLE_EQ(*parse_quantity("512"), 512);
  EXPECT_DOUBLE_EQ(*parse_quantity("4KiB"), 4096);
  EXPECT_DOUBLE_EQ(*parse_quantity("4k"), 4096);
  EXPECT_DOUBLE_EQ(*parse_quantity("1.5MiB/s"), 1.5 * 1024 * 1024);
  EXPECT_FALSE(parse_quantity("4 KiB"));
  EXPECT_FALSE(parse_quantity("lots"));
  EXPECT_FALSE(parse_quantity("4XB"));
}

TEST(QuantityTest, RateSpecsScopedToAKind) {
  auto all = parse_rate_spec("2KiB");
  ASSERT_TRUE(all);
  EXPECT_FALSE(all->kind);
  EXPECT_DOUBLE_EQ(all->per_second, 2048);
  auto timers = parse_rate_spec("timerfd=0.5");
  ASSERT_TRUE(timers);
  EXPECT_EQ(timers->kind, Kind::Timerfd);
  EXPECT_DOUBLE_EQ(timers->per_second, 0.5);
  EXPECT_FALSE(parse_rate_spec("sockets=1"));
  EXPECT_FALSE(parse_rate_spec("heap=0"));
  EXPECT_FALSE(parse_rate_spec("heap="));
}

// --- Checks made before tracing starts (cli/preflight) ---

namespace {

ExitCode code_of(const std::function<void()>& check) {
  try {
    check();
  } catch (const FatalError& e) {
    return e.code();
  }
  return ExitCode::Ok;
}

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/leakscope-preflight-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

}  // namespace

TEST(PreflightTest, PidsAreWholePositiveNumbersBelowTheKernelsLimit) {
  EXPECT_EQ(parse_pid("-p", "4242"), 4242);
  EXPECT_EQ(parse_pid("-p", "4194303"), 4194303);
  for (const char* bad : {"", "0", "-1", "+1", " 1", "1 ", "1x", "0x10", "4194304", "99999999999"})
    EXPECT_EQ(code_of([&] { parse_pid("-p", bad); }), ExitCode::Usage) << "'" << bad << "'";
}

TEST(PreflightTest, OutputFileNeedsAWritableDirectoryAndNoDirectoryInItsPlace) {
  TempDir tmp;
  EXPECT_EQ(code_of([&] { check_output_file("--json", tmp.path + "/r.json"); }), ExitCode::Ok);
  std::ofstream(tmp.path + "/old.json") << "{}";
  EXPECT_EQ(code_of([&] { check_output_file("--json", tmp.path + "/old.json"); }), ExitCode::Ok);
  EXPECT_EQ(code_of([&] { check_output_file("--json", ""); }), ExitCode::Usage);
  EXPECT_EQ(code_of([&] { check_output_file("--json", tmp.path); }), ExitCode::Usage);
  EXPECT_EQ(code_of([&] { check_output_file("--json", tmp.path + "/sub/"); }), ExitCode::Usage);
  EXPECT_EQ(code_of([&] { check_output_file("--json", tmp.path + "/none/r.json"); }), ExitCode::Usage);
  EXPECT_EQ(code_of([&] { check_output_file("--json", "/dev/null"); }), ExitCode::Usage);
  EXPECT_EQ(code_of([&] { check_output_file("--json", tmp.path + "/old.json/x"); }), ExitCode::Usage);
}

TEST(PreflightTest, ReportDirExistsOrCanBeMadeOneLevelDeep) {
  TempDir tmp;
  EXPECT_EQ(code_of([&] { check_report_dir(tmp.path); }), ExitCode::Ok);
  EXPECT_EQ(code_of([&] { check_report_dir(tmp.path + "/"); }), ExitCode::Ok);
  EXPECT_EQ(code_of([&] { check_report_dir(tmp.path + "/new"); }), ExitCode::Ok);
  EXPECT_EQ(code_of([&] { check_report_dir(tmp.path + "/a/b"); }), ExitCode::Usage);
  std::ofstream(tmp.path + "/file") << "x";
  EXPECT_EQ(code_of([&] { check_report_dir(tmp.path + "/file"); }), ExitCode::Usage);
  std::filesystem::create_directory_symlink(tmp.path, tmp.path + "/link");
  EXPECT_EQ(code_of([&] { check_report_dir(tmp.path + "/link"); }), ExitCode::Usage);
  EXPECT_EQ(std::filesystem::exists(tmp.path + "/new"), false) << "a check creates nothing";
}

TEST(PreflightTest, ControlPathFitsASocketAddressInAUsableDirectory) {
  TempDir tmp;
  EXPECT_EQ(code_of([&] { check_control_path(tmp.path + "/x.sock"); }), ExitCode::Ok);
  EXPECT_EQ(code_of([&] { check_control_path(tmp.path + "/new/x.sock"); }), ExitCode::Ok);
  EXPECT_EQ(code_of([&] { check_control_path(tmp.path + "/a/b/x.sock"); }), ExitCode::Usage);
  EXPECT_EQ(code_of([&] { check_control_path(tmp.path + "/"); }), ExitCode::Usage);
  EXPECT_EQ(code_of([&] { check_control_path(tmp.path + "/" + std::string(120, 's')); }), ExitCode::Usage);
  std::ofstream(tmp.path + "/file") << "x";
  EXPECT_EQ(code_of([&] { check_control_path(tmp.path + "/file"); }), ExitCode::Usage);
  EXPECT_EQ(code_of([&] { check_control_path(tmp.path + "/file/x.sock"); }), ExitCode::Usage);
}

TEST(PreflightTest, CommandIsFoundAsExecvpWouldFindIt) {
  TempDir tmp;
  EXPECT_EQ(code_of([] { check_command({"sh", "-c", "true"}); }), ExitCode::Ok);
  EXPECT_EQ(code_of([] { check_command({"/bin/sh"}); }), ExitCode::Ok);
  EXPECT_EQ(code_of([] { check_command({}); }), ExitCode::Ok);
  EXPECT_EQ(code_of([] { check_command({"no-such-program-anywhere"}); }), ExitCode::BadTarget);
  EXPECT_EQ(code_of([] { check_command({"/nonexistent/program"}); }), ExitCode::BadTarget);
  EXPECT_EQ(code_of([&] { check_command({tmp.path}); }), ExitCode::BadTarget);
  std::ofstream(tmp.path + "/not-executable") << "#!/bin/sh\n";
  EXPECT_EQ(code_of([&] { check_command({tmp.path + "/not-executable"}); }), ExitCode::BadTarget);
  EXPECT_EQ(code_of([] { check_command({""}); }), ExitCode::Usage);
}

TEST(PreflightTest, DurationBoundsAreWrittenAsTheFlagsTakeThem) {
  EXPECT_EQ(duration_text(60), "1m");
  EXPECT_EQ(duration_text(0.05), "50ms");
  EXPECT_EQ(duration_text(1), "1s");
  EXPECT_EQ(duration_text(90), "90s");
  EXPECT_EQ(duration_text(kLongestDuration), "8784h");
  DurationValidator tick(0.05, 60);
  EXPECT_EQ(tick("1m"), "");
  EXPECT_NE(tick("61s").find("at most 1m"), std::string::npos);
  EXPECT_NE(tick("10ms").find("at least 50ms"), std::string::npos);
  DurationValidator any(0.05);
  EXPECT_NE(any("99999999999999999999h").find("too long"), std::string::npos);
}

TEST(PreflightTest, MetricsAddressIsBoundOnTrialAndReleased) {
  EXPECT_EQ(code_of([] { check_listen_address("127.0.0.1:0"); }), ExitCode::Ok);
  EXPECT_EQ(code_of([] { check_listen_address("192.0.2.1:9464"); }), ExitCode::Usage);  // TEST-NET-1: no interface
  EXPECT_EQ(code_of([] { check_listen_address("127.0.0.1:70000"); }), ExitCode::Usage);
  EXPECT_EQ(code_of([] { check_listen_address("no-port"); }), ExitCode::Usage);
  // A port someone listens on is in use; once the trial is over it is free again.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), len), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const std::string busy = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  EXPECT_EQ(code_of([&] { check_listen_address(busy); }), ExitCode::Usage);
  ::close(fd);
  EXPECT_EQ(code_of([&] { check_listen_address(busy); }), ExitCode::Ok);
  EXPECT_EQ(code_of([&] { check_listen_address(busy); }), ExitCode::Ok) << "the trial socket was closed";
}
