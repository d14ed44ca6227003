#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "js_stack.h"
#include "report/formats.h"
#include "report/model.h"

using namespace leakscope;

namespace {

Frame fn(std::string function, uint64_t offset = 0x1000) {
  Frame f;
  f.address = 0x400000 + offset;
  f.function = std::move(function);
  f.file = "/src/svc.cc";
  f.line = 12;
  f.module = "/usr/bin/svc";
  f.module_offset = offset;
  return f;
}

Frame unknown(std::string module, uint64_t offset) {
  Frame f;
  f.address = 0x7f0000000000 + offset;
  f.module = std::move(module);
  f.module_offset = offset;
  return f;
}

// frames leaf first, as in the report.
StackEntry stack(pid_t pid, std::string comm, Kind kind, int64_t live, std::vector<Frame> frames) {
  StackEntry s;
  s.pid = pid;
  s.comm = std::move(comm);
  s.kind = kind;
  s.allocator = "malloc";
  s.stack_id = static_cast<int32_t>(live % 1000);
  s.live_bytes = live;
  s.live_objects = live / 16;
  s.frames = std::move(frames);
  return s;
}

void set_rate(StackEntry& s, double rate, std::string_view unit = "bytes/s") {
  s.assessment.verdict = Verdict::Leak;
  s.assessment.confidence = 0.9;
  s.assessment.evidence.rate = rate;
  s.assessment.evidence.unit = unit;
  s.assessment.evidence.samples = 60;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// How each tool reads a line; a line neither matches is skipped.
//   flamegraph.pl: my ($stack, $samples) = (/^(.*)\s+?(\d+(?:\.\d*)?)$/);
//                  unless (defined $samples ...) { ++$ignored; next; }
//   speedscope (src/import/bg-flamegraph.ts): /^(.*) (\d+)$/, `if (!match) continue`
bool flamegraph_pl_reads(const std::string& line) {
  static const std::regex kFlamegraph(R"(^(.*)\s+?(\d+(?:\.\d*)?)$)");
  return std::regex_match(line, kFlamegraph);
}
bool speedscope_reads(const std::string& line) {
  static const std::regex kSpeedscope(R"(^(.*) (\d+)$)");
  return std::regex_match(line, kSpeedscope);
}

// What flamegraph.pl and speedscope accept: "frame;frame;... N", no empty
// frame; and a first "# leakscope trust: ..." line that both skip.
void expect_parseable(const std::string& text) {
  static const std::regex kLine(R"(^([^;\n]+(;[^;\n]+)*) ([0-9]+)$)");
  const std::vector<std::string> lines = lines_of(text);
  ASSERT_FALSE(lines.empty());
  EXPECT_TRUE(lines[0].starts_with("# leakscope trust: ")) << lines[0];
  EXPECT_FALSE(flamegraph_pl_reads(lines[0])) << lines[0];
  EXPECT_FALSE(speedscope_reads(lines[0])) << lines[0];
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    EXPECT_TRUE(std::regex_match(line, kLine)) << line;
    EXPECT_TRUE(flamegraph_pl_reads(line) && speedscope_reads(line)) << line;
    EXPECT_EQ(line.find('\t'), std::string::npos) << line;
    EXPECT_EQ(line.find('\r'), std::string::npos) << line;
  }
  EXPECT_EQ(text.back(), '\n');
}

// The stack lines of a folded report, without its first (trust) line.
std::string stacks_of(const std::string& folded) {
  EXPECT_TRUE(folded.starts_with("# leakscope trust: ")) << folded;
  const size_t nl = folded.find('\n');
  return nl == std::string::npos ? std::string() : folded.substr(nl + 1);
}

Report sample_report() {
  Report r;
  r.stacks.push_back(stack(7, "svc", Kind::Heap, 4096,
                           {fn("remember_client"), fn("handle_request"), fn("main")}));
  r.stacks.push_back(stack(7, "svc", Kind::Heap, 100,
                           {fn("std::vector<int, std::allocator<int> >::push_back(int const&)"),
                            fn("cache_put(Cache&, int)"), fn("main")}));
  r.stacks.push_back(
      stack(42, "db", Kind::Mmap, 1 << 20, {unknown("/usr/lib/libdb.so", 0xbeef), fn("main")}));
  return r;
}

}  // namespace

