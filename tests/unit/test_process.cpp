#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>
#include <thread>

#include "core/errors.h"
#include "target/process.h"

namespace leakscope {
namespace {

// Fields 3..22 and a few more of a stat line, after "PID (COMM)".
constexpr const char* kStatTail =
    " S 1 100 100 0 -1 4194560 120 0 0 0 3 4 0 0 20 0 1 0 987654 12345678 300 "
    "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

pid_t unused_pid() {
  long pid_max = 32768;
  std::ifstream("/proc/sys/kernel/pid_max") >> pid_max;
  for (pid_t pid = static_cast<pid_t>(pid_max - 1); pid > 300; --pid) {
    if (::kill(pid, 0) == -1 && errno == ESRCH) return pid;
  }
  return -1;
}

// A child running `sleep 60`, killed and reaped on destruction.
class SleepingChild {
 public:
  SleepingChild() {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execlp("sleep", "sleep", "60", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    // Wait for the exec to replace our image in the child.
    for (int i = 0; i < 200 && read_text("/proc/" + std::to_string(pid_) + "/comm") != "sleep\n";
         ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ~SleepingChild() { reap(); }
  pid_t pid() const { return pid_; }
  void kill_only() { ::kill(pid_, SIGKILL); }
  void reap() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

TEST(ProcessTest, ParseStatCommWithSpacesAndParentheses) {
  auto stat = parse_stat(std::string("4242 ((a) b)") + kStatTail);
  ASSERT_TRUE(stat);
  EXPECT_EQ(stat->comm, "(a) b");
  EXPECT_EQ(stat->state, 'S');
  EXPECT_EQ(stat->ppid, 1);
  EXPECT_EQ(stat->flags, 4194560u);
  EXPECT_EQ(stat->start_time_ticks, 987654u);

  auto tricky = parse_stat(std::string("7 (x) R 9 ) )") + kStatTail);
  ASSERT_TRUE(tricky);
  EXPECT_EQ(tricky->comm, "x) R 9 ) ");
}

TEST(ProcessTest, ParseStatKernelThreadFlag) {
  std::string tail = kStatTail;
  tail.replace(tail.find("4194560"), 7, "2129984");  // PF_KTHREAD | PF_NOFREEZE | ...
  auto stat = parse_stat("2 (kthreadd)" + tail);
  ASSERT_TRUE(stat);
  EXPECT_NE(stat->flags & kKernelThreadFlag, 0u);
}

TEST(ProcessTest, ParseStatRejectsMalformed) {
  EXPECT_FALSE(parse_stat(""));
  EXPECT_FALSE(parse_stat("12 (x"));
  EXPECT_FALSE(parse_stat("12 x) S 1 2 3"));
  EXPECT_FALSE(parse_stat("12 (x) S 1 2 3"));
  EXPECT_FALSE(parse_stat(std::string("12 (x) S notanumber") + (kStatTail + 4)));
}

TEST(ProcessTest, ParseStatOfOurselves) {
  auto stat = parse_stat(read_text("/proc/self/stat"));
  ASSERT_TRUE(stat);
  EXPECT_EQ(stat->state, 'R');
  EXPECT_EQ(stat->ppid, ::getppid());
  EXPECT_EQ(stat->flags & kKernelThreadFlag, 0u);
  EXPECT_GT(stat->start_time_ticks, 0u);
}

TEST(ProcessTest, InspectParent) {
  ProcessInfo info = inspect_process(::getppid());
  EXPECT_EQ(info.pid, ::getppid());
  EXPECT_FALSE(info.comm.empty());
  EXPECT_FALSE(info.kernel_thread);
  EXPECT_GT(info.start_time_ticks, 0u);
  EXPECT_EQ(process_start_time(::getppid()), info.start_time_ticks);
  EXPECT_TRUE(process_alive(::getppid(), info.start_time_ticks));
}

TEST(ProcessTest, InspectChild) {
  SleepingChild child;
  ProcessInfo info = inspect_process(child.pid());
  EXPECT_EQ(info.comm, "sleep");
  EXPECT_EQ(info.cmdline, (std::vector<std::string>{"sleep", "60"}));
  EXPECT_TRUE(info.exe.ends_with("/sleep")) << info.exe;
  EXPECT_EQ(info.uid, ::getuid());
  EXPECT_FALSE(info.kernel_thread);

  EXPECT_TRUE(process_alive(child.pid(), info.start_time_ticks));
  EXPECT_FALSE(process_alive(child.pid(), info.start_time_ticks + 1));  // a reused PID

  // Killed but not reaped: a zombie is not alive.
  child.kill_only();
  bool zombie = false;
  for (int i = 0; i < 200 && !zombie; ++i) {
    auto stat = parse_stat(read_text("/proc/" + std::to_string(child.pid()) + "/stat"));
    zombie = stat && stat->state == 'Z';
    if (!zombie) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(zombie);
  EXPECT_FALSE(process_alive(child.pid(), info.start_time_ticks));

  pid_t pid = child.pid();
  child.reap();
  EXPECT_FALSE(process_alive(pid, info.start_time_ticks));
  EXPECT_FALSE(process_start_time(pid));
}

TEST(ProcessTest, InspectMissingProcess) {
  pid_t pid = unused_pid();
  ASSERT_GT(pid, 0);
  try {
    inspect_process(pid);
    FAIL() << "no exception for PID " << pid;
  } catch (const FatalError& error) {
    EXPECT_EQ(error.code(), ExitCode::NoSuchProcess);
    EXPECT_EQ(std::string(error.what()), "no process with PID " + std::to_string(pid));
  }
  EXPECT_FALSE(process_start_time(pid));
  EXPECT_FALSE(process_alive(pid, 1));
  EXPECT_FALSE(process_comm(pid));
  EXPECT_THROW(inspect_process(0), FatalError);
  EXPECT_THROW(inspect_process(-5), FatalError);
}

TEST(ProcessTest, InspectKernelThread) {
  if (read_text("/proc/2/comm") != "kthreadd\n") GTEST_SKIP() << "PID 2 is not kthreadd here";
  try {
    inspect_process(2);
    FAIL() << "no exception for kthreadd";
  } catch (const FatalError& error) {
    EXPECT_EQ(error.code(), ExitCode::BadTarget);
    EXPECT_EQ(std::string(error.what()),
              "PID 2 is a kernel thread (kthreadd): it has no user memory to trace");
  }
}

TEST(ProcessTest, InspectOurselves) {
  try {
    inspect_process(::getpid());
    FAIL() << "no exception for ourselves";
  } catch (const FatalError& error) {
    EXPECT_EQ(error.code(), ExitCode::BadTarget);
    EXPECT_NE(std::string(error.what()).find(std::to_string(::getpid())), std::string::npos);
  }
  EXPECT_TRUE(process_alive(::getpid(), *process_start_time(::getpid())));
}

TEST(ProcessTest, StatmGivesResidentAndAnonymousBytes) {
  // size resident shared text lib data dt, in pages
  auto m = parse_statm("5000 1200 200 10 0 900 0\n", 4096);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->resident_bytes, 1200u * 4096);
  EXPECT_EQ(m->anon_bytes, 1000u * 4096);
  EXPECT_EQ(parse_statm("5000 100 300 1 0 1 0", 4096)->anon_bytes, 0u);  // never negative
  EXPECT_FALSE(parse_statm("", 4096).has_value());
  EXPECT_FALSE(parse_statm("12 x 3", 4096).has_value());
}

TEST(ProcessTest, OurOwnMemoryGrowsWhenWeTouchPages) {
  auto before = process_memory(::getpid());
  ASSERT_TRUE(before.has_value());
  // 64 MiB mapped here and written: never memory the allocator kept
  // resident from an earlier test of this binary.
  const size_t size = 64u << 20;
  void* block = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(block, MAP_FAILED);
  std::memset(block, 1, size);
  auto after = process_memory(::getpid());
  ::munmap(block, size);
  ASSERT_TRUE(after.has_value());
  EXPECT_GE(after->anon_bytes, before->anon_bytes + (48u << 20));
}

}  // namespace
}  // namespace leakscope
