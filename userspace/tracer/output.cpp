#include "tracer/output.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <random>

#include "core/errors.h"

namespace leakscope {

void write_file_at(int dirfd, const std::string& dir, const std::string& name,
                   const std::string& content) {
  std::string shown = dir.empty() ? name : dir + "/" + name;
  std::mt19937_64 rng(std::random_device{}());
  std::string tmp = "." + name + ".tmp." + std::to_string(rng() % 1000000000);
  int fd = ::openat(dirfd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0)
    throw FatalError(ExitCode::Failure, "cannot write " + shown + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = errno;
      ::close(fd);
      ::unlinkat(dirfd, tmp.c_str(), 0);
      throw FatalError(ExitCode::Failure, "cannot write " + shown + ": " + std::strerror(e));
    }
    done += static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  if (::renameat(dirfd, tmp.c_str(), dirfd, name.c_str()) != 0) {
    int e = errno;
    ::unlinkat(dirfd, tmp.c_str(), 0);
    throw FatalError(ExitCode::Failure, "cannot write " + shown + ": " + std::strerror(e));
  }
}

void write_file_atomic(const std::string& path, const std::string& content) {
  auto slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  int dirfd = ::open(dir.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (dirfd < 0)
    throw FatalError(ExitCode::Failure, "cannot write " + path + ": " + std::strerror(errno));
  try {
    write_file_at(dirfd, dir, name, content);
  } catch (...) {
    ::close(dirfd);
    throw;
  }
  ::close(dirfd);
}

std::string now_rfc3339() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

}  // namespace leakscope
