// CLI11 validators shared by the subcommands.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "cli/duration.h"

namespace leakscope {

// CLI11 validator for durations.
struct DurationValidator : CLI::Validator {
  explicit DurationValidator(double min_seconds, double max_seconds = 0) {
    name_ = "DURATION";
    func_ = [min_seconds, max_seconds](const std::string& s) -> std::string {
      auto d = parse_duration(s);
      if (!d) return "'" + s + "' is not a duration (like 500ms, 5s, 2m, 1h)";
      if (*d < min_seconds) return "'" + s + "' is too short";
      if (max_seconds > 0 && *d > max_seconds) return "'" + s + "' is too long";
      return {};
    };
  }
};


}  // namespace leakscope
