#include "cli/number.h"

#include <string>

namespace leakscope {

std::optional<std::pair<double, std::string_view>> split_number(std::string_view text) {
  size_t unit_at = text.find_first_not_of("0123456789.");
  std::string number(text.substr(0, unit_at));
  std::string_view unit = unit_at == std::string_view::npos ? "" : text.substr(unit_at);
  if (number.empty() || number.find('.') != number.rfind('.')) return std::nullopt;
  try {
    size_t used = 0;
    double value = std::stod(number, &used);
    if (used != number.size()) return std::nullopt;
    return std::make_pair(value, unit);
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace leakscope
