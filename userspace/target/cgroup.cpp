#include "target/cgroup.h"

#include <cctype>
#include <fstream>
#include <sstream>

namespace leakscope {

std::string parse_cgroup_path(std::string_view text) {
  std::string fallback, memory;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    // hierarchy-id:controllers:path
    auto first = line.find(':');
    auto second = first == std::string::npos ? first : line.find(':', first + 1);
    if (second == std::string::npos) continue;
    std::string id = line.substr(0, first);
    std::string controllers = line.substr(first + 1, second - first - 1);
    std::string path = line.substr(second + 1);
    if (id == "0" && controllers.empty()) return path;
    if (controllers.find("memory") != std::string::npos) memory = path;
    if (fallback.empty()) fallback = path;
  }
  return memory.empty() ? fallback : memory;
}

std::string container_id_from_cgroup(std::string_view path) {
  // The last run of exactly 64 hex digits in the path.
  std::string found;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = i;
    while (j < path.size() && std::isxdigit(static_cast<unsigned char>(path[j]))) ++j;
    if (j - i == 64) found = std::string(path.substr(i, 64));
    i = j == i ? i + 1 : j;
  }
  return found;
}

std::string process_cgroup(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_cgroup_path(ss.str());
}

}  // namespace leakscope
