#include "cli/duration.h"

#include "cli/number.h"

namespace leakscope {

std::optional<double> parse_duration(std::string_view text) {
  auto parsed = split_number(text);
  if (!parsed) return std::nullopt;
  auto [value, unit] = *parsed;
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
