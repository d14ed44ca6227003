#include "report/units.h"

#include <cmath>
#include <cstdio>

namespace leakscope {

std::string format_bytes(double bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = std::fabs(bytes);
  int unit = 0;
  while (v >= 1024 && unit < 4) {
    v /= 1024;
    ++unit;
  }
  char buf[48];
  const char* sign = bytes < 0 ? "-" : "";
  if (unit == 0)
    std::snprintf(buf, sizeof buf, "%s%.0f B", sign, v);
  else
    std::snprintf(buf, sizeof buf, "%s%.*f %s", sign, v < 10 ? 2 : 1, v, kUnits[unit]);
  return buf;
}

std::string format_rate(double bytes_per_second) {
  std::string s = format_bytes(bytes_per_second) + "/s";
  return bytes_per_second > 0 ? "+" + s : s;
}

std::string basename_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string format_duration(double seconds) {
  char buf[32];
  if (seconds < 1)
    std::snprintf(buf, sizeof buf, "%.0f ms", seconds * 1000);
  else
    std::snprintf(buf, sizeof buf, "%.2f s", seconds);
  return buf;
}

}  // namespace leakscope
