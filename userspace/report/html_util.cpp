#include "report/html_util.h"

#include <cmath>
#include <cstdio>

#include "report/frame_text.h"
#include "report/units.h"

namespace leakscope::html {

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      case '\0': out += "&#xFFFD;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string num(double value, int precision) {
  if (!std::isfinite(value)) return "0";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", precision, value);
  std::string s = buf;
  if (s.find('.') != std::string::npos) {
    while (!s.empty() && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

std::string compact_bytes(double bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = std::fabs(bytes);
  int unit = 0;
  while (v >= 1024 && unit < 5) {
    v /= 1024;
    ++unit;
  }
  int precision = v < 10 ? 2 : v < 100 ? 1 : 0;
  if (unit == 0) precision = 0;
  return std::string(bytes < 0 ? "-" : "") + num(v, precision) + " " + kUnits[unit];
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) seconds = 0;
  char buf[48];
  if (seconds < 10) {
    std::snprintf(buf, sizeof buf, "%.1fs", seconds);
  } else if (seconds < 60) {
    std::snprintf(buf, sizeof buf, "%.0fs", seconds);
  } else if (seconds < 3600) {
    auto s = static_cast<long long>(std::llround(seconds));
    std::snprintf(buf, sizeof buf, "%lldm %02llds", s / 60, s % 60);
  } else {
    auto m = static_cast<long long>(std::llround(seconds / 60));
    std::snprintf(buf, sizeof buf, "%lldh %02lldm", m / 60, m % 60);
  }
  return buf;
}

namespace {
double nice_step(double raw) {
  double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double r = raw / magnitude;
  return (r <= 1 ? 1 : r <= 2 ? 2 : r <= 2.5 ? 2.5 : r <= 5 ? 5 : 10) * magnitude;
}
}  // namespace

double axis_unit(double max, bool binary) {
  double unit = 1;
  if (binary)
    while (max / unit >= 1024 && unit < 1024.0 * 1024 * 1024 * 1024 * 1024) unit *= 1024;
  return unit;
}

std::vector<double> nice_ticks(double max, int target_count, bool binary) {
  if (target_count < 1) target_count = 1;
  if (!std::isfinite(max) || max <= 0) max = 1;
  double unit = axis_unit(max, binary);
  double step = nice_step(max / unit / target_count) * unit;
  if (step < 1) step = 1;  // bytes and objects come whole
  std::vector<double> ticks;
  for (int i = 0; i < 1000; ++i) {
    double t = step * i;
    ticks.push_back(t);
    if (t >= max * (1 - 1e-9)) break;
  }
  return ticks;
}

std::string axis_label(double value, double top, bool binary) {
  if (value == 0) return "0";
  if (!binary) return num(value, 2);
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double unit = axis_unit(top, true);
  int index = 0;
  for (double u = unit; u >= 1024 && index < 5; u /= 1024) ++index;
  return num(value / unit, 2) + " " + kUnits[index];
}

std::vector<double> time_ticks(double lo, double hi, int target_count) {
  if (target_count < 1) target_count = 1;
  if (!(hi > lo)) hi = lo + 1;
  static const double kSteps[] = {0.1,  0.2,  0.5,  1,    2,     5,     10,    15,    30,
                                  60,   120,  300,  600,  900,   1800,  3600,  7200,  10800,
                                  21600, 43200, 86400};
  double raw = (hi - lo) / target_count;
  double step = kSteps[std::size(kSteps) - 1];
  for (double s : kSteps)
    if (s >= raw) {
      step = s;
      break;
    }
  std::vector<double> ticks;
  double first = std::ceil(lo / step - 1e-9) * step;
  for (double t = first; t <= hi + step * 1e-9 && ticks.size() < 1000; t += step) ticks.push_back(t);
  return ticks;
}

std::string time_label(double seconds) {
  if (seconds < 60 || std::fmod(seconds, 1.0) != 0) return num(seconds, 1) + "s";
  auto s = static_cast<long long>(std::llround(seconds));
  if (s < 3600) {
    return std::to_string(s / 60) + "m" + (s % 60 ? std::to_string(s % 60) + "s" : "");
  }
  return std::to_string(s / 3600) + "h" + (s % 3600 ? std::to_string((s % 3600) / 60) + "m" : "");
}

bool kind_in_bytes(Kind kind) {
  return kind == Kind::Heap || kind == Kind::Mmap || kind == Kind::Brk || kind == Kind::Rss ||
         kind == Kind::Fault || kind == Kind::Js;
}

std::string frame_name(const Frame& frame) {
  if (is_js_frame(frame)) return js_function(frame);
  if (!frame.function.empty()) return frame.function;
  char buf[32];
  std::snprintf(buf, sizeof buf, "+0x%llx", static_cast<unsigned long long>(frame.module_offset));
  return (frame.module.empty() ? std::string("[unknown]") : basename_of(frame.module)) + buf;
}

std::string frame_location(const Frame& frame) {
  if (frame.file.empty()) return {};
  const bool js = is_js_frame(frame);
  std::string out = js ? js_short_file(frame.file) : basename_of(frame.file);
  if (frame.line > 0) out += ":" + std::to_string(frame.line);
  if (js && frame.line > 0 && frame.column > 0) out += ":" + std::to_string(frame.column);
  return out;
}

}  // namespace leakscope::html
