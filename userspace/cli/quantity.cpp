#include "cli/quantity.h"

#include "cli/number.h"

namespace leakscope {

std::optional<double> parse_quantity(std::string_view text) {
  if (text.ends_with("/s")) text.remove_suffix(2);
  auto parsed = split_number(text);
  if (!parsed) return std::nullopt;
  auto [value, unit] = *parsed;
  struct Unit {
    std::string_view name;
    double scale;
  };
  static constexpr Unit kUnits[] = {{"", 1},         {"B", 1},          {"k", 1024},
                                    {"K", 1024},     {"KiB", 1024},     {"KB", 1024},
                                    {"m", 1 << 20},  {"M", 1 << 20},    {"MiB", 1 << 20},
                                    {"MB", 1 << 20}, {"G", 1 << 30},    {"GiB", 1 << 30}};
  for (const Unit& u : kUnits)
    if (u.name == unit) return value * u.scale;
  return std::nullopt;
}

std::optional<RateSpec> parse_rate_spec(std::string_view text) {
  RateSpec spec;
  if (auto eq = text.find('='); eq != std::string_view::npos) {
    spec.kind = parse_kind(text.substr(0, eq));
    if (!spec.kind) return std::nullopt;
    text.remove_prefix(eq + 1);
  }
  auto v = parse_quantity(text);
  if (!v || *v <= 0) return std::nullopt;
  spec.per_second = *v;
  return spec;
}

}  // namespace leakscope
