// Runs `/bin/sh -c COMMAND` per alert, the alert JSON on its stdin.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "alerts/sinks.h"

namespace leakscope {

namespace {

constexpr auto kCommandTimeout = std::chrono::seconds(5);

class ExecSink : public Sink {
 public:
  explicit ExecSink(std::string command) : command_(std::move(command)) {}

  std::string name() const override { return "exec:" + command_; }

  bool deliver(const AlertRecord& record, std::string* error) override {
    std::string input = alert_to_json(record) + "\n";
    auto deadline = std::chrono::steady_clock::now() + kCommandTimeout;

    // A socket rather than a pipe for stdin: send(MSG_NOSIGNAL) cannot raise
    // SIGPIPE when the command exits without reading.
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
      return fail(error, std::string("socketpair: ") + std::strerror(errno));
    // Everything the child needs is prepared before fork: after it, only
    // async-signal-safe calls.
    const char* argv[] = {"/bin/sh", "-c", command_.c_str(), nullptr};
    pid_t pid = ::fork();
    if (pid < 0) {
      int err = errno;
      ::close(sv[0]);
      ::close(sv[1]);
      return fail(error, std::string("fork: ") + std::strerror(err));
    }
    if (pid == 0) {
      ::setpgid(0, 0);
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::signal(SIGPIPE, SIG_DFL);
      int null = ::open("/dev/null", O_RDWR);
      if (::dup2(sv[1], STDIN_FILENO) < 0 || null < 0 || ::dup2(null, STDOUT_FILENO) < 0 ||
          ::dup2(null, STDERR_FILENO) < 0)
        ::_exit(126);
      ::execv("/bin/sh", const_cast<char* const*>(argv));
      ::_exit(127);
    }
    ::setpgid(pid, pid);  // also from here: no race with kill(-pid)
    ::close(sv[1]);

    // Feed stdin without ever blocking past the deadline.
    int fd = sv[0];
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    size_t done = 0;
    while (done < input.size() && std::chrono::steady_clock::now() < deadline) {
      ssize_t n = ::send(fd, input.data() + done, input.size() - done, MSG_NOSIGNAL);
      if (n > 0) {
        done += static_cast<size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        pollfd p{fd, POLLOUT, 0};
        ::poll(&p, 1, 50);
      } else {
        break;  // the command closed its stdin: its exit status decides
      }
    }
    ::close(fd);

    int status = 0;
    bool exited = false;
    while (true) {
      pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        exited = true;
        break;
      }
      if (r < 0 && errno != EINTR) break;  // not ours to reap any more (should not happen)
      if (std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!exited) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      return fail(error, "command timed out after " +
                             std::to_string(kCommandTimeout.count()) + " s (killed)");
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
    if (WIFEXITED(status))
      return fail(error, "command exited with status " + std::to_string(WEXITSTATUS(status)));
    if (WIFSIGNALED(status))
      return fail(error, "command killed by signal " + std::to_string(WTERMSIG(status)));
    return fail(error, "command failed");
  }

 private:
  bool fail(std::string* error, const std::string& why) {
    if (error) *error = "exec: " + why;
    return false;
  }

  std::string command_;
};

}  // namespace

std::unique_ptr<Sink> make_exec_sink(const std::string& command) {
  return std::make_unique<ExecSink>(command);
}

}  // namespace leakscope
