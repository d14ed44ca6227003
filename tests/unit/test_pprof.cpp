// The pprof renderer, checked with the real reader: `go tool pprof`
// (Debian golang-go) must load what we write and show the leak site on top.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "js_stack.h"
#include "report/formats.h"
#include "report/model.h"
#include "report/protobuf_writer.h"

using namespace leakscope;
namespace fs = std::filesystem;

namespace {

const char* const kModule = "/opt/leakscope-pprof-test/svc";       // does not exist, on purpose
const char* const kLibrary = "/opt/leakscope-pprof-test/libfoo.so";  // nor this

Frame frame(std::string function, std::string file, int line, const std::string& module,
            uint64_t address, uint64_t offset) {
  Frame f;
  f.address = address;
  f.function = std::move(function);
  f.file = std::move(file);
  f.line = line;
  f.module = module;
  f.module_offset = offset;
  f.build_id = module == kModule ? "0123456789abcdef0123456789abcdef01234567" : "";
  return f;
}

Frame main_frame() { return frame("main", "/src/svc/main.c", 10, kModule, 0x555555555100, 0x1100); }
Frame handle_request_frame() {
  return frame("handle_request", "/src/svc/server.c", 120, kModule, 0x555555555300, 0x1300);
}

StackEntry entry(int32_t id, int64_t live_bytes, double growth, Verdict verdict,
                 std::vector<Frame> frames) {
  StackEntry s;
  s.pid = 4242;
  s.comm = "svc";
  s.kind = Kind::Heap;
  s.allocator = "malloc";
  s.stack_id = id;
  s.live_bytes = live_bytes;
  s.live_objects = live_bytes / 64;
  // Every stack made half as much again as it holds, and freed it.
  s.allocs = static_cast<uint64_t>(s.live_objects + s.live_objects / 2);
  s.bytes_allocated = static_cast<uint64_t>(live_bytes + live_bytes / 2);
  s.growth_bytes_per_sec = growth;
  s.assessment.verdict = verdict;
  s.frames = std::move(frames);
  return s;
}

Report sample_report() {
  Report r;
  r.tool_version = "9.9.9";
  r.host = "pprof-test-host";
  r.generated_at = "2026-11-25T16:07:09Z";
  r.elapsed_seconds = 30;
  r.final = true;
  // Smaller stacks first: pprof must rank by value, not by our order.
  r.stacks.push_back(entry(2, 64 * 1024, 0, Verdict::Stable,
                           {frame("load_config", "/src/svc/config.c", 7, kModule, 0x555555555200,
                                  0x1200),
                            main_frame()}));
  // Leak site unsymbolized: shown as module+0xoffset.
  r.stacks.push_back(entry(3, 8 * 1024, 12.4, Verdict::Growing,
                           {frame("", "", 0, kLibrary, 0x7f000000beef, 0xbeef),
                            handle_request_frame(), main_frame()}));
  r.stacks.push_back(entry(1, 10 << 20, 4096.6, Verdict::Leak,
                           {frame("cache_put", "/src/svc/cache.c", 42, kModule, 0x555555555400,
                                  0x1400),
                            handle_request_frame(), main_frame()}));
  // Made the most and holds nothing: on top of alloc_space, absent from inuse.
  r.stacks.push_back(entry(4, 0, 0, Verdict::Stable,
                           {frame("process_upload", "/src/svc/upload.c", 31, kModule,
                                  0x555555555500, 0x1500),
                            handle_request_frame(), main_frame()}));
  r.stacks.back().allocs = 10;
  r.stacks.back().bytes_allocated = 320 << 20;
  return r;
}

std::string go_binary() {
  for (const char* candidate : {"/usr/bin/go", "/usr/lib/go/bin/go", "/usr/local/go/bin/go"})
    if (access(candidate, X_OK) == 0) return candidate;
  return {};
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

class PprofTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/leakscope-pprof-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ / "home");
    fs::create_directories(dir_ / "gocache");
    fs::create_directories(dir_ / "gopath");
    fs::create_directories(dir_ / "binaries");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  fs::path write_profile(const std::string& bytes, const std::string& name = "profile.pb.gz") {
    const fs::path path = dir_ / name;
    std::ofstream out(path, std::ios::binary);
    out << bytes;
    return path;
  }