TEST(FoldedTest, LiveBytesRootFirstWithProcessAndKindFrames) {
  const std::string folded = render_folded(sample_report(), FoldedWeight::LiveBytes);
  EXPECT_EQ(stacks_of(folded),
            "db (42);mmap;main;/usr/lib/libdb.so+0xbeef 1048576\n"
            "svc (7);heap;main;cache_put(Cache&, int);"
            "std::vector<int, std::allocator<int> >::push_back(int const&) 100\n"
            "svc (7);heap;main;handle_request;remember_client 4096\n");
  expect_parseable(folded);
}

TEST(FoldedTest, RenderDispatchesOnFormatAndWeight) {
  Report r = sample_report();
  RenderOptions options;
  EXPECT_EQ(render(r, Format::Folded, options), render_folded(r, FoldedWeight::LiveBytes));
  options.weight = FoldedWeight::Growth;
  EXPECT_EQ(render(r, Format::Folded, options), render_folded(r, FoldedWeight::Growth));
}

TEST(FoldedTest, StacksWithoutLiveBytesAreLeftOut) {
  Report r;
  r.stacks.push_back(stack(1, "a", Kind::Heap, 0, {fn("zero")}));
  r.stacks.push_back(stack(1, "a", Kind::Heap, -64, {fn("negative")}));
  r.stacks.push_back(stack(1, "a", Kind::Heap, 64, {fn("kept")}));
  EXPECT_EQ(stacks_of(render_folded(r, FoldedWeight::LiveBytes)), "a (1);heap;kept 64\n");
}

TEST(FoldedTest, GrowthUsesDetectorRateRoundedAndFallsBack) {
  Report r;
  // The detector's rate in bytes/s wins over the run's least-squares growth.
  StackEntry leak = stack(7, "svc", Kind::Heap, 4096, {fn("leak_site"), fn("main")});
  set_rate(leak, 1500.6);
  leak.growth_bytes_per_sec = 99999;
  r.stacks.push_back(leak);
  // No detector rate yet: the run's growth.
  StackEntry young = stack(7, "svc", Kind::Heap, 4096, {fn("young"), fn("main")});
  young.growth_bytes_per_sec = 300.4;
  r.stacks.push_back(young);
  // timerfd is judged in objects/s: bytes/s come from the run's growth.
  StackEntry timers = stack(7, "svc", Kind::Timerfd, 512, {fn("arm_timer"), fn("main")});
  set_rate(timers, 2.5, "objects/s");
  timers.growth_bytes_per_sec = 63.5;
  r.stacks.push_back(timers);
  // Shrinking, flat, or rounding to nothing: left out.
  StackEntry shrinking = stack(7, "svc", Kind::Heap, 4096, {fn("shrinking")});
  set_rate(shrinking, -800);
  shrinking.growth_bytes_per_sec = 500;  // the detector's judgement counts
  r.stacks.push_back(shrinking);
  StackEntry flat = stack(7, "svc", Kind::Heap, 4096, {fn("flat")});
  r.stacks.push_back(flat);
  StackEntry tiny = stack(7, "svc", Kind::Heap, 4096, {fn("tiny")});
  set_rate(tiny, 0.4);
  r.stacks.push_back(tiny);

  const std::string folded = render_folded(r, FoldedWeight::Growth);
  EXPECT_EQ(stacks_of(folded),
            "svc (7);heap;main;leak_site 1501\n"
            "svc (7);heap;main;young 300\n"
            "svc (7);timerfd;main;arm_timer 64\n");
  expect_parseable(folded);
}

