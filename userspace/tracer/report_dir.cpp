#include "tracer/report_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <map>
#include <set>

#include "core/errors.h"
#include "tracer/output.h"

namespace leakscope {

namespace {
constexpr const char* kPrefix = "leakscope-report-";
}

ReportDir::ReportDir(std::string dir, size_t keep) : dir_(std::move(dir)), keep_(keep) {
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST)
    throw FatalError(ExitCode::Usage, "--report-dir: cannot create " + dir_ + ": " + std::strerror(errno));
  dirfd_ = ::open(dir_.c_str(), O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (dirfd_ < 0)
    throw FatalError(ExitCode::Usage,
                     "--report-dir: cannot open " + dir_ + ": " + std::strerror(errno) +
                         (errno == ELOOP || errno == ENOTDIR ? " (a symlink is not accepted)" : ""));
}

ReportDir::~ReportDir() {
  if (dirfd_ >= 0) ::close(dirfd_);
}

std::vector<std::string> ReportDir::write(const std::vector<std::pair<Format, std::string>>& parts) {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  char seq[16];
  std::snprintf(seq, sizeof seq, "%04u", ++seq_ % 10000);
  std::string stem = std::string(kPrefix) + stamp + "-" + seq;
  std::vector<std::string> written;
  for (const auto& [format, bytes] : parts) {
    std::string name = stem + "." + std::string(format_extension(format));
    write_file_at(dirfd_, dir_, name, bytes);
    written.push_back(dir_ + "/" + name);
  }
  prune();
  return written;
}

// Keeps the newest `keep_` reports. Only regular files named like ours are
// candidates; symlinks and anything else are left alone.
void ReportDir::prune() {
  if (keep_ == 0) return;
  int fd = ::dup(dirfd_);
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return;
  }
  ::rewinddir(d);
  std::map<std::string, std::vector<std::string>> by_stem;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.rfind(kPrefix, 0) != 0) continue;
    struct stat st {};
    if (::fstatat(dirfd_, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
      continue;
    by_stem[name.substr(0, name.find('.'))].push_back(name);
  }
  ::closedir(d);
  while (by_stem.size() > keep_) {
    for (const std::string& name : by_stem.begin()->second) ::unlinkat(dirfd_, name.c_str(), 0);
    by_stem.erase(by_stem.begin());
  }
}

}  // namespace leakscope