  struct Result {
    int status = -1;
    std::string out;
    std::string err;
  };

  // Runs `go tool pprof ARGS FILE` with a private HOME and Go caches, so it
  // works as root with no home directory.
  Result pprof(const std::string& args, const fs::path& file) {
    Result r;
    const std::string go = go_binary();
    if (go.empty()) {
      ADD_FAILURE() << "go not found: run tools/setup (installs golang-go, which provides "
                       "`go tool pprof`)";
      return r;
    }
    const fs::path out = dir_ / "pprof.out", err = dir_ / "pprof.err";
    const std::string cmd = "env HOME='" + (dir_ / "home").string() + "' GOCACHE='" +
                            (dir_ / "gocache").string() + "' GOPATH='" +
                            (dir_ / "gopath").string() + "' PPROF_TMPDIR='" + dir_.string() +
                            "' PPROF_BINARY_PATH='" + (dir_ / "binaries").string() +
                            "' GOFLAGS= GO111MODULE=off '" + go + "' tool pprof " + args + " '" +
                            file.string() + "' >'" + out.string() + "' 2>'" + err.string() +
                            "' </dev/null";
    const int rc = std::system(cmd.c_str());
    r.status = (rc != -1 && WIFEXITED(rc)) ? WEXITSTATUS(rc) : -1;
    r.out = read_file(out);
    r.err = read_file(err);
    return r;
  }

  // The function of the first row of `pprof -top`, and its flat value.
  static std::pair<std::string, std::string> top_entry(const std::string& output) {
    const auto lines = lines_of(output);
    for (size_t i = 0; i + 1 < lines.size(); ++i) {
      if (lines[i].find("flat%") == std::string::npos) continue;
      // flat flat% sum% cum cum% name (the name may contain spaces).
      std::istringstream row(lines[i + 1]);
      std::vector<std::string> cols;
      for (std::string c; cols.size() < 5 && row >> c;) cols.push_back(c);
      std::string name;
      std::getline(row >> std::ws, name);
      if (cols.size() < 5 || name.empty()) return {};
      return {name, cols.front()};
    }
    return {};
  }

  fs::path dir_;
};

}  // namespace

TEST_F(PprofTest, ProtoWriterEncodesTheWireFormat) {
  std::string v;
  ProtoWriter::append_varint(v, 300);
  EXPECT_EQ(v, std::string("\xAC\x02", 2));
  EXPECT_EQ(ProtoWriter::varint_size(0), 1u);
  EXPECT_EQ(ProtoWriter::varint_size(127), 1u);
  EXPECT_EQ(ProtoWriter::varint_size(128), 2u);
  EXPECT_EQ(ProtoWriter::varint_size(~0ULL), 10u);

  ProtoWriter w;
  w.uint64_field(1, 150);
  EXPECT_EQ(w.data(), std::string("\x08\x96\x01", 3));

  ProtoWriter neg;
  neg.int64_field(2, -1);  // tag + 10 bytes
  ASSERT_EQ(neg.size(), 11u);
  EXPECT_EQ(static_cast<uint8_t>(neg.data()[0]), 0x10);
  EXPECT_EQ(static_cast<uint8_t>(neg.data()[10]), 0x01);

  ProtoWriter s;
  s.bytes_field(2, "testing");
  EXPECT_EQ(s.data(), std::string("\x12\x07testing", 9));

  ProtoWriter packed;
  const std::vector<uint64_t> values = {3, 270, 86942};
  packed.packed_uint64_field(4, values);
  EXPECT_EQ(packed.data(), std::string("\x22\x06\x03\x8E\x02\x9E\xA7\x05", 8));
  ProtoWriter none;
  none.packed_int64_field(4, std::vector<int64_t>{});
  EXPECT_TRUE(none.empty());

  ProtoWriter outer;
  outer.message_field(3, w);
  EXPECT_EQ(outer.data(), std::string("\x1A\x03\x08\x96\x01", 5));
}

