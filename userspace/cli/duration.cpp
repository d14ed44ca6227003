#include "cli/duration.h"

#include <charconv>
#include <string>

namespace leakscope {

std::optional<double> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  size_t unit_at = text.find_first_not_of("0123456789.");
  std::string number(text.substr(0, unit_at));
  std::string_view unit = unit_at == std::string_view::npos ? "" : text.substr(unit_at);
  if (number.empty() || number.find('.') != number.rfind('.')) return std::nullopt;
  double value;
  try {
    size_t used = 0;
    value = std::stod(number, &used);
    if (used != number.size()) return std::nullopt;
  } catch (...) {
    return std::nullopt;
  }
  double scale;
  if (unit.empty() || unit == "s")
    scale = 1;
  else if (unit == "ms")
    scale = 0.001;
  else if (unit == "m" || unit == "min")
    scale = 60;
  else if (unit == "h")
    scale = 3600;
  else
    return std::nullopt;
  return value * scale;
}

}  // namespace leakscope
