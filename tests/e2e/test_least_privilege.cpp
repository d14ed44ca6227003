// Least privilege, proven (issue 16): leakscope trace run as a non-root user
// (nobody) holding only the capabilities of packaging/capabilities.txt (the
// systemd unit's and the DaemonSet's set), against a leaky fixture of another
// user whose binary only that user can read, names the leak; with any one of
// them dropped it refuses with one line naming the capability (exit 4).
// setpriv (util-linux) grants them as inheritable and ambient capabilities,
// so that they survive the exec of leakscope by a non-root user, and bounds
// the process to them, as systemd's AmbientCapabilities= and
// CapabilityBoundingSet= do.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "services.h"

using namespace e2e;

namespace {

// A user and group no one else is: the fixture's owner.
constexpr int kOtherUid = 61234;

// "CAP_SYS_ADMIN" lines of packaging/capabilities.txt.
std::vector<std::string> unit_capabilities() {
  std::ifstream in(std::string(LEAKSCOPE_SOURCE_DIR) + "/packaging/capabilities.txt");
  std::vector<std::string> caps;
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("CAP_", 0) == 0) caps.push_back(line);
  return caps;
}

// "CAP_SYS_ADMIN" -> "sys_admin", as setpriv names it.
std::string setpriv_name(std::string cap) {
  cap = cap.substr(4);
  std::transform(cap.begin(), cap.end(), cap.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return cap;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// A directory made for this test, removed with it.
struct TempDir {
  std::string path;
  explicit TempDir(mode_t mode) {
    char tmpl[] = "/tmp/leakscope-e2e-lp-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
    path = tmpl;
    ::chmod(path.c_str(), mode);
  }
  ~TempDir() { (void)std::system(("rm -rf '" + path + "'").c_str()); }
};

// leakscope run as nobody with exactly `caps` (setpriv names), stdout and
// stderr into `dir`.
class Unprivileged {
 public:
  Unprivileged(const std::vector<std::string>& caps, std::vector<std::string> args,
               const std::string& dir)
      : out_(dir + "/stdout"), err_(dir + "/stderr") {
    std::string set = "-all";
    for (const auto& cap : caps) set += ",+" + cap;
    std::vector<std::string> argv = {
        "/usr/bin/setpriv",  "--reuid=nobody",        "--regid=nogroup",       "--clear-groups",
        "--inh-caps=" + set, "--ambient-caps=" + set, "--bounding-set=" + set, leakscope_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> c;
    for (auto& a : argv) c.push_back(a.data());
    c.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      int o = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0666);
      int e = ::open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0666);
      int n = ::open("/dev/null", O_RDONLY);
      ::dup2(n, 0);
      ::dup2(o, 1);
      ::dup2(e, 2);
      ::setpgid(0, 0);
      ::execv(c[0], c.data());
      ::_exit(127);
    }
  }
  ~Unprivileged() {
    if (status_ < 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  std::string err() const { return read_all(err_); }
  bool exited() {
    if (status_ < 0 && ::waitpid(pid_, &status_, WNOHANG) != pid_) status_ = -1;
    return status_ >= 0;
  }
  bool wait_tracing(double timeout_s) {
    for (auto t0 = std::chrono::steady_clock::now();
         std::chrono::steady_clock::now() - t0 < std::chrono::duration<double>(timeout_s);) {
      if (err().find("leakscope: tracing") != std::string::npos) return true;
      if (exited()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  // SIGINT (unless `already`), then the exit code; -1 if it outlives the wait.
  int wait(double timeout_s, bool interrupt) {
    if (interrupt && !exited()) ::kill(pid_, SIGINT);
    for (auto t0 = std::chrono::steady_clock::now();
         std::chrono::steady_clock::now() - t0 < std::chrono::duration<double>(timeout_s);) {
      if (exited()) return exit_code(status_);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }

 private:
  std::string out_, err_;
  pid_t pid_ = -1;
  int status_ = -1;
};

class LeastPrivilegeE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    caps_ = unit_capabilities();
    ASSERT_FALSE(caps_.empty()) << "no CAP_ line in packaging/capabilities.txt";
    // The fixture's binary, in a directory only its owner can enter.
    ASSERT_EQ(::chown(home_.path.c_str(), kOtherUid, kOtherUid), 0);
    binary_ = home_.path + "/fixture_leaky";
    auto [rc, out] =
        run_command("install -o " + std::to_string(kOtherUid) + " -g " + std::to_string(kOtherUid) +
                    " -m 0700 '" + fixture_path("leaky") + "' '" + binary_ + "' 2>&1");
    ASSERT_EQ(rc, 0) << out;
    ::chmod(out_.path.c_str(), 0777);  // nobody writes its report here
  }

  // The fixture, run as kOtherUid.
  std::unique_ptr<Fixture> start_fixture() {
    const std::string id = std::to_string(kOtherUid);
    return std::make_unique<Fixture>(
        "/usr/bin/setpriv",
        std::vector<std::string>{"--reuid=" + id, "--regid=" + id, "--clear-groups", binary_});
  }

  std::vector<std::string> caps_;
  std::string binary_;
  TempDir home_{0700}, out_{0777};
};

TEST_F(LeastPrivilegeE2E, UnitCapabilitiesAloneNameTheLeakOfAnotherUser) {
  auto fx = start_fixture();
  ASSERT_NE(read_all("/proc/" + std::to_string(fx->pid()) + "/status")
                .find("Uid:\t" + std::to_string(kOtherUid)),
            std::string::npos);
  std::vector<std::string> names;
  for (const auto& cap : caps_) names.push_back(setpriv_name(cap));
  const std::string json = out_.path + "/report.json";
  Unprivileged ls(names,
                  {"trace", "-p", std::to_string(fx->pid()), "--tick", "200ms", "--json", json,
                   "--no-control", "-q"},
                  out_.path);
  ASSERT_TRUE(ls.wait_tracing(60)) << ls.err();
  fx->go();
  auto expects = fx->wait_done(60);
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // two ticks see the end
  EXPECT_EQ(ls.wait(60, /*interrupt=*/true), 0) << ls.err();
  auto report = take_json(json);
  ASSERT_TRUE(report.is_object()) << ls.err();
  const auto* stack = find_stack(report, "cache_put", fx->pid(), "heap");
  ASSERT_NE(stack, nullptr) << ls.err();
  EXPECT_TRUE(has_chain(*stack, {"cache_put", "handle_request", "main"}));
  EXPECT_EQ(stack->at("live_bytes"), expects.at("cache_put").bytes);
  EXPECT_TRUE(fx->running());
  fx->finish();
}

TEST_F(LeastPrivilegeE2E, EachCapabilityDroppedIsNamed) {
  auto fx = start_fixture();
  for (const auto& dropped : caps_) {
    std::vector<std::string> names;
    for (const auto& cap : caps_)
      if (cap != dropped) names.push_back(setpriv_name(cap));
    Unprivileged ls(names, {"trace", "-p", std::to_string(fx->pid()), "--no-control", "-q"},
                    out_.path);
    EXPECT_EQ(ls.wait(60, /*interrupt=*/false), 4) << dropped << ": " << ls.err();
    const std::string err = ls.err();
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    EXPECT_EQ(err.rfind("leakscope: error: permission denied: missing " + dropped, 0), 0) << err;
    // Only the one dropped is named.
    for (const auto& other : caps_) {
      if (other == dropped) continue;
      EXPECT_EQ(err.find(other + " ("), std::string::npos) << err;
    }
  }
  EXPECT_TRUE(fx->running());
  fx->finish();
}

// The host service's --all needs the same set: without one of them it is
// refused before anything is loaded, naming it.
TEST_F(LeastPrivilegeE2E, AllWithoutPtraceIsNamed) {
  std::vector<std::string> names;
  for (const auto& cap : caps_)
    if (cap != "CAP_SYS_PTRACE") names.push_back(setpriv_name(cap));
  Unprivileged ls(names, {"trace", "--all", "--no-control", "-q"}, out_.path);
  EXPECT_EQ(ls.wait(60, /*interrupt=*/false), 4) << ls.err();
  EXPECT_NE(ls.err().find("missing CAP_SYS_PTRACE ("), std::string::npos) << ls.err();
}

}  // namespace
