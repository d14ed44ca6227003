#include "target/proc_maps.h"

#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "target/root_path.h"

namespace leakscope {

namespace {

std::optional<MapEntry> parse_line(std::string_view line) {
  MapEntry e;
  unsigned long long start, end, offset, inode;
  unsigned int major, minor;
  char perms[8] = {};
  int consumed = 0;
  std::string buf(line);
  if (std::sscanf(buf.c_str(), "%llx-%llx %7s %llx %x:%x %llu %n", &start, &end, perms, &offset,
                  &major, &minor, &inode, &consumed) < 7)
    return std::nullopt;
  e.start = start;
  e.end = end;
  e.perms = perms;
  e.offset = offset;
  e.dev_major = major;
  e.dev_minor = minor;
  e.inode = inode;
  if (consumed > 0 && static_cast<size_t>(consumed) <= buf.size()) {
    std::string path = buf.substr(static_cast<size_t>(consumed));
    while (!path.empty() && (path.back() == '\n' || path.back() == ' ')) path.pop_back();
    size_t first = path.find_first_not_of(' ');
    e.path = first == std::string::npos ? std::string() : path.substr(first);
  }
  return e;
}

}  // namespace

std::vector<MapEntry> parse_maps(std::string_view text) {
  std::vector<MapEntry> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    if (auto e = parse_line(line)) out.push_back(std::move(*e));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return out;
}

std::optional<std::string> read_maps_text(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return ss.str();
}

std::optional<std::vector<MapEntry>> read_maps(pid_t pid) {
  auto text = read_maps_text(pid);
  if (!text) return std::nullopt;
  return parse_maps(*text);
}

std::string without_deleted_suffix(std::string_view path) {
  constexpr std::string_view kDeleted = " (deleted)";
  if (path.size() > kDeleted.size() && path.ends_with(kDeleted))
    path.remove_suffix(kDeleted.size());
  return std::string(path);
}

std::string openable_path(pid_t pid, const MapEntry& entry) {
  char name[96];
  std::snprintf(name, sizeof name, "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, pid, entry.start,
                entry.end);
  if (::access(name, R_OK) == 0) return name;
  const std::string path = without_deleted_suffix(entry.path);
  // Not through "/proc/PID/root" + path: an absolute symlink in a
  // container's tree would be followed on the host.
  return pinned_path_in_root(pid, path);
}

}  // namespace leakscope
