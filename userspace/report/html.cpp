// The HTML report: one self-contained page (inline CSS, JS and SVG, no
// external URL) with the run's header and trust line, a flame graph of live
// bytes, growth charts of the top stacks and the ranked table. Everything the
// page says is in its static HTML; the script only adds zoom, search and
// hover readouts. Every string from the report is HTML-escaped; none goes into
// the script.
#include <algorithm>
#include <cstdio>
#include <string>

#include "report/formats.h"
#include "report/frame_text.h"
#include "report/html_assets.h"
#include "report/html_chart.h"
#include "report/html_flame.h"
#include "report/html_util.h"
#include "report/units.h"

namespace leakscope {

namespace {

using html::escape;

constexpr size_t kMaxCharts = 6;       // growth charts: the top stacks with history
constexpr size_t kMaxTableRows = 500;  // ranked table rows

std::string fmt(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, value);
  return buf;
}

std::string verdict_class(Verdict v) { return std::string(verdict_name(v)); }

std::string badge(Verdict v) {
  std::string name(verdict_name(v));
  return "<span class=\"badge " + name + "\">" + name + "</span>";
}

// The frame the stack is reported at (for js, past the runtime's frames).
const Frame& leak_site_frame(const StackEntry& s) {
  return s.frames[leak_site_index(s.frames, s.leak_site)];
}

std::string leak_site_name(const StackEntry& s) {
  if (s.frames.empty()) return s.truncated ? "[...]" : "[stack not captured]";
  return html::frame_name(leak_site_frame(s));
}

std::string rate_text(double rate, std::string_view unit) {
  if (unit.empty() || unit == "bytes/s") return format_rate(rate);
  return (rate > 0 ? "+" : "") + fmt("%.2f", rate) + " " + std::string(unit);
}

std::string growth_text(const StackEntry& s) {
  if (html::kind_in_bytes(s.kind)) return format_rate(s.growth_bytes_per_sec);
  return (s.growth_objects_per_sec > 0 ? "+" : "") + fmt("%.2f", s.growth_objects_per_sec) + " obj/s";
}

std::string with_commas(uint64_t v) {
  std::string digits = std::to_string(v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string with_commas(int64_t v) {
  return v < 0 ? "-" + with_commas(static_cast<uint64_t>(-(v + 1)) + 1) : with_commas(static_cast<uint64_t>(v));
}

// ---- Header and trust line.

std::string trust_line(const Health& h) {
  std::string counts = with_commas(h.allocs) + " allocations, " + with_commas(h.frees) + " frees";
  if (h.frees_unknown)
    counts += ", " + with_commas(h.frees_unknown) + " frees of blocks allocated before tracing began";
  if (h.stale_replaced) counts += ", " + with_commas(h.stale_replaced) + " addresses reused with no free seen";
  std::string frames;
  if (h.total_frames == 0) {
    frames = "no frames captured";
  } else if (h.unknown_frames == 0) {
    frames = "all " + with_commas(h.total_frames) + " frames symbolized";
  } else {
    frames = with_commas(h.unknown_frames) + " of " + with_commas(h.total_frames) + " frames unsymbolized (" +
             fmt("%.1f%%", 100.0 * double(h.unknown_frames) / double(h.total_frames)) + ")";
  }

  std::string out;
  if (h.lossless()) {
    out =
        "<div class=\"trust ok\" id=\"trust\"><strong>&#10003; Lossless.</strong>"
        "Every traced allocation, free and event was recorded: nothing dropped, missed or lost. "
        "<span class=\"detail\">" +
        escape(counts + "; " + frames) + ".</span></div>";
  } else {
    // Only the losses that happened; the map sizes explain the usual ones.
    std::string lost;
    for (const HealthLoss& loss : h.losses()) {
      if (loss.value == 0) continue;
      if (!lost.empty()) lost += ", ";
      lost += with_commas(loss.value) + " " + std::string(loss.text);
    }
    std::string sizes;
    if (h.objects_capacity)
      sizes += "; object map capacity " + with_commas(uint64_t(h.objects_capacity));
    if (h.ledger_capacity) sizes += "; ledger capacity " + with_commas(uint64_t(h.ledger_capacity));
    out = "<div class=\"trust warn\" id=\"trust\"><strong>&#9888; Not lossless.</strong>" +
          escape(lost) + ": live bytes and objects may be under-counted. <span class=\"detail\">" +
          escape(counts + "; " + frames + sizes) + ".</span></div>";
  }
  return out;
}

std::string header_section(const Report& r) {
  size_t by_verdict[5] = {0, 0, 0, 0, 0};
  int64_t live = 0;
  for (const StackEntry& s : r.stacks) {
    ++by_verdict[std::min<size_t>(static_cast<size_t>(s.assessment.verdict), 4)];
    live += s.live_bytes;
  }
  std::string out = "<section class=\"card\" id=\"summary\">\n<h1>" +
                    escape(r.host.empty() ? std::string("(unknown host)") : r.host) + "</h1>\n<dl class=\"meta\">";
  auto item = [&](const std::string& label, const std::string& value_html) {
    out += "<div><dt>" + label + "</dt><dd>" + value_html + "</dd></div>";
  };
  item("Host", escape(r.host));
  item("Generated", escape(r.generated_at));
  item("Traced for", escape(html::format_duration(r.elapsed_seconds)));
  std::string procs = std::to_string(r.processes.size());
  if (!r.processes.empty()) {
    procs += " <span class=\"muted\" style=\"font-weight:400\">(";
    for (size_t i = 0; i < r.processes.size() && i < 3; ++i)
      procs += (i ? ", " : "") + escape(r.processes[i].comm) + " " + std::to_string(r.processes[i].pid);
    if (r.processes.size() > 3) procs += ", ...";
    procs += ")</span>";
  }
  item("Processes", procs);
  item("Live in stacks", escape(format_bytes(double(live))) + " <span class=\"muted\" style=\"font-weight:400\">in " +
                             std::to_string(r.stacks.size()) + " stacks</span>");
  std::string verdicts;
  const Verdict order[] = {Verdict::Leak, Verdict::Growing, Verdict::Early, Verdict::Stable,
                           Verdict::Shrinking};
  for (Verdict v : order) {
    size_t n = by_verdict[static_cast<size_t>(v)];
    if (n) verdicts += "<span class=\"badge " + verdict_class(v) + "\">" + std::to_string(n) + " " +
                       std::string(verdict_name(v)) + "</span>";
  }
  if (verdicts.empty()) verdicts = "<span class=\"muted\">none</span>";
  item("Verdicts", verdicts);
  if (r.window_seconds > 0) item("Detector window", escape(html::format_duration(r.window_seconds)));
  if (!r.sinks.empty() || r.alerts_firing) item("Alerts firing", std::to_string(r.alerts_firing));
  out += "</dl>\n" + trust_line(r.health) + "\n</section>\n";
  return out;
}

// ---- Flame graph.

std::string flame_section(const Report& r) {
  html::FlameNode root = html::build_flame_tree(r);
  std::string out =
      "<section class=\"card\" id=\"flamegraph\">\n<h2>Live bytes by stack</h2>\n"
      "<p class=\"lede\">Flame graph: callers at the bottom, leak sites (the allocator's callers; for "
      "JavaScript, the app's own frame below the runtime's) on top; each box is as wide as the live bytes allocated under it. Red marks bytes held by stacks "
      "judged a leak, outlined boxes are their leak sites.<span class=\"js-only\"> Hover for details, "
      "click a box to zoom.</span></p>\n";
  if (root.bytes <= 0) {
    out += "<p class=\"muted\">No live bytes traced.</p>\n</section>\n";
    return out;
  }
  out += "<div class=\"toolbar js-only\"><input id=\"flame-search\" type=\"search\" "
         "placeholder=\"Search functions\" aria-label=\"Search functions\">"
         "<button id=\"flame-reset\" type=\"button\">Reset zoom</button>"
         "<span class=\"hint\" id=\"flame-found\"></span></div>\n";
  out += html::render_flame_svg(root);
  out += "\n<div class=\"legend\"><span><i style=\"background:hsl(2,78%,58%)\"></i>held by leaks</span>"
         "<span><i style=\"background:hsl(42,88%,64%)\"></i>other live bytes</span>"
         "<span><i style=\"background:hsl(0,0%,80%)\"></i>unsymbolized</span>"
         "<span><i style=\"background:hsl(215,22%,82%)\"></i>all / process</span>"
         "<span>total " +
         escape(format_bytes(double(root.bytes))) + "</span></div>\n</section>\n";
  return out;
}

// ---- Growth charts.

std::string charts_section(const Report& r) {
  std::string cards;
  size_t shown = 0;
  for (size_t i = 0; i < r.stacks.size() && shown < kMaxCharts; ++i) {
    const StackEntry& s = r.stacks[i];
    if (s.history.empty()) continue;
    ++shown;
    std::string rank = std::to_string(i + 1);
    std::string loc = s.frames.empty() ? std::string() : html::frame_location(leak_site_frame(s));
    cards += "<div class=\"chartcard " + verdict_class(s.assessment.verdict) + "\">";
    cards += "<h3><a class=\"rank\" href=\"#stack-" + rank + "\">#" + rank + "</a>" +
             badge(s.assessment.verdict) + "<code title=\"" + escape(leak_site_name(s)) + "\">" +
             escape(leak_site_name(s)) + "</code>";
    if (!loc.empty()) cards += "<span class=\"muted\" style=\"font-weight:400;font-size:12px\">" + escape(loc) + "</span>";
    cards += "</h3>";
    cards += "<div class=\"sub\">" + escape(s.comm) + " [" + std::to_string(s.pid) + "] &middot; " +
             escape(kind_name(s.kind)) + " &middot; " + escape(format_bytes(double(s.live_bytes))) +
             " live &middot; " + escape(rate_text(s.assessment.evidence.rate, s.assessment.evidence.unit)) +
             " over the window</div>";
    cards += html::render_growth_chart(s) + "</div>\n";
  }
  std::string out = "<section class=\"card\" id=\"growth\">\n<h2>Growth over time</h2>\n";
  if (shown == 0) {
    out += "<p class=\"muted\">No stack has a recorded history yet.</p>\n</section>\n";
    return out;
  }
  out += "<p class=\"lede\">Live " + std::string("bytes of the top ") + std::to_string(shown) +
         " stacks since tracing began. The shaded band is the detector's window; the dashed line "
         "joins the floor (low-water mark) at its start and end.</p>\n<div class=\"charts\">\n" + cards +
         "</div>\n</section>\n";
  return out;
}

// ---- Ranked table.

std::string evidence_cell(const StackEntry& s) {
  const Evidence& e = s.assessment.evidence;
  std::string out = "<b>" + escape(rate_text(e.rate, e.unit)) + "</b> over " +
                    escape(html::format_duration(e.window_seconds));
  if (s.assessment.verdict == Verdict::Early)
    out += " so far<br>too little history to judge (a trend needs " +
           escape(html::format_duration(e.needed_seconds)) + ")";
  else
    out += "<br>trend " + fmt("%.2f", e.trend) + " &middot; growing for " +
           escape(html::format_duration(e.growing_for_seconds));
  if (html::kind_in_bytes(s.kind) && e.samples > 0)
    out += "<br>floor " + escape(html::compact_bytes(double(e.floor_start))) + " &rarr; " +
           escape(html::compact_bytes(double(e.floor_end)));
  out += "<br>age oldest " + escape(html::format_duration(s.oldest_age_seconds)) + ", median " +
         escape(html::format_duration(s.median_age_seconds));
  if (s.allocator_growth.regions > 0)
    out += "<br>allocator footprint " + escape(html::compact_bytes(double(s.allocator_growth.held_bytes))) +
           " taken from the OS in these calls";
  return out;
}

// The title of a frame's location: its whole file (JS: with line and column).
std::string location_title(const Frame& f) {
  if (is_js_frame(f)) return js_position(f);
  return f.file.empty() ? f.module : f.file;
}

// `marked`: the leak site of a stack whose first frames are the runtime's.
std::string frame_item(const Frame& f, bool marked) {
  std::string out = marked ? "<li class=\"leak-site\"><code>" : "<li><code>";
  out += escape(html::frame_name(f)) + "</code>";
  std::string loc = html::frame_location(f);
  std::string where = loc;
  if (!f.module.empty() && !is_js_frame(f)) where += (where.empty() ? "" : " \u00b7 ") + basename_of(f.module);
  if (!where.empty()) out += " <span class=\"loc\" title=\"" + escape(location_title(f)) + "\">" +
                             escape(where) + "</span>";
  if (marked) out += " <span class=\"mark\">&larr; leak site</span>";
  return out + "</li>";
}

std::string site_cell(const StackEntry& s) {
  if (s.frames.empty())
    return s.truncated ? "<span class=\"muted\">[...] (callers unknown)</span>"
                       : "<span class=\"muted\">[stack not captured]</span>";
  // For js the leak site is the first frame of the user's code: the frames
  // before it (node:internal, node_modules) are listed, not headlined.
  const size_t at = leak_site_index(s.frames, s.leak_site);
  const Frame& site = s.frames[at];
  std::string loc = html::frame_location(site);
  std::string out = "<div class=\"fn\">" + escape(html::frame_name(site)) + "</div>";
  std::string where = loc.empty() ? std::string("no source line") : loc;
  if (!site.module.empty() && !is_js_frame(site)) where += " \u00b7 " + basename_of(site.module);
  out += "<div class=\"loc\" title=\"" + escape(is_js_frame(site) ? js_position(site) : site.file) + "\">" +
         escape(where) + "</div>";
  if (s.frames.size() > 1) {
    const size_t caller_count = s.frames.size() - 1 - at;
    std::string callers;
    for (size_t i = at + 1; i < s.frames.size() && i < at + 4; ++i)
      callers += (i > at + 1 ? " &larr; " : "&larr; ") + escape(html::frame_name(s.frames[i]));
    if (s.frames.size() > at + 4) callers += " &larr; ...";
    std::string summary = std::to_string(caller_count) + " caller" + (caller_count != 1 ? "s" : "");
    if (at > 0) summary += ", " + std::to_string(at) + " inner frame" + (at > 1 ? "s" : "");
    out += "<details><summary>" + summary + " <span class=\"muted\">" + callers + "</span></summary><ol>";
    for (size_t i = 0; i < s.frames.size(); ++i) out += frame_item(s.frames[i], at > 0 && i == at);
    if (s.truncated) out += "<li class=\"muted\"><code>[...]</code> callers unknown</li>";
    out += "</ol></details>";
  } else if (s.truncated) {
    out += "<div class=\"loc\">&larr; [...] callers unknown</div>";
  }
  return out;
}

std::string table_section(const Report& r) {
  std::string out =
      "<section class=\"card\" id=\"ranked\">\n<h2>Ranked stacks</h2>\n"
      "<p class=\"lede\">Leaks first, then by growth. Evidence: the detector's rate over its window, "
      "how consistently the floor rose (trend, -1 to 1), for how long it has kept rising, and the "
      "age of the live objects.</p>\n";
  if (r.stacks.empty()) return out + "<p class=\"muted\">No live allocations traced.</p>\n</section>\n";
  out += "<div class=\"toolbar js-only\"><button id=\"expand-all\" type=\"button\">Expand all "
         "stacks</button></div>\n";
  out += "<div class=\"tablewrap\"><table>\n<thead><tr><th>#</th><th>Verdict</th><th class=\"num\">PID</th>"
         "<th>Command</th><th>Kind</th><th class=\"num\">Live</th><th class=\"num\">Objects</th>"
         "<th class=\"num\">Growth</th><th>Confidence</th><th>Evidence</th><th>Leak site</th></tr></thead>\n<tbody>\n";
  size_t rows = std::min(r.stacks.size(), kMaxTableRows);
  for (size_t i = 0; i < rows; ++i) {
    const StackEntry& s = r.stacks[i];
    std::string v = verdict_class(s.assessment.verdict);
    double conf = std::clamp(s.assessment.confidence, 0.0, 1.0);
    out += "<tr class=\"" + v + "\" id=\"stack-" + std::to_string(i + 1) + "\">";
    out += "<td class=\"rank\">" + std::to_string(i + 1) + "</td>";
    out += "<td>" + badge(s.assessment.verdict) + "</td>";
    out += "<td class=\"num\">" + std::to_string(s.pid) + "</td>";
    out += "<td class=\"comm\">" + escape(s.comm) + "</td>";
    out += "<td>" + escape(kind_name(s.kind));
    if (!s.allocator.empty()) out += "<div class=\"muted\" style=\"font-size:12px\">" + escape(s.allocator) + "</div>";
    out += "</td>";
    out += "<td class=\"num\">" + escape(format_bytes(double(s.live_bytes))) + "</td>";
    out += "<td class=\"num\">" + with_commas(s.live_objects) + "</td>";
    out += "<td class=\"num\">" + escape(growth_text(s)) + "</td>";
    if (s.assessment.verdict == Verdict::Early)
      out += "<td class=\"num muted\">&mdash;</td>";  // no verdict, no confidence in one
    else
      out += "<td class=\"num\"><span class=\"conf\"><span style=\"width:" + fmt("%.0f", conf * 100) +
             "%\"></span></span>" + fmt("%.2f", conf) + "</td>";
    out += "<td class=\"evidence\">" + evidence_cell(s) + "</td>";
    out += "<td class=\"site\">" + site_cell(s) + "</td>";
    out += "</tr>\n";
  }
  out += "</tbody></table></div>\n";
  if (r.stacks.size() > rows)
    out += "<p class=\"more\">" + std::to_string(r.stacks.size() - rows) +
           " more stacks not shown (see the JSON report).</p>\n";
  return out + "</section>\n";
}

// ---- Processes and alert sinks.

std::string processes_section(const Report& r) {
  if (r.processes.empty()) return {};
  std::string out = "<section class=\"card\" id=\"processes\">\n<h2>Processes</h2>\n<div class=\"tablewrap\">"
                    "<table class=\"subtable\"><thead><tr><th class=\"num\">PID</th><th>Command</th>"
                    "<th>Command line</th><th>Allocator</th><th>Container</th><th class=\"num\">Traced</th>"
                    "<th class=\"num\">Live</th><th class=\"num\">Objects</th></tr></thead><tbody>\n";
  for (const ImageEntry& p : r.processes) {
    std::string cmdline;
    for (size_t i = 0; i < p.cmdline.size(); ++i) cmdline += (i ? " " : "") + p.cmdline[i];
    if (cmdline.size() > 300) cmdline = cmdline.substr(0, 297) + "...";
    std::string container = p.container_id.empty() ? p.cgroup : p.container_id.substr(0, 12);
    std::string footprint;
    if (p.allocator_growth.regions > 0)
      footprint = "<br><span class=\"muted\">footprint " +
                  escape(html::compact_bytes(double(p.allocator_growth.held_bytes))) + " held, " +
                  escape(html::compact_bytes(double(p.allocator_beyond_live_bytes))) + " beyond live blocks</span>";
    out += "<tr><td class=\"num\">" + std::to_string(p.pid) + "</td><td>" + escape(p.comm) +
           (p.exited ? " <span class=\"badge exited\">exited</span>" : "") + "</td><td><code>" +
           escape(cmdline) + "</code></td><td>" + escape(basename_of(p.allocator_module)) + footprint + "</td><td>" +
           escape(container) + "</td><td class=\"num\">" + escape(html::format_duration(p.traced_seconds)) +
           "</td><td class=\"num\">" + escape(format_bytes(double(p.live_bytes))) + "</td><td class=\"num\">" +
           with_commas(p.live_objects) + "</td></tr>\n";
  }
  return out + "</tbody></table></div>\n</section>\n";
}

std::string alerts_section(const Report& r) {
  if (r.sinks.empty()) return {};
  std::string out = "<section class=\"card\" id=\"alerts\">\n<h2>Alerts</h2>\n<p class=\"lede\">" +
                    std::to_string(r.alerts_firing) +
                    " firing when the report was made.</p>\n<div class=\"tablewrap\"><table class=\"subtable\">"
                    "<thead><tr><th>Sink</th><th class=\"num\">Delivered</th><th class=\"num\">Failures</th>"
                    "<th class=\"num\">Dropped</th><th>Last error</th></tr></thead><tbody>\n";
  for (const SinkStatus& s : r.sinks)
    out += "<tr><td><code>" + escape(s.name) + "</code></td><td class=\"num\">" + with_commas(s.delivered) +
           "</td><td class=\"num\">" + with_commas(s.failures) + "</td><td class=\"num\">" +
           with_commas(s.dropped) + "</td><td>" + escape(s.last_error) + "</td></tr>\n";
  return out + "</tbody></table></div>\n</section>\n";
}

}  // namespace

std::string render_html(const Report& r) {
  std::string version = r.tool_version.empty() ? std::string(LEAKSCOPE_VERSION) : r.tool_version;
  std::string out;
  out.reserve(64 * 1024);
  out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
         "<meta name=\"generator\" content=\"leakscope " +
         escape(version) + "\">\n<title>leakscope report: " + escape(r.host) + ", " + escape(r.generated_at) +
         "</title>\n<style>" + std::string(html::kStyle) + "</style>\n</head>\n<body>\n";
  out += "<header class=\"top\"><div class=\"wrap\"><div class=\"brand\"><span class=\"dot\"></span>leakscope"
         "<span class=\"sub\">memory leak report</span></div><div class=\"status\">" +
         std::string(r.final ? "final report" : "snapshot") + "</div></div></header>\n<main class=\"wrap\">\n";
  out += header_section(r);
  out += flame_section(r);
  out += charts_section(r);
  out += table_section(r);
  out += processes_section(r);
  out += alerts_section(r);
  out += "<footer>leakscope " + escape(version) + " &middot; report schema " + std::to_string(r.schema_version) +
         " &middot; " + escape(r.generated_at) + "</footer>\n</main>\n<script>" + std::string(html::kScript) +
         "</script>\n</body>\n</html>\n";
  return out;
}

}  // namespace leakscope
