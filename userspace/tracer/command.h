// Starting `-- CMD` so that probes are in place before its first allocation:
// the child is forked, waits on a pipe until the probes are attached to it,
// then execs. Uprobes follow the task across exec, so the allocator the new
// image maps is probed from its first call.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace leakscope {

class ChildCommand {
 public:
  // Forks; the child restores `original_mask` and waits for release().
  static ChildCommand spawn_suspended(const std::vector<std::string>& argv,
                                      const sigset_t& original_mask);
  ChildCommand(ChildCommand&& other) noexcept;
  ChildCommand& operator=(ChildCommand&&) = delete;
  ChildCommand(const ChildCommand&) = delete;
  ~ChildCommand();

  pid_t pid() const { return pid_; }
  // Lets the child exec. Throws FatalError(BadTarget) when exec fails.
  void release();
  // The child's exit status once it has exited (reaped here), else nullopt.
  std::optional<int> poll_exit();

 private:
  ChildCommand(pid_t pid, int go_fd, int err_fd, std::string name)
      : pid_(pid), go_fd_(go_fd), err_fd_(err_fd), name_(std::move(name)) {}
  pid_t pid_ = -1;
  int go_fd_ = -1;
  int err_fd_ = -1;
  std::string name_;
  bool reaped_ = false;
};

}  // namespace leakscope
