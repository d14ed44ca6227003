// Kernel::signal_handler on real processes: the handler a process installed
// for a signal, read from the kernel (bpf/signals.bpf.c). What tells
// leakscope whether SIGUSR1 would open Node's inspector or run the
// application's own handler.
#include <bpf/bpf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "probes/kernel.h"
#include "symbols/symbolizer.h"
#include "target/address_space.h"

using namespace leakscope;

namespace {

constexpr const char* kNode = "/usr/bin/node";

// A child whose stdout is a pipe; SIGKILLed and reaped on every path out.
class Child {
 public:
  explicit Child(std::vector<std::string> argv) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], STDOUT_FILENO);
      std::vector<char*> args;
      for (std::string& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    out_fd_ = fds[0];
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
    if (out_fd_ >= 0) ::close(out_fd_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }

  // Waits for a line on its stdout that contains `word`.
  bool wait_for(const std::string& word, double timeout_s = 20) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    std::string text;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{out_fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[256];
      ssize_t n = ::read(out_fd_, buf, sizeof buf);
      if (n <= 0) return false;
      text.append(buf, static_cast<size_t>(n));
      if (text.find(word) != std::string::npos) return true;
    }
    return false;
  }

  // Waits until it has exec'd `comm`.
  bool wait_comm(const std::string& comm, double timeout_s = 10) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (std::chrono::steady_clock::now() < deadline) {
      std::ifstream in("/proc/" + std::to_string(pid_) + "/comm");
      std::string line;
      if (std::getline(in, line) && line == comm) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
};

pid_t unused_pid() {
  for (pid_t p = 4000000; p > 1000; --p)
    if (::kill(p, 0) != 0 && errno == ESRCH) return p;
  return 4194303;
}

class SignalHandlerE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { kernel_ = open_kernel(KernelOptions{}).release(); }
  static void TearDownTestSuite() {
    delete kernel_;
    kernel_ = nullptr;
  }
  void SetUp() override {
    if (::access(kNode, X_OK) != 0) GTEST_SKIP() << "no " << kNode;
  }
  static Kernel* kernel_;
};
Kernel* SignalHandlerE2E::kernel_ = nullptr;

// How many BPF programs named `name` this process holds.
int programs_held(const std::string& name) {
  int count = 0;
  for (unsigned id : e2e::bpf_ids_held_by(::getpid()).progs) {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) continue;
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && name == info.name) ++count;
    ::close(fd);
  }
  return count;
}

// A handler is a function's first instruction; the Symbolizer looks up
// return addresses at address - 1, so it is given the address + 1.
Frame symbolize(pid_t pid, uint64_t handler) {
  AddressSpaces spaces;
  Symbolizer symbolizer(spaces);
  return symbolizer.resolve(pid, handler + 1);
}

}  // namespace

TEST_F(SignalHandlerE2E, NodesOwnSigusr1HandlerThenTheApplications) {
  Child plain({kNode, "-e", "setInterval(()=>{},1000);console.log('ready')"});
  Child app({kNode, "-e", "process.on('SIGUSR1',()=>{});setInterval(()=>{},1000);console.log('ready')"});
  ASSERT_GT(plain.pid(), 0);
  ASSERT_GT(app.pid(), 0);
  ASSERT_TRUE(plain.wait_for("ready"));
  ASSERT_TRUE(app.wait_for("ready"));

  std::optional<uint64_t> node_handler = kernel_->signal_handler(plain.pid(), SIGUSR1);
  std::optional<uint64_t> app_handler = kernel_->signal_handler(app.pid(), SIGUSR1);
  ASSERT_TRUE(node_handler.has_value());
  ASSERT_TRUE(app_handler.has_value());
  EXPECT_GT(*node_handler, 1u);
  EXPECT_GT(*app_handler, 1u);
  EXPECT_NE(*node_handler, *app_handler);

  Frame node_frame = symbolize(plain.pid(), *node_handler);
  Frame app_frame = symbolize(app.pid(), *app_handler);
  std::printf("node's SIGUSR1 handler: %#llx %s (%s+%#llx)\n", static_cast<unsigned long long>(*node_handler),
              node_frame.display_name().c_str(), node_frame.module.c_str(),
              static_cast<unsigned long long>(node_frame.module_offset));
  std::printf("app's SIGUSR1 handler:  %#llx %s (%s+%#llx)\n", static_cast<unsigned long long>(*app_handler),
              app_frame.display_name().c_str(), app_frame.module.c_str(),
              static_cast<unsigned long long>(app_frame.module_offset));
  EXPECT_NE(node_frame.module_offset, app_frame.module_offset);
  EXPECT_NE(app_frame.function.find("uv__signal_handler"), std::string::npos) << app_frame.display_name();
  EXPECT_FALSE(node_frame.function.empty()) << node_frame.display_name();
  EXPECT_EQ(node_frame.function.find("uv__signal_handler"), std::string::npos) << node_frame.display_name();

  // Reading changed nothing: asked again, the same answers.
  EXPECT_EQ(kernel_->signal_handler(plain.pid(), SIGUSR1), node_handler);
  EXPECT_EQ(kernel_->signal_handler(app.pid(), SIGUSR1), app_handler);
}

// The signals object is not loaded with the tracer's programs but on the
// first query, and a query leaves no iterator link behind.
TEST_F(SignalHandlerE2E, LoadedOnFirstQueryAndNoLinkLeft) {
  // The suite's kernel may have loaded its own already.
  const int before = programs_held("sig_disposition");
  std::unique_ptr<Kernel> kernel = open_kernel(KernelOptions{});
  const size_t links_before = e2e::bpf_ids_held_by(::getpid()).links.size();
  EXPECT_EQ(programs_held("sig_disposition"), before);
  EXPECT_TRUE(kernel->signal_handler(::getpid(), SIGUSR1).has_value());
  EXPECT_EQ(programs_held("sig_disposition"), before + 1);
  EXPECT_EQ(e2e::bpf_ids_held_by(::getpid()).links.size(), links_before);
  kernel.reset();
  EXPECT_EQ(programs_held("sig_disposition"), before);
}

TEST_F(SignalHandlerE2E, DefaultAndIgnored) {
  Child sleeper({"/bin/sleep", "100"});
  ASSERT_GT(sleeper.pid(), 0);
  ASSERT_TRUE(sleeper.wait_comm("sleep"));
  EXPECT_EQ(kernel_->signal_handler(sleeper.pid(), SIGUSR1), std::optional<uint64_t>(0));  // SIG_DFL
  // SIG_IGN, read from this very process with SIGUSR2 ignored for the read.
  struct sigaction old {};
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGUSR2, &ign, &old), 0);
  std::optional<uint64_t> own = kernel_->signal_handler(::getpid(), SIGUSR2);
  ::sigaction(SIGUSR2, &old, nullptr);
  EXPECT_EQ(own, std::optional<uint64_t>(1));  // SIG_IGN
}

TEST_F(SignalHandlerE2E, NoSuchProcessOrSignal) {
  EXPECT_EQ(kernel_->signal_handler(unused_pid(), SIGUSR1), std::nullopt);
  EXPECT_EQ(kernel_->signal_handler(::getpid(), 0), std::nullopt);
  EXPECT_EQ(kernel_->signal_handler(::getpid(), 65), std::nullopt);
  EXPECT_EQ(kernel_->signal_handler(0, SIGUSR1), std::nullopt);
}
