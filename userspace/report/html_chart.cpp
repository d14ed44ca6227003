#include "report/html_chart.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "report/html_util.h"

namespace leakscope::html {

namespace {

constexpr double kWidth = 560, kHeight = 230;
constexpr double kLeft = 70, kRight = 14, kTop = 14, kBottom = 30;
constexpr size_t kMaxPoints = 800;

struct Point {
  double t;
  double v;
};

// At most kMaxPoints points, keeping each bucket's low and high so that
// spikes and floors both survive.
std::vector<Point> decimate(const std::vector<Point>& in) {
  if (in.size() <= kMaxPoints) return in;
  std::vector<Point> out;
  size_t buckets = kMaxPoints / 2;
  for (size_t b = 0; b < buckets; ++b) {
    size_t lo = in.size() * b / buckets, hi = in.size() * (b + 1) / buckets;
    if (lo >= hi) continue;
    auto [mn, mx] = std::minmax_element(in.begin() + long(lo), in.begin() + long(hi),
                                        [](const Point& a, const Point& c) { return a.v < c.v; });
    if (mn < mx) {
      out.push_back(*mn);
      out.push_back(*mx);
    } else if (mx < mn) {
      out.push_back(*mx);
      out.push_back(*mn);
    } else {
      out.push_back(*mn);
    }
  }
  return out;
}

const char* verdict_class(Verdict v) {
  switch (v) {
    case Verdict::Leak: return "leak";
    case Verdict::Growing: return "growing";
    case Verdict::Stable: return "stable";
    case Verdict::Shrinking: return "shrinking";
    case Verdict::Early: return "early";
  }
  return "stable";
}

}  // namespace

std::string render_growth_chart(const StackEntry& s) {
  if (s.history.empty()) return "<p class=\"muted nochart\">No history recorded for this stack.</p>";
  bool bytes = kind_in_bytes(s.kind);
  std::vector<Point> raw;
  raw.reserve(s.history.size());
  for (const Sample& smp : s.history)
    raw.push_back({smp.t, double(std::max<int64_t>(0, bytes ? smp.live_bytes : smp.live_objects))});
  std::vector<Point> pts = decimate(raw);

  const Evidence& e = s.assessment.evidence;
  double t0 = raw.front().t, t1 = raw.back().t;
  for (const Point& p : raw) {
    t0 = std::min(t0, p.t);
    t1 = std::max(t1, p.t);
  }
  if (!(t1 > t0)) t1 = t0 + 1;
  double vmax = 0;
  for (const Point& p : raw) vmax = std::max(vmax, p.v);
  bool floor_line = bytes && e.samples > 1 && e.window_seconds > 0;
  if (floor_line) vmax = std::max({vmax, double(e.floor_start), double(e.floor_end)});

  std::vector<double> yt = nice_ticks(vmax * 1.04, 4, bytes);
  double ymax = yt.back() > 0 ? yt.back() : 1;
  std::vector<double> xt = time_ticks(t0, t1, 6);

  double pw = kWidth - kLeft - kRight, ph = kHeight - kTop - kBottom;
  auto X = [&](double t) { return kLeft + (t - t0) / (t1 - t0) * pw; };
  auto Y = [&](double v) { return kTop + ph - v / ymax * ph; };

  std::string cls = verdict_class(s.assessment.verdict);
  std::string out = "<svg class=\"chart " + cls + "\" viewBox=\"0 0 " + num(kWidth) + " " +
                    num(kHeight) + "\" role=\"img\" aria-label=\"Live " +
                    (bytes ? "bytes" : "objects") + " over time\" data-x0=\"" + num(kLeft) +
                    "\" data-x1=\"" + num(kLeft + pw) + "\" data-y0=\"" + num(kTop + ph) +
                    "\" data-y1=\"" + num(kTop) + "\" data-t0=\"" + num(t0, 3) + "\" data-t1=\"" +
                    num(t1, 3) + "\" data-vmax=\"" + num(ymax, 0) + "\" data-unit=\"" +
                    (bytes ? "bytes" : "objects") + "\">\n";

  // The detector's window.
  if (e.window_seconds > 0) {
    double ws = std::max(t0, t1 - e.window_seconds);
    out += "<rect class=\"window\" x=\"" + num(X(ws)) + "\" y=\"" + num(kTop) + "\" width=\"" +
           num(X(t1) - X(ws)) + "\" height=\"" + num(ph) + "\"><title>detector window: last " +
           format_duration(t1 - ws) + "</title></rect>\n";
    if (X(t1) - X(ws) > 90)
      out += "<text class=\"wlabel\" x=\"" + num(X(ws) + 5) + "\" y=\"" + num(kTop + 12) +
             "\">detector window</text>\n";
  }
  // Grid and axes.
  for (double v : yt) {
    out += "<line class=\"grid\" x1=\"" + num(kLeft) + "\" x2=\"" + num(kLeft + pw) + "\" y1=\"" +
           num(Y(v)) + "\" y2=\"" + num(Y(v)) + "\"/>";
    out += "<text class=\"ylab\" x=\"" + num(kLeft - 6) + "\" y=\"" + num(Y(v) + 4) + "\">" +
           escape(axis_label(v, ymax, bytes)) + "</text>\n";
  }
  for (double t : xt) {
    out += "<line class=\"tick\" x1=\"" + num(X(t)) + "\" x2=\"" + num(X(t)) + "\" y1=\"" +
           num(kTop + ph) + "\" y2=\"" + num(kTop + ph + 4) + "\"/>";
    out += "<text class=\"xlab\" x=\"" + num(X(t)) + "\" y=\"" + num(kTop + ph + 17) + "\">" +
           escape(time_label(t)) + "</text>\n";
  }
  out += "<line class=\"axis\" x1=\"" + num(kLeft) + "\" x2=\"" + num(kLeft + pw) + "\" y1=\"" +
         num(kTop + ph) + "\" y2=\"" + num(kTop + ph) + "\"/>\n";

  // The series: a tinted area and its line.
  std::string line;
  for (const Point& p : pts) line += num(X(p.t)) + "," + num(Y(p.v)) + " ";
  std::string area = num(X(pts.front().t)) + "," + num(Y(0)) + " " + line +
                     num(X(pts.back().t)) + "," + num(Y(0));
  out += "<polygon class=\"area\" points=\"" + area + "\"/>\n";
  out += "<polyline class=\"series\" points=\"" + line + "\"/>\n";
  if (floor_line) {
    double ws = std::max(t0, t1 - e.window_seconds);
    out += "<line class=\"floor\" x1=\"" + num(X(ws)) + "\" y1=\"" + num(Y(double(e.floor_start))) +
           "\" x2=\"" + num(X(t1)) + "\" y2=\"" + num(Y(double(e.floor_end))) +
           "\"><title>floor " + escape(compact_bytes(double(e.floor_start))) + " to " +
           escape(compact_bytes(double(e.floor_end))) + "</title></line>\n";
  }
  const Point& last = pts.back();
  out += "<circle class=\"last\" cx=\"" + num(X(last.t)) + "\" cy=\"" + num(Y(last.v)) + "\" r=\"3\"/>\n";

  // What the script moves under the pointer, hidden until then.
  out += "<line class=\"guide\" x1=\"0\" x2=\"0\" y1=\"" + num(kTop) + "\" y2=\"" + num(kTop + ph) +
         "\" style=\"visibility:hidden\"/><circle class=\"gdot\" cx=\"0\" cy=\"0\" r=\"4\" "
         "style=\"visibility:hidden\"/>\n";
  // The samples, for the hover readout (numbers only).
  out += "<g class=\"hover\" data-pts=\"";
  for (size_t i = 0; i < pts.size(); ++i) {
    if (i) out += ";";
    out += num(pts[i].t, 3) + ":" + num(pts[i].v, 0);
  }
  out += "\"></g>\n</svg>";
  return out;
}

}  // namespace leakscope::html
