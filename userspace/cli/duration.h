// Parsing "500ms", "5s", "2m", "1h" or a plain number of seconds.
#pragma once

#include <optional>
#include <string_view>

namespace leakscope {

std::optional<double> parse_duration(std::string_view text);

}  // namespace leakscope
