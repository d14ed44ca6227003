// Bad input: one clear line on stderr and a distinct exit code, never a crash.
#include <gtest/gtest.h>

#include <chrono>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>

#include "harness.h"

using namespace e2e;

namespace {

int count_lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

pid_t unused_pid() {
  for (pid_t p = 4000000; p > 1000; --p)
    if (::kill(p, 0) != 0 && errno == ESRCH) return p;
  return 4194303;
}

}  // namespace

TEST(ErrorsE2E, PidThatDoesNotExist) {
  auto [code, err] = run_leakscope({"trace", "-p", std::to_string(unused_pid())});
  EXPECT_EQ(code, 3) << err;
  EXPECT_NE(err.find("no process with PID"), std::string::npos) << err;
  EXPECT_EQ(count_lines(err), 1) << err;
}

TEST(ErrorsE2E, KernelThread) {
  auto [code, err] = run_leakscope({"trace", "-p", "2"});
  EXPECT_EQ(code, 7) << err;
  EXPECT_NE(err.find("kernel thread"), std::string::npos) << err;
  EXPECT_EQ(count_lines(err), 1) << err;
}

TEST(ErrorsE2E, StaticStrippedBinaryHasNoKnownAllocator) {
  Fixture fx("static_stripped");
  auto [code, err] = run_leakscope({"trace", "-p", std::to_string(fx.pid())});
  EXPECT_EQ(code, 6) << err;
  EXPECT_NE(err.find("statically linked"), std::string::npos) << err;
  EXPECT_EQ(count_lines(err), 1) << err;
  EXPECT_TRUE(fx.running());
}

TEST(ErrorsE2E, NotRootIsPermissionDenied) {
  Fixture fx("leaky");
  auto [code, err] = run_leakscope({"trace", "-p", std::to_string(fx.pid())}, /*as_nobody=*/true);
  EXPECT_EQ(code, 4) << err;
  EXPECT_NE(err.find("root"), std::string::npos) << err;
  EXPECT_EQ(count_lines(err), 1) << err;
}

TEST(ErrorsE2E, NoBtf) {
  Fixture fx("leaky");
  auto [code, err] =
      run_leakscope({"trace", "-p", std::to_string(fx.pid()), "--btf", "/nonexistent/vmlinux"});
  EXPECT_EQ(code, 5) << err;
  EXPECT_NE(err.find("BTF"), std::string::npos) << err;
  EXPECT_EQ(count_lines(err), 1) << err;
}

TEST(ErrorsE2E, BadFlagsAreUsageErrors) {
  EXPECT_EQ(run_leakscope({"trace", "--no-such-flag"}).first, 2);
  EXPECT_EQ(run_leakscope({"trace", "-p", "abc"}).first, 2);
  EXPECT_EQ(run_leakscope({"trace", "-p", "1", "--tick", "fast"}).first, 2);
  EXPECT_EQ(run_leakscope({"trace"}).first, 2);
  EXPECT_EQ(run_leakscope({}).first, 2);
}

// Where output goes is checked before tracing starts, with one line and
// exit code 2: an hour's trace must not end in "cannot write the report".
TEST(ErrorsE2E, OutputFlagsAreCheckedBeforeTracing) {
  Fixture fx("leaky");
  const std::string pid = std::to_string(fx.pid());
  const std::vector<std::vector<std::string>> cases = {
      {"trace", "-p", pid, "--json", ""},
      {"trace", "-p", pid, "--json", "/nonexistent/dir/report.json"},
      {"trace", "-p", pid, "--json", "/tmp"},
      {"trace", "-p", pid, "--control", ""},
      {"trace", "-p", pid, "--report-dir", ""},
      {"trace", "-p", pid, "--metrics", ""},
      {"trace", "-p", pid, "--tick", "2m"},
  };
  for (const auto& args : cases) {
    auto [code, err] = run_leakscope(args);
    std::string shown;
    for (const auto& a : args) shown += "'" + a + "' ";
    EXPECT_EQ(code, 2) << shown << err;
    EXPECT_EQ(count_lines(err), 1) << shown << err;
    EXPECT_EQ(err.find("tracing"), std::string::npos) << "refused before tracing: " << shown << err;
  }
  EXPECT_TRUE(fx.running());
}

// --duration ends the trace when it is up, not at the first tick after.
TEST(ErrorsE2E, DurationIsHonouredWhateverTheTick) {
  Fixture fx("leaky");
  auto start = std::chrono::steady_clock::now();
  auto [code, err] = run_leakscope({"trace", "-p", std::to_string(fx.pid()), "--tick", "20s", "--duration", "2s", "-q"});
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(code, 0) << err;
  EXPECT_LT(took, 12.0) << "a 20 s tick must not hold a 2 s trace (it ran " << took << " s)";
}

TEST(ErrorsE2E, CommandThatCannotRun) {
  auto [code, err] = run_leakscope({"trace", "--", "/nonexistent/program"});
  EXPECT_EQ(code, 7) << err;
  EXPECT_NE(err.find("cannot run"), std::string::npos) << err;
}