TEST_F(PprofTest, IsGzip) {
  const std::string bytes = render_pprof(sample_report());
  ASSERT_GE(bytes.size(), 18u);
  EXPECT_EQ(static_cast<uint8_t>(bytes[0]), 0x1f);
  EXPECT_EQ(static_cast<uint8_t>(bytes[1]), 0x8b);
  EXPECT_EQ(static_cast<uint8_t>(bytes[2]), 0x08);  // deflate
  // Pure: the same report gives the same bytes.
  EXPECT_EQ(bytes, render_pprof(sample_report()));
  // Also reachable through the format dispatcher.
  EXPECT_EQ(render(sample_report(), Format::Pprof, RenderOptions{}), bytes);
}

TEST_F(PprofTest, GoToolPprofShowsTheLeakSiteOnTop) {
  const fs::path file = write_profile(render_pprof(sample_report()));

  // pprof's own heap-profile flags, as for a Go heap profile.
  const Result bytes = pprof("-inuse_space -top", file);
  ASSERT_EQ(bytes.status, 0) << bytes.err << bytes.out;
  EXPECT_NE(bytes.out.find("Type: inuse_space"), std::string::npos) << bytes.out;
  const auto [name, flat] = top_entry(bytes.out);
  EXPECT_EQ(name, "cache_put") << bytes.out;
  EXPECT_EQ(flat, "10MB") << bytes.out;
  EXPECT_EQ(bytes.out.find("process_upload"), std::string::npos)
      << "nothing of it is live\n"
      << bytes.out;

  // Every node, down to the unsymbolized leak site, named by module and offset.
  const Result all = pprof("-top -nodefraction=0", file);
  ASSERT_EQ(all.status, 0) << all.err << all.out;
  EXPECT_NE(all.out.find(std::string(kLibrary) + "+0xbeef"), std::string::npos) << all.out;

  const Result objects = pprof("-inuse_objects -top", file);
  ASSERT_EQ(objects.status, 0) << objects.err << objects.out;
  EXPECT_NE(objects.out.find("Type: inuse_objects"), std::string::npos) << objects.out;
  EXPECT_EQ(top_entry(objects.out).first, "cache_put") << objects.out;
  EXPECT_EQ(top_entry(objects.out).second, "163840") << objects.out;  // (10 MiB) / 64

  const Result growth = pprof("-top -sample_index=growth", file);
  ASSERT_EQ(growth.status, 0) << growth.err << growth.out;
  EXPECT_EQ(top_entry(growth.out).first, "cache_put") << growth.out;

  // The default sample type is inuse_space.
  const Result dflt = pprof("-top", file);
  ASSERT_EQ(dflt.status, 0) << dflt.err << dflt.out;
  EXPECT_NE(dflt.out.find("Type: inuse_space"), std::string::npos) << dflt.out;
}

// alloc_space and alloc_objects: everything a stack made since tracing
// began, freed or not, so a stack that churns memory tops them while
// holding nothing.
TEST_F(PprofTest, GoToolPprofAllocSpaceCountsWhatWasMadeAndFreed) {
  const fs::path file = write_profile(render_pprof(sample_report()));

  const Result space = pprof("-alloc_space -top", file);
  ASSERT_EQ(space.status, 0) << space.err << space.out;
  EXPECT_NE(space.out.find("Type: alloc_space"), std::string::npos) << space.out;
  EXPECT_EQ(top_entry(space.out),
            std::make_pair(std::string("process_upload"), std::string("320MB")))
      << space.out;
  EXPECT_NE(space.out.find("15MB"), std::string::npos) << "cache_put: 10 MiB live of 15 made\n"
                                                       << space.out;

  const Result objects = pprof("-alloc_objects -top", file);
  ASSERT_EQ(objects.status, 0) << objects.err << objects.out;
  EXPECT_NE(objects.out.find("Type: alloc_objects"), std::string::npos) << objects.out;
  EXPECT_EQ(top_entry(objects.out), std::make_pair(std::string("cache_put"), std::string("245760")))
      << objects.out;
}