TEST(FoldedTest, SanitizesSeparatorsAndLineBreaks) {
  Report r;
  r.stacks.push_back(stack(9, "we;ird\tcomm", Kind::Heap, 10,
                           {fn("f(int; char)\nsecond\r\nline"), fn("tab\there"), fn("worker2")}));
  const std::string folded = render_folded(r, FoldedWeight::LiveBytes);
  EXPECT_EQ(stacks_of(folded), "we:ird comm (9);heap;worker2;tab here;f(int: char) second  line 10\n");
  expect_parseable(folded);
}

TEST(FoldedTest, UnknownCommAndFramelessStacks) {
  Report r;
  r.stacks.push_back(stack(5, "", Kind::Brk, 8192, {}));
  r.stacks.push_back(stack(5, "", Kind::Heap, 16, {unknown("", 0x10)}));
  const std::string folded = render_folded(r, FoldedWeight::LiveBytes);
  EXPECT_EQ(stacks_of(folded),
            "[unknown] (5);brk 8192\n"
            "[unknown] (5);heap;[unknown]+0x10 16\n");
  expect_parseable(folded);
}

TEST(FoldedTest, IdenticalLinesAfterSanitizingAreMerged) {
  Report r;
  // Different stack ids (other return addresses), same function names.
  r.stacks.push_back(stack(7, "svc", Kind::Heap, 100, {fn("put", 0x10), fn("main", 0x20)}));
  r.stacks.push_back(stack(7, "svc", Kind::Heap, 23, {fn("put", 0x11), fn("main", 0x21)}));
  // Differs only in a character the format cannot carry.
  r.stacks.push_back(stack(7, "svc", Kind::Heap, 5, {fn("a;b"), fn("main")}));
  r.stacks.push_back(stack(7, "svc", Kind::Heap, 6, {fn("a:b"), fn("main")}));
  // Same frames, another process or kind: not merged.
  r.stacks.push_back(stack(8, "svc", Kind::Heap, 1, {fn("put"), fn("main")}));
  r.stacks.push_back(stack(7, "svc", Kind::Mmap, 2, {fn("put"), fn("main")}));
  const std::string folded = render_folded(r, FoldedWeight::LiveBytes);
  EXPECT_EQ(stacks_of(folded),
            "svc (7);heap;main;a:b 11\n"
            "svc (7);heap;main;put 123\n"
            "svc (7);mmap;main;put 2\n"
            "svc (8);heap;main;put 1\n");
  expect_parseable(folded);

  for (StackEntry& s : r.stacks) set_rate(s, 10.25);
  EXPECT_EQ(stacks_of(render_folded(r, FoldedWeight::Growth)),
            "svc (7);heap;main;a:b 20\n"
            "svc (7);heap;main;put 20\n"
            "svc (7);mmap;main;put 10\n"
            "svc (8);heap;main;put 10\n");
}

TEST(FoldedTest, OutputDoesNotDependOnStackOrder) {
  Report a = sample_report();
  Report b = a;
  std::reverse(b.stacks.begin(), b.stacks.end());
  EXPECT_EQ(render_folded(a, FoldedWeight::LiveBytes), render_folded(b, FoldedWeight::LiveBytes));
}

TEST(FoldedTest, EmptyReportHasOnlyItsTrustLine) {
  Report r;
  EXPECT_EQ(stacks_of(render_folded(r, FoldedWeight::LiveBytes)), "");
  EXPECT_EQ(stacks_of(render_folded(r, FoldedWeight::Growth)), "");
  expect_parseable(render_folded(r, FoldedWeight::LiveBytes));
  // Stacks with no growth at all: nothing to draw either.
  r = sample_report();
  EXPECT_EQ(stacks_of(render_folded(r, FoldedWeight::Growth)), "");
}

