// Splitting "1.5MiB" or "500ms" into a number and its unit.
#pragma once

#include <optional>
#include <string_view>
#include <utility>

namespace leakscope {

// A non-negative decimal number followed by a unit (possibly empty);
// nullopt when the text does not start with exactly such a number.
std::optional<std::pair<double, std::string_view>> split_number(std::string_view text);

}  // namespace leakscope