TEST_F(PprofTest, TracesKeepCallersWithTheLeakSite) {
  const fs::path file = write_profile(render_pprof(sample_report()));
  const Result traces = pprof("-traces -inuse_space", file);
  ASSERT_EQ(traces.status, 0) << traces.err << traces.out;
  // Traces are separated by "-----------+-----" lines; the leak's one lists
  // cache_put, then its callers, leaf first.
  bool found = false;
  std::string block;
  auto check = [&] {
    const auto leaf = block.find("cache_put");
    const auto caller = block.find("handle_request");
    const auto root = block.find("main");
    if (leaf != std::string::npos && caller != std::string::npos && root != std::string::npos &&
        leaf < caller && caller < root)
      found = true;
    block.clear();
  };
  for (const auto& line : lines_of(traces.out)) {
    if (line.find("-----------+") != std::string::npos) {
      check();
      continue;
    }
    block += line + "\n";
  }
  check();
  EXPECT_TRUE(found) << traces.out;
  // Labels travel with each sample.
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"verdict:", "leak"}, {"comm:", "svc"}, {"allocator:", "malloc"}, {"kind:", "heap"},
           {"pid:", "4242"}}) {
    bool seen = false;
    for (const auto& line : lines_of(traces.out))
      seen |= line.find(key) != std::string::npos && line.find(value) != std::string::npos;
    EXPECT_TRUE(seen) << key << " " << value << "\n" << traces.out;
  }
}

TEST_F(PprofTest, RawShowsMetadataAndTables) {
  const fs::path file = write_profile(render_pprof(sample_report()));
  const Result raw = pprof("-raw", file);
  ASSERT_EQ(raw.status, 0) << raw.err << raw.out;
  const std::string& out = raw.out;
  EXPECT_NE(out.find("PeriodType: space bytes"), std::string::npos) << out;
  EXPECT_NE(out.find("Period: 1"), std::string::npos) << out;
  EXPECT_NE(out.find("Duration: 30s"), std::string::npos) << out;
  EXPECT_NE(out.find("inuse_objects/count inuse_space/bytes[dflt] alloc_objects/count "
                     "alloc_space/bytes growth/bytes_per_second"),
            std::string::npos)
      << out;
  // Values in sample_type order; growth rounded.
  EXPECT_NE(out.find("163840   10485760     245760   15728640       4097"), std::string::npos)
      << out;
  EXPECT_NE(out.find("128       8192        192      12288         12"), std::string::npos) << out;
  EXPECT_NE(out.find("pid:[4242]"), std::string::npos) << out;
  EXPECT_NE(out.find("cache_put /src/svc/cache.c:42"), std::string::npos) << out;
  EXPECT_NE(out.find(kModule), std::string::npos) << out;
  EXPECT_NE(out.find("0123456789abcdef0123456789abcdef01234567"), std::string::npos) << out;

  const Result comments = pprof("-comments", file);
  ASSERT_EQ(comments.status, 0) << comments.err << comments.out;
  EXPECT_NE(comments.out.find("leakscope 9.9.9"), std::string::npos) << comments.out;
  EXPECT_NE(comments.out.find("pprof-test-host"), std::string::npos) << comments.out;
}

