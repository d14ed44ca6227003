#include "core/input_limits.h"

#include <unistd.h>

#include <mutex>
#include <set>
#include <utility>

#include "core/log.h"

namespace leakscope {

namespace {

struct Registry {
  std::mutex mu;
  std::set<std::pair<std::string, std::string>> seen;  // bounded by kMaxSeen
  std::vector<InputLimitHit> kept;
  size_t total = 0;
};

// Past this many distinct pairs, new ones are counted but not remembered (a
// host of hostile processes cannot grow the set without bound).
constexpr size_t kMaxSeen = 4096;

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

void note_input_limit(const std::string& file, const std::string& limit, const std::string& effect) {
  try {
    Registry& r = registry();
    {
      std::lock_guard lock(r.mu);
      if (r.seen.contains({file, limit})) return;
      if (r.seen.size() < kMaxSeen) r.seen.emplace(file, limit);
      ++r.total;
      if (r.kept.size() < kMaxInputLimitHits) r.kept.push_back({file, limit, effect});
    }
    log_warn(file + ": " + effect + ": " + limit);
  } catch (...) {
    // Out of memory: the bound still held, only the note is lost.
  }
}

std::string input_file_name(const std::string& path) {
  if (!path.starts_with("/proc/")) return path;
  char link[4096];
  const ssize_t n = ::readlink(path.c_str(), link, sizeof link);
  if (n <= 0 || static_cast<size_t>(n) >= sizeof link) return path;
  return std::string(link, static_cast<size_t>(n));
}

std::vector<InputLimitHit> input_limits_hit() {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  return r.kept;
}

size_t input_limit_hits_total() {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  return r.total;
}

void clear_input_limits() {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  r.seen.clear();
  r.kept.clear();
  r.total = 0;
}

}  // namespace leakscope
