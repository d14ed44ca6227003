#include "tracer/command.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "core/errors.h"

namespace leakscope {

ChildCommand ChildCommand::spawn_suspended(const std::vector<std::string>& argv,
                                           const sigset_t& original_mask) {
  if (argv.empty()) throw FatalError(ExitCode::Usage, "no command given after --");
  int go[2], err[2];
  if (::pipe2(go, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)
    throw FatalError(ExitCode::Failure, std::string("pipe: ") + std::strerror(errno));
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid < 0) throw FatalError(ExitCode::Failure, std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::close(go[1]);
    ::close(err[0]);
    ::sigprocmask(SIG_SETMASK, &original_mask, nullptr);
    char byte;
    if (::read(go[0], &byte, 1) != 1) ::_exit(127);  // the tracer went away
    ::execvp(args[0], args.data());
    int e = errno;
    ssize_t ignored = ::write(err[1], &e, sizeof e);
    (void)ignored;
    ::_exit(127);
  }
  ::close(go[0]);
  ::close(err[1]);
  return ChildCommand(pid, go[1], err[0], argv[0]);
}

ChildCommand::ChildCommand(ChildCommand&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)),
      go_fd_(std::exchange(o.go_fd_, -1)),
      err_fd_(std::exchange(o.err_fd_, -1)),
      name_(std::move(o.name_)),
      reaped_(o.reaped_) {}

ChildCommand::~ChildCommand() {
  // Closing the go pipe of a child never released makes it exit at once.
  if (go_fd_ >= 0) ::close(go_fd_);
  if (err_fd_ >= 0) ::close(err_fd_);
}

void ChildCommand::release() {
  char byte = 'g';
  if (::write(go_fd_, &byte, 1) != 1)
    throw FatalError(ExitCode::Failure, std::string("cannot start the command: ") + std::strerror(errno));
  ::close(std::exchange(go_fd_, -1));
  int e = 0;
  ssize_t n;
  do n = ::read(err_fd_, &e, sizeof e);
  while (n < 0 && errno == EINTR);
  ::close(std::exchange(err_fd_, -1));
  if (n == static_cast<ssize_t>(sizeof e)) {
    int status;
    ::waitpid(pid_, &status, 0);
    reaped_ = true;
    throw FatalError(ExitCode::BadTarget, "cannot run '" + name_ + "': " + std::strerror(e));
  }
}

std::optional<int> ChildCommand::poll_exit() {
  if (reaped_) return 0;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r != pid_) return std::nullopt;
  reaped_ = true;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 0;
}

}  // namespace leakscope