// Every report carries its own confidence: `pprof -comments` shows the
// health figures of the report, each as a "trust: ..." line.
TEST_F(PprofTest, CommentsCarryTheTrustFigures) {
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
  const Result comments = pprof("-comments", write_profile(render_pprof(r)));
  ASSERT_EQ(comments.status, 0) << comments.err << comments.out;
  const std::vector<std::string> lines = lines_of(comments.out);
  for (const char* figure :
       {"trust: LOSSY: some allocations or events were not accounted for",
        "trust: 1200 allocs, 900 frees (7 of blocks from before attach)",
        "trust: 3 objects dropped (object map full)", "trust: 4 ledger rows dropped (ledger full)",
        "trust: 5 stacks not captured (user stack unreadable)", "trust: 6 calls missed (per-thread state not saved)",
        "trust: 2 syscall events lost (ring buffer full)",
        "trust: 13 children not followed (targets map full)",
        "trust: 14 page-fault events lost (ring buffer full)",
        "trust: 15 page-fault stacks not taken (over the --fault-stacks budget)",
        "trust: 16 pages not booked (page ledger full)",
        "trust: 8 addresses reused with no free seen", "trust: 11 of 90 frames unsymbolized",
        "trust: 12 of 65536 ledger rows in use"}) {
    EXPECT_EQ(std::count(lines.begin(), lines.end(), figure), 1) << figure << "\n" << comments.out;
  }

  const Result lossless = pprof("-comments", write_profile(render_pprof(sample_report()), "ok.pb.gz"));
  ASSERT_EQ(lossless.status, 0) << lossless.err << lossless.out;
  EXPECT_NE(lossless.out.find("trust: lossless\n"), std::string::npos) << lossless.out;
}

TEST_F(PprofTest, EmptyReportIsAValidProfile) {
  Report empty;
  const std::string bytes = render_pprof(empty);
  ASSERT_GE(bytes.size(), 2u);
  EXPECT_EQ(static_cast<uint8_t>(bytes[0]), 0x1f);
  EXPECT_EQ(static_cast<uint8_t>(bytes[1]), 0x8b);
  const fs::path file = write_profile(bytes);
  const Result raw = pprof("-raw", file);
  ASSERT_EQ(raw.status, 0) << raw.err << raw.out;
  EXPECT_NE(raw.out.find("inuse_objects/count inuse_space/bytes[dflt]"), std::string::npos)
      << raw.out;
  const Result top = pprof("-top", file);
  EXPECT_EQ(top.status, 0) << top.err << top.out;
}

TEST_F(PprofTest, StackWithoutFramesStillCounts) {
  Report r;
  r.generated_at = "not a time";  // falls back to now
  r.stacks.push_back(entry(9, 4096, -3.5, Verdict::Shrinking, {}));
  const fs::path file = write_profile(render_pprof(r));
  const Result top = pprof("-top", file);
  ASSERT_EQ(top.status, 0) << top.err << top.out;
  EXPECT_EQ(top_entry(top.out).first, "[no stack]") << top.out;
  const Result raw = pprof("-raw", file);
  ASSERT_EQ(raw.status, 0) << raw.err << raw.out;
  EXPECT_NE(raw.out.find("64       4096         96       6144         -4"), std::string::npos)
      << raw.out;
}

TEST_F(PprofTest, TruncatedStacksEndInATruncatedFrame) {
  Report r;
  r.generated_at = "2026-11-25T16:07:09Z";
  r.stacks.push_back(
      entry(1, 10 << 20, 4096, Verdict::Leak,
            {frame("cache_put", "/src/svc/cache.c", 42, kModule, 0x555555555400, 0x1400),
             handle_request_frame()}));
  r.stacks.back().truncated = true;
  r.stacks.push_back(entry(2, 8192, 0, Verdict::Stable, {}));
  r.stacks.back().truncated = true;                                        // cut at the leak site
  r.stacks.push_back(entry(3, 4096, 0, Verdict::Stable, {}));              // not captured at all
  r.stacks.push_back(entry(4, 2048, 0, Verdict::Stable, {main_frame()}));  // whole
  const fs::path file = write_profile(render_pprof(r));
  const Result traces = pprof("-traces -inuse_space", file);
  ASSERT_EQ(traces.status, 0) << traces.err << traces.out;
  // Each trace, leaf first, as the names of its lines.
  std::vector<std::vector<std::string>> blocks(1);
  for (const auto& line : lines_of(traces.out)) {
    if (line.find("-----------+") != std::string::npos) {
      blocks.emplace_back();
      continue;
    }
    for (const char* name : {"cache_put", "handle_request", "main", "[truncated]", "[no stack]"})
      if (line.find(name) != std::string::npos) blocks.back().push_back(name);
  }
  auto has = [&](std::vector<std::string> want) {
    return std::find(blocks.begin(), blocks.end(), want) != blocks.end();
  };
  EXPECT_TRUE(has({"cache_put", "handle_request", "[truncated]"})) << traces.out;
  EXPECT_TRUE(has({"[truncated]"})) << traces.out;
  EXPECT_TRUE(has({"[no stack]"})) << "a stack not captured is told apart\n" << traces.out;
  EXPECT_TRUE(has({"main"})) << "a whole stack has no such frame\n" << traces.out;
}

