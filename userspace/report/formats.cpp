#include "report/formats.h"

#include <array>

#include "report/json.h"
#include "report/text.h"

namespace leakscope {

namespace {
struct FormatInfo {
  Format format;
  std::string_view name;
  std::string_view extension;
};
constexpr std::array<FormatInfo, 5> kFormats = {{{Format::Text, "text", "txt"},
                                                 {Format::Json, "json", "json"},
                                                 {Format::Folded, "folded", "folded"},
                                                 {Format::Pprof, "pprof", "pb.gz"},
                                                 {Format::Html, "html", "html"}}};
}  // namespace

std::optional<Format> parse_format(std::string_view name) {
  for (const auto& f : kFormats)
    if (f.name == name) return f.format;
  return std::nullopt;
}

std::string_view format_name(Format format) {
  for (const auto& f : kFormats)
    if (f.format == format) return f.name;
  return "unknown";
}

std::string_view format_extension(Format format) {
  for (const auto& f : kFormats)
    if (f.format == format) return f.extension;
  return "out";
}

std::string render(const Report& report, Format format, const RenderOptions& options) {
  switch (format) {
    case Format::Text: return render_text(report, options.top);
    case Format::Json: return render_json(report);
    case Format::Folded: return render_folded(report, options.weight);
    case Format::Pprof: return render_pprof(report);
    case Format::Html: return render_html(report);
  }
  return {};
}

}  // namespace leakscope
