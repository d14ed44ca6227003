// A directory of reports written on SIGUSR1 and every --report-every:
// atomic writes, no symlink ever followed, the oldest pruned.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "report/formats.h"

namespace leakscope {

class ReportDir {
 public:
  // Opens (creating it 0700 when missing) `dir`; refuses a symlink as the
  // directory itself. Throws FatalError.
  ReportDir(std::string dir, size_t keep);
  ~ReportDir();
  ReportDir(const ReportDir&) = delete;
  ReportDir& operator=(const ReportDir&) = delete;

  // Writes one report in every given format; returns the paths written.
  std::vector<std::string> write(const std::vector<std::pair<Format, std::string>>& parts);
  // Reports kept from the next write on (a reloaded --report-keep).
  void set_keep(size_t keep) { keep_ = keep; }

 private:
  void prune();
  std::string dir_;
  size_t keep_;
  int dirfd_ = -1;
  unsigned seq_ = 0;
};

}  // namespace leakscope