// A js stack: each JS frame its own location (all have address 0), named
// function and file with its line; the leak site as a label on the sample.
TEST_F(PprofTest, JsFramesAndTheirLeakSiteLabel) {
  Report r = sample_report();
  r.stacks.push_back(js_test::js_leak_stack());
  const fs::path file = write_profile(render_pprof(r));

  const Result traces = pprof("-traces -inuse_space", file);
  ASSERT_EQ(traces.status, 0) << traces.err << traces.out;
  const std::string& out = traces.out;
  const size_t push = out.find("push");
  const size_t handler = out.find("handler", push);
  const size_t layer = out.find("(anonymous)", handler);
  EXPECT_NE(push, std::string::npos) << out;
  EXPECT_NE(handler, std::string::npos) << "leaf first: push, handler, (anonymous)\n" << out;
  EXPECT_NE(layer, std::string::npos) << out;
  EXPECT_NE(out.find("leak_site:  handler (/srv/app/app.js:42:13)\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("leak_site:", out.find("leak_site:") + 1), std::string::npos)
      << "native stacks: their leaf is their leak site, no label\n"
      << out;
  EXPECT_NE(out.find("kind:  js\n"), std::string::npos) << out;

  const Result raw = pprof("-raw", file);
  ASSERT_EQ(raw.status, 0) << raw.err << raw.out;
  EXPECT_NE(raw.out.find("handler /srv/app/app.js:42"), std::string::npos) << raw.out;
  EXPECT_NE(raw.out.find("push node:internal/fixed_queue:98"), std::string::npos) << raw.out;
  EXPECT_NE(raw.out.find("(anonymous) /srv/app/node_modules/express/lib/router/layer.js:95"),
            std::string::npos)
      << raw.out;
  EXPECT_NE(raw.out.find("leak_site:[handler (/srv/app/app.js:42:13)]"), std::string::npos) << raw.out;
  const size_t mappings = raw.out.find("\nMappings\n");
  ASSERT_NE(mappings, std::string::npos) << raw.out;
  EXPECT_EQ(raw.out.find("[js]", mappings), std::string::npos) << "no mapping for JS frames\n"
                                                               << raw.out;

  // The top entry by live bytes is the innermost frame (pprof's own rule);
  // the label says where the leak is.
  const Result top = pprof("-top -inuse_space -tagfocus=kind=js", file);
  ASSERT_EQ(top.status, 0) << top.err << top.out;
  EXPECT_EQ(top_entry(top.out).first, "push") << top.out;

  // V8's sampling profile names what is live only: the js sample's alloc
  // figures are its live ones (a lower bound), not its count of samples.
  const Result alloc = pprof("-alloc_space -top -tagfocus=kind=js", file);
  ASSERT_EQ(alloc.status, 0) << alloc.err << alloc.out;
  EXPECT_EQ(top_entry(alloc.out), std::make_pair(std::string("push"), std::string("6MB")))
      << alloc.out;
  const Result alloc_objects = pprof("-alloc_objects -top -tagfocus=kind=js", file);
  ASSERT_EQ(alloc_objects.status, 0) << alloc_objects.err << alloc_objects.out;
  EXPECT_EQ(top_entry(alloc_objects.out).second, "50000") << alloc_objects.out;
}
