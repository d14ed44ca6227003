#include "report/html_flame.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "report/frame_text.h"
#include "report/html_util.h"
#include "report/units.h"

namespace leakscope::html {

namespace {

constexpr double kRowHeight = 18;
constexpr double kCharWidth = 7.3;   // 12px monospace, as the stylesheet sets it
constexpr double kMinWidth = 0.1;    // boxes narrower than this (viewBox units) are left out
constexpr size_t kMaxNodes = 40000;  // bounds the page on reports with very many stacks

// JS functions are told apart by file too: "(anonymous)" is in every file.
bool same_node(const FlameNode& a, const FlameNode& b) {
  if (a.level != b.level || a.name != b.name || a.module != b.module) return false;
  return a.module != kJsModule || a.file == b.file;
}

FlameNode& child_for(FlameNode& parent, const FlameNode& like) {
  for (FlameNode& c : parent.children)
    if (same_node(c, like)) return c;
  parent.children.push_back(like);
  return parent.children.back();
}

void add_to(FlameNode& node, const StackEntry& s, bool leak) {
  node.bytes += s.live_bytes;
  if (leak) node.leak_bytes += s.live_bytes;
  ++node.stacks;
}

void sort_tree(FlameNode& node) {
  std::stable_sort(node.children.begin(), node.children.end(),
                   [](const FlameNode& a, const FlameNode& b) { return a.bytes > b.bytes; });
  std::sort(node.lines.begin(), node.lines.end());
  for (FlameNode& c : node.children) sort_tree(c);
}

uint32_t hash_name(const std::string& s) {
  uint32_t h = 2166136261u;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 16777619u;
  return h;
}

std::string fill_for(const FlameNode& n) {
  char buf[64];
  if (n.level != FlameNode::Level::Frame) {
    std::snprintf(buf, sizeof buf, "hsl(215,22%%,%d%%)", n.level == FlameNode::Level::Root ? 78 : 84);
    return buf;
  }
  uint32_t h = hash_name(n.name);
  double jitter_h = double(h % 11) - 5;         // -5..5 degrees
  double jitter_l = double((h >> 8) % 7) - 3;   // -3..3 %
  if (!n.symbolized) {
    std::snprintf(buf, sizeof buf, "hsl(0,0%%,%.0f%%)", 80 + jitter_l);
    return buf;
  }
  double f = n.bytes > 0 ? double(n.leak_bytes) / double(n.bytes) : 0;
  // Amber for what is merely live, red for what is leaking.
  double hue = 42 - 40 * f + jitter_h * (1 - 0.6 * f);
  double sat = 88 - 10 * f;
  double light = 64 - 6 * f + jitter_l;
  std::snprintf(buf, sizeof buf, "hsl(%.0f,%.0f%%,%.0f%%)", std::max(0.0, hue), sat, light);
  return buf;
}

// Cuts `name` to fit `width` viewBox units at the monospace advance.
std::string fit_label(const std::string& name, double width) {
  auto fits = static_cast<long>(std::floor((width - 6) / kCharWidth));
  if (fits < 3) return {};
  if (static_cast<long>(name.size()) <= fits) return name;
  size_t cut = static_cast<size_t>(fits - 2);
  while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80) --cut;  // UTF-8
  return name.substr(0, cut) + "..";
}

std::string location_of(const FlameNode& n) {
  if (n.file.empty()) return {};
  std::string loc = n.module == kJsModule ? js_short_file(n.file) : basename_of(n.file);
  if (n.lines.size() == 1) {
    loc += ":" + std::to_string(n.lines[0]);
  } else if (n.lines.size() > 1) {
    loc += " (lines";
    for (size_t i = 0; i < n.lines.size() && i < 6; ++i) loc += (i ? ", " : " ") + std::to_string(n.lines[i]);
    if (n.lines.size() > 6) loc += ", ...";
    loc += ")";
  }
  return loc;
}

struct Renderer {
  double width;
  double total;
  size_t depth;
  size_t emitted = 0;
  std::string out;

