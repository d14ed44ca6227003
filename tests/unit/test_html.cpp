// The HTML report: pure checks on a synthetic report, then the page opened in
// real headless Chromium (DOM after the script ran, console errors, and a
// screenshot kept as a test artifact).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>

#include "js_stack.h"
#include "report/formats.h"
#include "report/html_flame.h"
#include "report/html_util.h"
#include "report/model.h"

using namespace leakscope;
namespace fs = std::filesystem;

namespace {

Frame frame(std::string function, std::string file, int line, std::string module = "/usr/bin/cache-svc",
            uint64_t offset = 0x1000) {
  Frame f;
  f.address = 0x400000 + offset;
  f.function = std::move(function);
  f.file = std::move(file);
  f.line = line;
  f.module = std::move(module);
  f.module_offset = offset;
  return f;
}

// ~20 samples over 57 s: `start` bytes growing by `slope` bytes/s, with a
// sawtooth of `wobble` bytes on top.
std::vector<Sample> history(double start, double slope, double wobble, int64_t object_size) {
  std::vector<Sample> out;
  for (int i = 0; i < 20; ++i) {
    double t = 3.0 * i;
    double v = start + slope * t + ((i % 3) == 2 ? wobble : 0);
    out.push_back({t, int64_t(v), int64_t(v) / object_size});
  }
  return out;
}

StackEntry stack(pid_t pid, std::string comm, int32_t id, std::vector<Frame> frames, Verdict verdict,
                 double confidence, std::vector<Sample> hist) {
  StackEntry s;
  s.pid = pid;
  s.comm = std::move(comm);
  s.kind = Kind::Heap;
  s.allocator = "malloc";
  s.stack_id = id;
  s.frames = std::move(frames);
  s.history = std::move(hist);
  s.live_bytes = s.history.back().live_bytes;
  s.live_objects = s.history.back().live_objects;
  s.allocs = uint64_t(s.live_objects) * 2;
  s.frees = uint64_t(s.live_objects);
  double span = s.history.back().t - s.history.front().t;
  s.growth_bytes_per_sec = double(s.history.back().live_bytes - s.history.front().live_bytes) / span;
  s.assessment.verdict = verdict;
  s.assessment.confidence = confidence;
  Evidence& e = s.assessment.evidence;
  e.rate = s.growth_bytes_per_sec;
  e.unit = "bytes/s";
  e.window_seconds = 57;
  e.trend = verdict == Verdict::Leak ? 0.97 : verdict == Verdict::Growing ? 0.5 : 0.02;
  e.growing_for_seconds = verdict == Verdict::Leak ? 57 : 12;
  e.floor_start = s.history.front().live_bytes;
  e.floor_end = s.history.back().live_bytes;
  e.samples = s.history.size();
  s.oldest_age_seconds = 56.4;
  s.median_age_seconds = 28.1;
  return s;
}

const char* kHostile = "<script>alert(1)</script>";

Report synthetic_report() {
  Report r;
  r.tool_version = "0.1.0";
  r.host = "build-host-7";
  r.generated_at = "2026-11-25T16:07:09Z";
  r.elapsed_seconds = 57.3;
  r.final = true;
  r.window_seconds = 60;

  r.stacks.push_back(stack(4242, "cache-svc", 11,
                           {frame("cache_put", "/src/svc/cache.c", 42, "/usr/bin/cache-svc", 0x1420),
                            frame("handle_request", "/src/svc/server.c", 118, "/usr/bin/cache-svc", 0x1890),
                            frame("main", "/src/svc/main.c", 57, "/usr/bin/cache-svc", 0x1100)},
                           Verdict::Leak, 0.93, history(64 << 10, 36 << 10, 24 << 10, 256)));
  r.stacks.push_back(stack(4242, "cache-svc", 12,
                           {frame("std::vector<Entry, std::allocator<Entry> >::reserve(unsigned long)",
                                  "/usr/include/c++/12/bits/vector.tcc", 72, "/usr/bin/cache-svc", 0x2200),
                            frame("load_index", "/src/svc/index.c", 31, "/usr/bin/cache-svc", 0x1a00),
                            frame("main", "/src/svc/main.c", 49, "/usr/bin/cache-svc", 0x1100)},
                           Verdict::Growing, 0.41, history(900 << 10, 3 << 10, 200 << 10, 4096)));
  Frame unknown;
  unknown.address = 0x7f00dead0000;
  unknown.module = "/usr/lib/x86_64-linux-gnu/libworker.so";
  unknown.module_offset = 0xbeef;
  r.stacks.push_back(stack(4300, kHostile, 7,
                           {frame("read_buffer", "/src/worker/io.c", 88, "/usr/bin/worker", 0x3300), unknown,
                            frame("start_thread", "", 0, "/usr/lib/x86_64-linux-gnu/libc.so.6", 0x89000)},
                           Verdict::Stable, 0.0, history(1536 << 10, 0, 512 << 10, 65536)));

  ImageEntry a;
  a.pid = 4242;
  a.comm = "cache-svc";
  a.cmdline = {"/usr/bin/cache-svc", "--port", "8080"};
  a.allocator_module = "/usr/lib/x86_64-linux-gnu/libc.so.6";
  a.traced_seconds = 57.3;
  ImageEntry b;
  b.pid = 4300;
  b.comm = kHostile;
  b.cmdline = {"/usr/bin/worker", "--name=\"<b>x</b>\" & more"};
  b.allocator_module = "/usr/lib/x86_64-linux-gnu/libc.so.6";
  b.traced_seconds = 57.3;
  for (const StackEntry& s : r.stacks) {
    ImageEntry& p = s.pid == a.pid ? a : b;
    p.live_bytes += s.live_bytes;
    p.live_objects += s.live_objects;
  }
  r.processes = {a, b};

  r.health.allocs = 123456;
  r.health.frees = 118000;
  r.health.frees_unknown = 12;
  r.health.total_frames = 9;
  r.health.unknown_frames = 1;
  return r;
}

size_t count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST(HtmlTest, EscapeCoversMarkupCharacters) {
  EXPECT_EQ(html::escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
  EXPECT_EQ(html::escape("plain"), "plain");
  EXPECT_EQ(html::compact_bytes(1536), "1.5 KiB");
  EXPECT_EQ(html::compact_bytes(512), "512 B");
  EXPECT_EQ(html::format_duration(125), "2m 05s");
  std::vector<double> ticks = html::nice_ticks(3.2 * 1024 * 1024, 4, true);
  ASSERT_GE(ticks.size(), 2u);
  EXPECT_EQ(ticks.front(), 0);
  EXPECT_GE(ticks.back(), 3.2 * 1024 * 1024);
}

TEST(HtmlTest, FlameTreeMergesCommonPrefixes) {
  Report r = synthetic_report();
  html::FlameNode root = html::build_flame_tree(r);
  int64_t total = 0;
  for (const StackEntry& s : r.stacks) total += s.live_bytes;
  EXPECT_EQ(root.bytes, total);
  ASSERT_EQ(root.children.size(), 2u);  // two processes

  const html::FlameNode* svc = nullptr;
  for (const auto& c : root.children)
    if (c.name == "cache-svc [4242]") svc = &c;
  ASSERT_NE(svc, nullptr);
  ASSERT_EQ(svc->children.size(), 1u);  // both stacks start at main: merged
  const html::FlameNode& main_node = svc->children[0];
  EXPECT_EQ(main_node.name, "main");
  EXPECT_EQ(main_node.bytes, r.stacks[0].live_bytes + r.stacks[1].live_bytes);
  EXPECT_EQ(main_node.leak_bytes, r.stacks[0].live_bytes);
  EXPECT_EQ(main_node.lines, (std::vector<int>{49, 57}));
  ASSERT_EQ(main_node.children.size(), 2u);
  // Leak site on top of handle_request, flagged as such.
  bool found_site = false;
  for (const auto& c : main_node.children)
    if (c.name == "handle_request") {
      ASSERT_EQ(c.children.size(), 1u);
      EXPECT_EQ(c.children[0].name, "cache_put");
      EXPECT_TRUE(c.children[0].leak_site);
      found_site = true;
    }
  EXPECT_TRUE(found_site);
  EXPECT_EQ(html::flame_depth(root), 5u);  // all, process, 3 frames
}

TEST(HtmlTest, FlameTreePutsUnknownCallersAtTheRootEnd) {
  Report r;
  const std::vector<Frame> frames = {frame("cache_put", "/src/cache.c", 12),
                                     frame("main", "/src/main.c", 49)};
  r.stacks.push_back(stack(7, "svc", 1, frames, Verdict::Stable, 0.5, history(4096, 0, 0, 64)));
  r.stacks.push_back(stack(7, "svc", 2, frames, Verdict::Leak, 0.9, history(8192, 100, 0, 64)));
  r.stacks.back().truncated = true;
  r.stacks.push_back(stack(7, "svc", 3, {}, Verdict::Leak, 0.9, history(1024, 10, 0, 64)));
  r.stacks.back().truncated = true;  // cut at its leak site
  html::FlameNode root = html::build_flame_tree(r);
  ASSERT_EQ(root.children.size(), 1u);
  const html::FlameNode& svc = root.children[0];
  const html::FlameNode* cut = nullptr;
  const html::FlameNode* whole = nullptr;
  for (const auto& c : svc.children) {
    if (c.name == "[...]") cut = &c;
    if (c.name == "main") whole = &c;
  }
  ASSERT_NE(cut, nullptr) << "the truncated stacks begin at their unknown callers";
  ASSERT_NE(whole, nullptr);
  EXPECT_EQ(whole->bytes, r.stacks[0].live_bytes) << "not merged with the cut one";
  EXPECT_EQ(cut->bytes, r.stacks[1].live_bytes + r.stacks[2].live_bytes);
  EXPECT_FALSE(cut->symbolized);
  EXPECT_TRUE(cut->leak_site) << "for the stack cut at its leak site, [...] is all there is";
  ASSERT_EQ(cut->children.size(), 1u);
  EXPECT_EQ(cut->children[0].name, "main");
  ASSERT_EQ(cut->children[0].children.size(), 1u);
  EXPECT_EQ(cut->children[0].children[0].name, "cache_put");
  EXPECT_TRUE(cut->children[0].children[0].leak_site);
  EXPECT_NE(render_html(r).find("<code>[...]</code> callers unknown"), std::string::npos);
}

TEST(HtmlTest, ReportIsSelfContainedAndEscaped) {
  std::string page = render_html(synthetic_report());
  ASSERT_FALSE(page.empty());
  EXPECT_EQ(page.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(page.find("</html>"), std::string::npos);

  // The hostile comm comes out as text, never as markup.
  EXPECT_EQ(page.find(kHostile), std::string::npos);
  EXPECT_NE(page.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_EQ(page.find("<b>x</b>"), std::string::npos);
  EXPECT_EQ(count(page, "<script"), 1u);  // ours, and only ours
  EXPECT_NE(page.find("std::vector&lt;Entry, std::allocator&lt;Entry&gt; &gt;::reserve"), std::string::npos);

  // Offline: no external URL anywhere, every link stays inside the page.
  EXPECT_EQ(page.find("http://"), std::string::npos);
  EXPECT_EQ(page.find("https://"), std::string::npos);
  EXPECT_EQ(page.find("//cdn"), std::string::npos);
  EXPECT_EQ(page.find("@import"), std::string::npos);
  std::regex link(R"re(\b(src|href|xlink:href|action)\s*=\s*["']?([^"' >]*))re", std::regex::icase);
  for (auto it = std::sregex_iterator(page.begin(), page.end(), link); it != std::sregex_iterator(); ++it)
    EXPECT_EQ((*it)[2].str().rfind("#", 0), 0u) << "non-local link: " << it->str();

  // The header: host, time, duration, processes, trust line.
  EXPECT_NE(page.find("build-host-7"), std::string::npos);
  EXPECT_NE(page.find("2026-11-25T16:07:09Z"), std::string::npos);
  EXPECT_NE(page.find("57s"), std::string::npos);
  EXPECT_NE(page.find("Lossless."), std::string::npos);
  EXPECT_NE(page.find("1 of 9 frames unsymbolized"), std::string::npos);

  // The flame graph and one chart per stack with history.
  EXPECT_NE(page.find("<svg class=\"flame\""), std::string::npos);
  EXPECT_EQ(count(page, "<svg class=\"chart "), 3u);
  EXPECT_EQ(count(page, "<svg class=\"chart leak\""), 1u);
  EXPECT_NE(page.find("<polyline class=\"series\""), std::string::npos);

  // The ranked table: leak row first and highlighted, leak site as plain
  // text with file:line, the rest of the stack collapsible.
  size_t row1 = page.find("<tr class=\"leak\" id=\"stack-1\">");
  ASSERT_NE(row1, std::string::npos);
  size_t row2 = page.find("id=\"stack-2\"");
  ASSERT_NE(row2, std::string::npos);
  std::string first_row = page.substr(row1, row2 - row1);
  EXPECT_NE(first_row.find("<div class=\"fn\">cache_put</div>"), std::string::npos);
  EXPECT_NE(first_row.find("cache.c:42"), std::string::npos);
  EXPECT_NE(first_row.find("<details>"), std::string::npos);
  EXPECT_NE(first_row.find("handle_request"), std::string::npos);
  EXPECT_NE(first_row.find("server.c:118"), std::string::npos);
  EXPECT_NE(first_row.find("+36.0 KiB/s"), std::string::npos);
  EXPECT_NE(first_row.find("0.93"), std::string::npos);
  EXPECT_NE(first_row.find("trend 0.97"), std::string::npos);
  EXPECT_NE(first_row.find("growing for 57s"), std::string::npos);
  EXPECT_NE(first_row.find("oldest 56s"), std::string::npos);
  EXPECT_NE(page.find("libworker.so+0xbeef"), std::string::npos);  // unsymbolized frame
}

TEST(HtmlTest, AnEarlyStackIsBadgedAndSaysWhatHistoryItNeeds) {
  Report r = synthetic_report();
  Evidence& e = r.stacks[1].assessment.evidence;
  r.stacks[1].assessment.verdict = Verdict::Early;
  r.stacks[1].assessment.confidence = 0;
  e.window_seconds = 6;
  e.needed_seconds = 10;
  const std::string page = render_html(r);
  EXPECT_NE(page.find("<span class=\"badge early\">1 early</span>"), std::string::npos);
  const size_t row = page.find("id=\"stack-2\"");
  ASSERT_NE(row, std::string::npos);
  const std::string early_row = page.substr(row, page.find("id=\"stack-3\"") - row);
  EXPECT_NE(early_row.find("over 6.0s so far<br>too little history to judge (a trend needs 10s)"),
            std::string::npos)
      << early_row;
  EXPECT_EQ(early_row.find("trend 0."), std::string::npos) << "no trend read off a series this young";
  EXPECT_EQ(count(page, "<svg class=\"chart early\""), 1u);
}

TEST(HtmlTest, LossyAndEmptyReports) {
  Report lossy = synthetic_report();
  lossy.health.dropped_objects = 17;
  lossy.health.stacks_unreadable = 3;
  std::string page = render_html(lossy);
  EXPECT_NE(page.find("Not lossless."), std::string::npos);
  EXPECT_NE(page.find("17 objects dropped"), std::string::npos);
  EXPECT_NE(page.find("3 stacks not captured"), std::string::npos);
  EXPECT_EQ(page.find("Lossless."), std::string::npos);
  // The trust line names the losses that happened, in the words every format uses.
  EXPECT_EQ(page.find("calls missed"), std::string::npos) << "no calls were missed";

  // A loss of kind fault alone is enough to make a report not lossless.
  Report faulty = synthetic_report();
  faulty.health.fault_pages_dropped = 21;
  page = render_html(faulty);
  EXPECT_NE(page.find("Not lossless."), std::string::npos);
  EXPECT_NE(page.find("21 pages not booked (page ledger full)"), std::string::npos);

  // Odd stacks: one sample of history, all zero, counted objects (timerfd),
  // no frames at all.
  Report odd = synthetic_report();
  StackEntry one = odd.stacks[0];
  one.history = {{5, 4096, 1}};
  StackEntry zero = odd.stacks[1];
  for (Sample& smp : zero.history) smp.live_bytes = smp.live_objects = 0;
  zero.live_bytes = 0;
  StackEntry timers = odd.stacks[2];
  timers.kind = Kind::Timerfd;
  timers.live_bytes = 0;
  timers.growth_objects_per_sec = 0.5;
  timers.assessment.evidence.unit = "objects/s";
  timers.assessment.evidence.rate = 0.5;
  timers.frames.clear();
  odd.stacks = {one, zero, timers};
  page = render_html(odd);
  EXPECT_NE(page.find("+0.50 objects/s"), std::string::npos);
  EXPECT_NE(page.find("[stack not captured]"), std::string::npos);
  EXPECT_EQ(page.find("nan"), std::string::npos);
  EXPECT_EQ(page.find("inf\""), std::string::npos);
  EXPECT_EQ(count(page, "<svg class=\"chart "), 3u);

  Report empty;
  empty.host = "h";
  empty.generated_at = "2026-11-25T00:00:00Z";
  page = render_html(empty);
  EXPECT_NE(page.find("No live bytes traced."), std::string::npos);
  EXPECT_NE(page.find("No live allocations traced."), std::string::npos);
  EXPECT_NE(page.find("</html>"), std::string::npos);
}

// ---- In a real browser.

namespace {

std::string find_chromium() {
  for (const char* candidate : {"/usr/bin/chromium", "/usr/bin/chromium-browser"})
    if (access(candidate, X_OK) == 0) return candidate;
  return {};
}

struct BrowserRun {
  int status = -1;
  std::string out;
  std::string err;
};

// Runs headless Chromium on `page` with a fresh profile under `dir`.
BrowserRun run_chromium(const std::string& chromium, const fs::path& dir, const std::string& mode_args,
                        const fs::path& page) {
  static int run = 0;
  fs::path profile = dir / ("profile-" + std::to_string(++run));
  fs::create_directories(profile);
  fs::path out = dir / ("out-" + std::to_string(run)), err = dir / ("err-" + std::to_string(run));
  // A bound, not a timing: a page renders in a second or two, but chromium
  // starting beside the e2e suite on 2 busy cores took over 30 s once.
  std::string cmd = "timeout 120 '" + chromium +
                    "' --headless --no-sandbox --disable-gpu --disable-dev-shm-usage "
                    "--disable-background-networking --disable-component-update --disable-sync "
                    "--no-first-run --no-default-browser-check --disable-extensions "
                    "--user-data-dir='" + profile.string() + "' --enable-logging=stderr --v=0 " + mode_args +
                    " 'file://" + page.string() + "' >'" + out.string() + "' 2>'" + err.string() + "' </dev/null";
  BrowserRun r;
  r.status = std::system(cmd.c_str());
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

// Chromium logs every console message at INFO, whatever its level, so the
// page is instrumented instead: a first script records console.error calls,
// uncaught exceptions and unhandled rejections, a last one (after the
// report's own, and after `exercise`, a script that plays with the page)
// writes them into the DOM, where --dump-dom shows them.
std::string instrument(const std::string& page, const std::string& exercise = {}) {
  static const std::string hook =
      "<script>window.__errors=[];(function(){var e=console.error;console.error=function(){"
      "window.__errors.push('console.error: '+Array.prototype.join.call(arguments,' '));"
      "return e.apply(console,arguments);};window.addEventListener('error',function(ev){"
      "window.__errors.push('uncaught: '+ev.message);});window.addEventListener("
      "'unhandledrejection',function(ev){window.__errors.push('unhandled rejection: '+ev.reason);});"
      "})();</script>";
  static const std::string report =
      "<script>(function(){var p=document.createElement('pre');p.id='test-console-errors';"
      "p.textContent=window.__errors.join('\\n');document.body.appendChild(p);})();</script>";
  std::string out = page;
  size_t head = out.find("<head>");
  out.insert(head == std::string::npos ? 0 : head + 6, hook);
  size_t body_end = out.rfind("</body>");
  out.insert(body_end == std::string::npos ? out.size() : body_end,
             (exercise.empty() ? "" : "<script>" + exercise + "</script>") + report);
  return out;
}

// The errors an instrumented page recorded, and uncaught exceptions in
// Chromium's log ("...:INFO:CONSOLE:12] \"Uncaught ReferenceError: ...\"").
std::vector<std::string> console_errors(const BrowserRun& run) {
  std::vector<std::string> errors;
  const std::string open = "<pre id=\"test-console-errors\">";
  size_t at = run.out.find(open);
  if (at == std::string::npos) {
    errors.push_back("(the page's error recorder did not run)");
  } else {
    at += open.size();
    std::istringstream recorded(run.out.substr(at, run.out.find("</pre>", at) - at));
    for (std::string line; std::getline(recorded, line);)
      if (!line.empty()) errors.push_back(line);
  }
  std::istringstream log(run.err);
  for (std::string line; std::getline(log, line);)
    if (line.find("CONSOLE") != std::string::npos &&
        (line.find("Uncaught") != std::string::npos || line.find(":ERROR:CONSOLE") != std::string::npos))
      errors.push_back(line);
  return errors;
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/leakscope-html-XXXXXX";
    const char* made = mkdtemp(tmpl);
    if (made) path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

}  // namespace

TEST(HtmlTest, RendersInHeadlessChromium) {
  std::string chromium = find_chromium();
  ASSERT_FALSE(chromium.empty()) << "chromium not found (/usr/bin/chromium): run tools/setup as root to install it";
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());

  // First, that errors in a page are seen at all: otherwise "no errors"
  // below would prove nothing.
  fs::path canary = tmp.path() / "canary.html";
  std::ofstream(canary) << instrument(
      "<!DOCTYPE html><html><head></head><body><p>canary</p><script>"
      "console.error('canary-console-error'); undefined_function_xyz();</script></body></html>");
  BrowserRun probe = run_chromium(chromium, tmp.path(), "--dump-dom", canary);
  ASSERT_NE(probe.out.find("<p>canary</p>"), std::string::npos) << "chromium did not load a page:\n" << probe.err;
  std::string seen;
  for (const std::string& e : console_errors(probe)) seen += e + "\n";
  ASSERT_NE(seen.find("console.error: canary-console-error"), std::string::npos) << seen;
  ASSERT_NE(seen.find("uncaught: Uncaught ReferenceError: undefined_function_xyz"), std::string::npos) << seen;
  ASSERT_NE(seen.find("CONSOLE"), std::string::npos) << "uncaught errors not in chromium's log:\n" << seen;

  std::string html = render_html(synthetic_report());
  fs::path page = tmp.path() / "report.html";
  std::ofstream(page) << html;
  fs::path instrumented = tmp.path() / "report-instrumented.html";
  // Zoom into the leak site, search, hover a chart, expand every stack, and
  // note what each did on <body>.
  std::ofstream(instrumented) << instrument(html, R"js(
    (function () {
      var note = function (k, v) { document.body.setAttribute('data-test-' + k, String(v)); };
      var site = document.querySelector('#flame g.site');
      site.dispatchEvent(new MouseEvent('click', {bubbles: true}));
      note('zoom-width', site.querySelector('rect').getAttribute('width'));
      note('zoom-hidden', document.querySelectorAll('#flame g.f[style*="none"]').length);
      var search = document.getElementById('flame-search');
      search.value = 'main';
      search.dispatchEvent(new Event('input'));
      note('found', document.getElementById('flame-found').textContent);
      var chart = document.querySelector('svg.chart'), box = chart.getBoundingClientRect();
      chart.dispatchEvent(new MouseEvent('mousemove', {bubbles: true,
          clientX: box.left + box.width / 2, clientY: box.top + box.height / 2}));
      note('tip', document.getElementById('tip').textContent.replace(/\n/g, ' | '));
      document.getElementById('expand-all').click();
      note('open', document.querySelectorAll('#ranked details[open]').length);
      document.getElementById('flame-reset').click();
      note('reset-hidden', document.querySelectorAll('#flame g.f[style*="none"]').length);
    })();
  )js");

  BrowserRun dom = run_chromium(chromium, tmp.path(), "--dump-dom", instrumented);
  EXPECT_EQ(dom.status, 0) << dom.err;
  EXPECT_NE(dom.out.find("data-js=\"ready\""), std::string::npos) << "the script did not run to its end";
  EXPECT_NE(dom.out.find("cache_put"), std::string::npos);
  EXPECT_NE(dom.out.find("<svg class=\"flame\""), std::string::npos);
  EXPECT_NE(dom.out.find("class=\"f site\""), std::string::npos);  // the leak site's box
  EXPECT_NE(dom.out.find("<svg class=\"chart leak\""), std::string::npos);
  EXPECT_NE(dom.out.find("<polyline class=\"series\""), std::string::npos);
  EXPECT_NE(dom.out.find("id=\"tip\""), std::string::npos);  // made by the script
  EXPECT_EQ(dom.out.find(kHostile), std::string::npos);
  EXPECT_NE(dom.out.find("data-test-zoom-width=\"1200.00\""), std::string::npos);  // full width
  EXPECT_EQ(dom.out.find("data-test-zoom-hidden=\"0\""), std::string::npos);       // others hidden
  EXPECT_NE(dom.out.find("data-test-found=\"matches "), std::string::npos);
  EXPECT_NE(dom.out.find("data-test-tip=\"t = "), std::string::npos);
  EXPECT_NE(dom.out.find("data-test-open=\"3\""), std::string::npos);
  EXPECT_NE(dom.out.find("data-test-reset-hidden=\"0\""), std::string::npos);
  std::vector<std::string> errors = console_errors(dom);
  EXPECT_TRUE(errors.empty()) << "console errors:\n" << errors.front();

  fs::path artifacts = fs::absolute("test-artifacts");
  fs::create_directories(artifacts);
  fs::path png = artifacts / "report.png";
  fs::remove(png);
  BrowserRun shot = run_chromium(chromium, tmp.path(),
                                 "--hide-scrollbars --window-size=1280,2000 --screenshot='" + png.string() + "'",
                                 page);
  EXPECT_EQ(shot.status, 0) << shot.err;
  ASSERT_TRUE(fs::exists(png)) << shot.err;
  std::string bytes = slurp(png);
  ASSERT_GT(bytes.size(), 20000u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  for (const std::string& e : console_errors(shot))
    if (e.find("CONSOLE") != std::string::npos) ADD_FAILURE() << "console error: " << e;
  std::cout << "[ artifact ] " << png.string() << "\n";
  // The rendered page next to it, for a look in a browser.
  std::ofstream(artifacts / "report.html") << html;
}

// A js stack: its headline, chart title and flame box are the app's
// handler (frame 1), not the node:internal frame that allocated.
TEST(HtmlTest, JsStackHeadlinesItsLeakSite) {
  Report r;
  r.host = "web-js";
  r.generated_at = "2026-11-25T16:07:09Z";
  StackEntry s = js_test::js_leak_stack();
  s.history = {{0, 1 << 20, 1000}, {10, 3 << 20, 20000}, {20, 6 << 20, 50000}};
  r.stacks.push_back(s);
  const std::string page = render_html(r);

  // The ranked table's leak site cell.
  EXPECT_NE(page.find("<td class=\"site\"><div class=\"fn\">handler</div><div class=\"loc\" "
                      "title=\"/srv/app/app.js:42:13\">app.js:42:13</div>"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("1 caller, 1 inner frame"), std::string::npos) << page;
  EXPECT_NE(page.find("<li class=\"leak-site\"><code>handler</code>"), std::string::npos) << page;
  EXPECT_NE(page.find("<li><code>push</code> <span class=\"loc\" "
                      "title=\"node:internal/fixed_queue:98:17\">node:internal/fixed_queue:98:17</span></li>"),
            std::string::npos)
      << page;
  EXPECT_EQ(page.find("\u00b7 [js]"), std::string::npos) << "no module for JS frames";
  // The growth chart's title.
  EXPECT_NE(page.find("<code title=\"handler\">handler</code><span class=\"muted\" "
                      "style=\"font-weight:400;font-size:12px\">app.js:42:13</span>"),
            std::string::npos)
      << page;

  // The flame graph: (anonymous) -> handler (the leak site) -> push on top.
  html::FlameNode root = html::build_flame_tree(r);
  ASSERT_EQ(root.children.size(), 1u);
  const html::FlameNode& proc = root.children[0];
  ASSERT_EQ(proc.children.size(), 1u);
  const html::FlameNode& express = proc.children[0];
  EXPECT_EQ(express.name, "(anonymous)");
  EXPECT_FALSE(express.leak_site);
  ASSERT_EQ(express.children.size(), 1u);
  const html::FlameNode& handler = express.children[0];
  EXPECT_EQ(handler.name, "handler");
  EXPECT_TRUE(handler.leak_site);
  ASSERT_EQ(handler.children.size(), 1u);
  EXPECT_EQ(handler.children[0].name, "push");
  EXPECT_FALSE(handler.children[0].leak_site);
  EXPECT_NE(page.find("<g class=\"f site\" data-d=\"3\""), std::string::npos) << "handler's box, level 3";

  // Two anonymous functions in two files are two boxes.
  StackEntry other = s;
  other.frames[2].file = "/srv/app/other.js";
  r.stacks.push_back(other);
  EXPECT_EQ(html::build_flame_tree(r).children[0].children.size(), 2u);
}
