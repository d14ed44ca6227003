// Folded stacks ("collapsed" format): one line per stack,
//   comm (pid);kind;root;...;leak site VALUE
// as read by flamegraph.pl and speedscope's folded import, after one first
// line "# leakscope trust: lossless; 0 objects dropped ...; 3 of 120 frames
// unsymbolized" with the report's health. It ends in a letter, so neither
// tool can read it as a stack and its count: speedscope skips it silently,
// flamegraph.pl skips it and says "Ignored 1 lines with invalid format".
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "report/formats.h"
#include "report/frame_text.h"

namespace leakscope {

namespace {

// A frame name must not contain the frame separator or end the line early.
// Anything else (spaces, parameter lists, trailing digits) is fine: the value
// is whatever follows the line's last space.
std::string sanitize(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (c == ';')
      out.push_back(':');
    else if (u < 0x20 || u == 0x7f)  // newlines, tabs and other controls
      out.push_back(' ');
    else
      out.push_back(c);
  }
  return out;
}

std::string frame_name(const Frame& f) {
  // JS: "handler (app.js:42)", so that "(anonymous)" in two files are two
  // frames; its file comes from the target and is sanitized like the rest.
  if (is_js_frame(f)) return sanitize(js_frame_short(f));
  return sanitize(f.function.empty() ? f.display_name() : f.function);
}

std::string process_frame(const StackEntry& s) {
  const std::string comm = s.comm.empty() ? std::string("[unknown]") : sanitize(s.comm);
  return comm + " (" + std::to_string(s.pid) + ")";
}

// The stack's weight as a whole number; nothing when it has no weight.
std::optional<int64_t> weight_of(const StackEntry& s, FoldedWeight weight) {
  if (weight == FoldedWeight::LiveBytes) {
    if (s.live_bytes <= 0) return std::nullopt;
    return s.live_bytes;
  }
  // The detector's robust slope when it judged this stack in bytes/s; its
  // rate is in objects/s for timerfd/epoll and zero before it has enough
  // history, so fall back to the least-squares growth over the run.
  const Evidence& e = s.assessment.evidence;
  double rate = (e.unit == "bytes/s" && e.rate != 0) ? e.rate : s.growth_bytes_per_sec;
  if (!std::isfinite(rate)) return std::nullopt;
  rate = std::round(rate);
  if (rate <= 0) return std::nullopt;
  if (rate >= 9.2e18) return INT64_MAX;
  return static_cast<int64_t>(rate);
}

int64_t saturating_add(int64_t a, int64_t b) {
  return a > INT64_MAX - b ? INT64_MAX : a + b;  // both positive
}

}  // namespace

std::string render_folded(const Report& report, FoldedWeight weight) {
  std::map<std::string, int64_t> lines;  // sorted, merged after sanitizing
  for (const StackEntry& s : report.stacks) {
    const std::optional<int64_t> value = weight_of(s, weight);
    if (!value) continue;
    std::string key = process_frame(s);
    key += ';';
    key += sanitize(kind_name(s.kind));
    // A truncated stack's callers are unknown: one frame stands for them at
    // the root end, so its leak site is not merged with a stack that truly
    // starts there.
    if (s.truncated) key += ";[...]";
    // frames[0] is innermost (the leak site, or for js the runtime's frames
    // above it): folded stacks run root first.
    for (auto it = s.frames.rbegin(); it != s.frames.rend(); ++it) {
      key += ';';
      key += frame_name(*it);
    }
    int64_t& sum = lines[std::move(key)];
    sum = saturating_add(sum, *value);
  }
  std::string out = "# leakscope trust: ";
  const std::vector<std::string> figures = trust_figures(report.health);
  for (size_t i = 0; i < figures.size(); ++i) {
    if (i) out += "; ";
    out += sanitize(figures[i]);
  }
  out += '\n';
  for (const auto& [stack, value] : lines) {
    out += stack;
    out += ' ';
    out += std::to_string(value);
    out += '\n';
  }
  return out;
}

}  // namespace leakscope