// Every report carries its own confidence: folded's first line holds the
// health figures, in a form flamegraph.pl and speedscope skip.
TEST(FoldedTest, FirstLineCarriesTheTrustFigures) {
  Report r = sample_report();
  r.health.allocs = 1200;
  r.health.frees = 900;
  r.health.frees_unknown = 7;
  r.health.dropped_objects = 3;
  r.health.dropped_ledger = 4;
  r.health.stacks_unreadable = 5;
  r.health.inflight_drops = 6;
  r.health.events_lost = 2;
  r.health.children_not_followed = 13;
  r.health.fault_events_lost = 14;
  r.health.fault_stacks_over_budget = 15;
  r.health.fault_pages_dropped = 16;
  r.health.stale_replaced = 8;
  r.health.unknown_frames = 11;
  r.health.total_frames = 90;
  r.health.ledger_rows = 12;
  r.health.ledger_capacity = 65536;
  const std::string folded = render_folded(r, FoldedWeight::LiveBytes);
  expect_parseable(folded);
  const std::string first = lines_of(folded)[0];
  for (const char* figure :
       {"LOSSY", "1200 allocs, 900 frees (7 of blocks from before attach)",
        "3 objects dropped (object map full)", "4 ledger rows dropped (ledger full)",
        "5 stacks not captured (user stack unreadable)", "6 calls missed", "2 syscall events lost",
        "13 children not followed (targets map full)",
        "14 page-fault events lost (ring buffer full)",
        "15 page-fault stacks not taken (over the --fault-stacks budget)",
        "16 pages not booked (page ledger full)", "8 addresses reused with no free seen",
        "11 of 90 frames unsymbolized", "12 of 65536 ledger rows in use"}) {
    EXPECT_NE(first.find(figure), std::string::npos) << figure << "\n" << first;
  }
  // The stacks are unchanged by it.
  EXPECT_EQ(stacks_of(folded), stacks_of(render_folded(sample_report(), FoldedWeight::LiveBytes)));
  EXPECT_NE(lines_of(render_folded(sample_report(), FoldedWeight::LiveBytes))[0].find("lossless"),
            std::string::npos);
}

TEST(FoldedTest, TruncatedStacksStartAtAnUnknownCallersFrame) {
  Report r;
  // The same two frames, once whole and once cut: they must not merge, or
  // the cut one would read as if main called handle_request.
  r.stacks.push_back(stack(7, "svc", Kind::Heap, 4096, {fn("remember_client"), fn("main")}));
  r.stacks.push_back(stack(7, "svc", Kind::Heap, 100, {fn("remember_client"), fn("main")}));
  r.stacks.back().truncated = true;
  r.stacks.push_back(stack(7, "svc", Kind::Fault, 8192, {}));
  r.stacks.back().truncated = true;  // cut at its first frame
  const std::string folded = render_folded(r, FoldedWeight::LiveBytes);
  EXPECT_EQ(stacks_of(folded),
            "svc (7);fault;[...] 8192\n"
            "svc (7);heap;[...];main;remember_client 100\n"
            "svc (7);heap;main;remember_client 4096\n");
  expect_parseable(folded);
}

// JS frames: "function (file:line)", short file, no column; two anonymous
// functions in two files stay two frames; a file from the target cannot
// break the line.
TEST(FoldedTest, JsFramesNamedWithTheirFileAndLine) {
  Report r;
  r.stacks.push_back(js_test::js_leak_stack());
  const std::string folded = render_folded(r, FoldedWeight::LiveBytes);
  EXPECT_EQ(stacks_of(folded),
            "node (3131);js;(anonymous) (layer.js:95);handler (app.js:42);"
            "push (node:internal/fixed_queue:98) 6291456\n");
  expect_parseable(folded);

  r.stacks[0].frames[2].file = "file:///srv/app/we;ird\nname.mjs";
  EXPECT_EQ(stacks_of(render_folded(r, FoldedWeight::LiveBytes)),
            "node (3131);js;(anonymous) (we:ird name.mjs:95);handler (app.js:42);"
            "push (node:internal/fixed_queue:98) 6291456\n");
}
