// Parsing rates for --min-rate: "4KiB", "10k", "1.5MiB/s", "5" (per second),
// optionally scoped to a kind: "heap=4KiB", "timerfd=0.5".
#pragma once

#include <optional>
#include <string_view>

#include "core/types.h"

namespace leakscope {

struct RateSpec {
  std::optional<Kind> kind;  // none: every byte-counted kind (heap, mmap, brk)
  double per_second = 0;
};

std::optional<double> parse_quantity(std::string_view text);  // "4KiB" -> 4096
std::optional<RateSpec> parse_rate_spec(std::string_view text);

}  // namespace leakscope
