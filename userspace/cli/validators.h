// CLI11 validators shared by the subcommands.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "cli/duration.h"

namespace leakscope {

// The longest duration any flag takes: past it a count of seconds is a slip
// (and would overflow the clocks it is added to).
inline constexpr double kLongestDuration = 366 * 24 * 3600.0;

// "60" -> "1m", "0.05" -> "50ms", "31622400" -> "8784h": a bound as a flag takes it.
inline std::string duration_text(double seconds) {
  auto whole = [](double v) { return std::to_string(static_cast<long long>(v + 0.5)); };
  if (seconds >= 3600 && static_cast<long long>(seconds) % 3600 == 0) return whole(seconds / 3600) + "h";
  if (seconds >= 60 && static_cast<long long>(seconds) % 60 == 0) return whole(seconds / 60) + "m";
  if (seconds >= 1) return whole(seconds) + "s";
  return whole(seconds * 1000) + "ms";
}

// CLI11 validator for durations from min_seconds to max_seconds.
struct DurationValidator : CLI::Validator {
  explicit DurationValidator(double min_seconds, double max_seconds = kLongestDuration) {
    name_ = "DURATION";
    func_ = [min_seconds, max_seconds](const std::string& s) -> std::string {
      auto d = parse_duration(s);
      if (!d) return "'" + s + "' is not a duration (like 500ms, 5s, 2m, 1h)";
      if (*d < min_seconds)
        return "'" + s + "' is too short" + (min_seconds > 0 ? " (at least " + duration_text(min_seconds) + ")" : "");
      if (*d > max_seconds) return "'" + s + "' is too long (at most " + duration_text(max_seconds) + ")";
      return {};
    };
  }
};

}  // namespace leakscope