  void node(const FlameNode& n, double x_bytes, size_t level) {
    double x = x_bytes / total * width;
    double w = double(n.bytes) / total * width;
    if (w < kMinWidth || emitted >= kMaxNodes) return;
    ++emitted;
    double y = double(depth - 1 - level) * kRowHeight;

    char pct[32];
    std::snprintf(pct, sizeof pct, "%.1f%%", 100.0 * double(n.bytes) / total);
    std::string title = n.name;
    std::string loc = location_of(n);
    if (!loc.empty()) title += "\n" + loc;
    if (!n.module.empty()) title += "\nin " + basename_of(n.module);
    title += "\n" + format_bytes(double(n.bytes)) + " live (" + pct + ")";
    if (n.leak_bytes > 0) title += ", " + format_bytes(double(n.leak_bytes)) + " in leaks";
    if (n.stacks > 1) title += "\n" + std::to_string(n.stacks) + " stacks";

    std::string cls = "f";
    if (n.leak_site) cls += " site";
    if (n.level != FlameNode::Level::Frame) cls += " meta";

    out += "<g class=\"" + cls + "\" data-d=\"" + std::to_string(level) + "\" data-x=\"" +
           num(x_bytes / total, 9) + "\" data-w=\"" + num(double(n.bytes) / total, 9) +
           "\" data-n=\"" + escape(n.name) + "\"><title>" + escape(title) + "</title>";
    out += "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(w) + "\" height=\"" +
           num(kRowHeight - 1) + "\" rx=\"2\" fill=\"" + fill_for(n) + "\"/>";
    out += "<text x=\"" + num(x + 3) + "\" y=\"" + num(y + 12.5) + "\">" +
           escape(fit_label(n.name, w)) + "</text></g>\n";

    double cx = x_bytes;
    for (const FlameNode& c : n.children) {
      node(c, cx, level + 1);
      cx += double(c.bytes);
    }
  }
};

}  // namespace

FlameNode build_flame_tree(const Report& report) {
  FlameNode root;
  root.level = FlameNode::Level::Root;
  root.name = "all";
  for (const StackEntry& s : report.stacks) {
    if (s.live_bytes <= 0) continue;
    bool leak = s.assessment.verdict == Verdict::Leak;
    add_to(root, s, leak);

    FlameNode proc_like;
    proc_like.level = FlameNode::Level::Process;
    proc_like.name = s.comm + " [" + std::to_string(s.pid) + "]";
    FlameNode* node = &child_for(root, proc_like);
    add_to(*node, s, leak);

    if (s.truncated) {
      // The unknown callers of a truncated stack: one box at the root end.
      FlameNode like;
      like.name = "[...]";
      like.symbolized = false;
      node = &child_for(*node, like);
      add_to(*node, s, leak);
      if (s.frames.empty()) node->leak_site = node->leak_site || leak;
    } else if (s.frames.empty()) {
      FlameNode like;
      like.name = "[stack not captured]";
      like.symbolized = false;
      node = &child_for(*node, like);
      add_to(*node, s, leak);
      node->leak_site = node->leak_site || leak;
      continue;
    }
    const size_t site = leak_site_index(s.frames, s.leak_site);
    for (size_t i = s.frames.size(); i-- > 0;) {
      const Frame& f = s.frames[i];
      FlameNode like;
      like.name = frame_name(f);
      like.module = f.module;
      like.file = f.file;
      like.symbolized = !f.function.empty();
      node = &child_for(*node, like);
      add_to(*node, s, leak);
      if (node->file.empty()) node->file = f.file;
      if (f.line > 0 && f.file == node->file &&
          std::find(node->lines.begin(), node->lines.end(), f.line) == node->lines.end())
        node->lines.push_back(f.line);
      // For js the frames inside the runtime stay on top of the leak site.
      if (i == site && leak) node->leak_site = true;
    }
  }
  sort_tree(root);
  return root;
}

size_t flame_depth(const FlameNode& root) {
  size_t deepest = 0;
  for (const FlameNode& c : root.children) deepest = std::max(deepest, flame_depth(c));
  return deepest + 1;
}

std::string render_flame_svg(const FlameNode& root, double width) {
  size_t depth = flame_depth(root);
  double height = double(depth) * kRowHeight;
  std::string out = "<svg class=\"flame\" id=\"flame\" viewBox=\"0 0 " + num(width) + " " +
                    num(height) + "\" data-width=\"" + num(width) +
                    "\" role=\"img\" aria-label=\"Flame graph of live bytes by stack\">\n";
  if (root.bytes > 0) {
    Renderer r{width, double(root.bytes), depth, 0, {}};
    r.node(root, 0, 0);
    out += r.out;
  }
  out += "</svg>";
  return out;
}

}  // namespace leakscope::html
