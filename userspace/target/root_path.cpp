#include "target/root_path.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <deque>
#include <mutex>

namespace leakscope {

UniqueFd open_in_root(const std::string& root, const std::string& path, int extra_flags) {
  UniqueFd dir(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) return UniqueFd();
  open_how how{};
  how.flags = static_cast<uint64_t>(O_RDONLY | O_CLOEXEC | extra_flags);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  long fd = ::syscall(SYS_openat2, dir.get(), path.c_str(), &how, sizeof how);
  return UniqueFd(fd < 0 ? -1 : static_cast<int>(fd));
}

std::string pinned_path_in_root(pid_t pid, const std::string& path) {
  UniqueFd fd = open_in_root("/proc/" + std::to_string(pid) + "/root", path);
  if (fd.get() < 0) return "";
  std::string name = "/proc/self/fd/" + std::to_string(fd.get());
  // Users of the path (ELF readers, uprobe attach) open it soon after; a
  // bounded set of recent descriptors stays open for them.
  static std::mutex mu;
  static std::deque<UniqueFd> pinned;
  std::lock_guard lock(mu);
  pinned.push_back(std::move(fd));
  if (pinned.size() > 64) pinned.pop_front();
  return name;
}

}  // namespace leakscope
