// Every report format, chosen by name. Each renderer is pure: a Report in,
// bytes out (pprof is gzip-compressed binary).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "report/model.h"

namespace leakscope {

enum class Format { Text, Json, Folded, Pprof, Html };

std::optional<Format> parse_format(std::string_view name);  // "text", "json", ...
std::string_view format_name(Format format);
std::string_view format_extension(Format format);  // "txt", "json", "folded", "pb.gz", "html"

// What folded stacks weigh: live bytes, or growth (bytes/s, from the detector).
enum class FoldedWeight { LiveBytes, Growth };

struct RenderOptions {
  size_t top = 10;  // text: stacks shown
  FoldedWeight weight = FoldedWeight::LiveBytes;
};

std::string render(const Report& report, Format format, const RenderOptions& options);

// How far to trust a report, as short phrases: "lossless" (or "LOSSY: ..."),
// then each of the health figures ("0 objects dropped (object map full)",
// "3 of 120 frames unsymbolized", ...). None ends in a digit, so a folded
// comment line built from them never reads as a stack and its count.
// pprof carries them as comments, folded as one leading "# " line.
std::vector<std::string> trust_figures(const Health& health);

// The individual renderers.
std::string render_folded(const Report& report, FoldedWeight weight);
std::string render_pprof(const Report& report);  // gzip-compressed profile.proto
std::string render_html(const Report& report);   // one self-contained file

}  // namespace leakscope
