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

std::vector<std::string> trust_figures(const Health& h) {
  auto n = [](uint64_t v) { return std::to_string(v); };
  std::vector<std::string> out;
  out.push_back(h.lossless() ? "lossless"
                             : "LOSSY: some allocations or events were not accounted for");
  out.push_back(n(h.allocs) + " allocs, " + n(h.frees) + " frees (" + n(h.frees_unknown) +
                " of blocks from before attach)");
  // Every loss, zero or not: a reader sees what was checked, not only what went wrong.
  for (const HealthLoss& loss : h.losses())
    out.push_back(n(loss.value) + " " + std::string(loss.text));
  out.push_back(n(h.stale_replaced) + " addresses reused with no free seen");
  out.push_back(n(h.unknown_frames) + " of " + n(h.total_frames) + " frames unsymbolized");
  out.push_back(n(h.ledger_rows) + " of " + n(h.ledger_capacity) + " ledger rows in use");
  return out;
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
