// Heap tracing end to end: real BPF, real kernel, fixture programs.
#include <dirent.h>
#include <elf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <regex>
#include <set>
#include <thread>

#include "harness.h"

using namespace e2e;
using nlohmann::json;

namespace {

std::vector<std::string> trace_args(const std::vector<pid_t>& pids, const std::string& json_path) {
  std::vector<std::string> args = {"trace", "--tick", "200ms", "--interval", "1s", "--json", json_path};
  for (pid_t p : pids) args.insert(args.end(), {"-p", std::to_string(p)});
  return args;
}

// Lets at least two ticks see the fixture's final state.
void settle() { std::this_thread::sleep_for(std::chrono::milliseconds(600)); }

std::string json_path_for(const std::string& what) {
  return "/tmp/leakscope-e2e-" + what + "-" + std::to_string(::getpid()) + ".json";
}

struct Traced {
  json report;
  std::map<std::string, Expect> expects;
  std::string text;
  std::string log;                     // leakscope's stderr
  std::vector<std::string> lines;      // the fixture's other lines
  std::vector<std::string> leftovers;  // BPF objects of ours left after leakscope exited
};

// Attaches to a fixture, lets it do its work, stops leakscope with SIGINT.
// FIXTURE_ARGS: the fixture's own arguments (or, for a fixture that is a
// program of the system, the command it runs).
Traced trace_fixture(const std::string& fixture, const std::vector<std::string>& extra = {},
                     const std::vector<std::string>& fixture_args = {}) {
  Fixture fx(fixture, fixture_args);
  std::string path = json_path_for(fixture.substr(fixture.rfind('/') + 1));
  std::vector<std::string> args = trace_args({fx.pid()}, path);
  args.insert(args.end(), extra.begin(), extra.end());
  Leakscope ls(args);
  EXPECT_TRUE(ls.wait_tracing()) << ls.err();
  fx.go();
  Traced t;
  t.expects = fx.wait_done();
  t.lines = fx.lines();
  settle();
  EXPECT_EQ(ls.stop(), 0) << ls.err();
  EXPECT_TRUE(fx.running()) << "the traced process must keep running after leakscope exits";
  t.leftovers = ls.leftover_bpf_objects();
  t.text = ls.out();
  t.log = ls.err();
  t.report = take_json(path);
  EXPECT_TRUE(t.report.is_object()) << "no JSON report; stderr: " << ls.err();
  fx.finish();
  return t;
}

// Every expect line of the fixture holds in the report, to the byte.
void expect_matches(const Traced& t) {
  ASSERT_FALSE(t.expects.empty());
  for (const auto& [function, e] : t.expects) {
    const json* s = find_stack(t.report, function);
    if (e.objects == 0) {
      EXPECT_EQ(s, nullptr) << function << " should have nothing live\n" << t.text;
      continue;
    }
    ASSERT_NE(s, nullptr) << "no stack with leak site " << function << "\n" << t.text;
    EXPECT_EQ((*s)["live_bytes"].get<long long>(), e.bytes) << function;
    EXPECT_EQ((*s)["live_objects"].get<long long>(), e.objects) << function;
    EXPECT_EQ((*s)["kind"], "heap");
  }
}

}  // namespace

TEST(HeapE2E, LeakNamesCachePutFirstWithLiveBytesOfTheLeak) {
  Traced t = trace_fixture("leaky");
  const Expect& e = t.expects.at("cache_put");
  ASSERT_TRUE(t.report["stacks"].is_array() && !t.report["stacks"].empty()) << t.text;
  const json& top = t.report["stacks"][0];
  ASSERT_GE(top["frames"].size(), 3u);
  EXPECT_EQ(top["frames"][0]["function"], "cache_put") << t.text;
  EXPECT_EQ(top["frames"][1]["function"], "handle_request");
  EXPECT_EQ(top["frames"][2]["function"], "main");
  EXPECT_NE(top["frames"][0]["file"].get<std::string>().find("leaky.c"), std::string::npos);
  EXPECT_GT(top["frames"][0]["line"].get<int>(), 0);
  EXPECT_NE(top["frames"][0]["module"].get<std::string>().find("fixture_leaky"), std::string::npos);
  double live = top["live_bytes"].get<double>();
  EXPECT_NEAR(live, static_cast<double>(e.bytes), 0.10 * static_cast<double>(e.bytes));
  EXPECT_EQ(top["kind"], "heap");
  EXPECT_EQ(top["allocator"], "malloc");
  EXPECT_EQ(top["comm"], "fixture_leaky");
  EXPECT_GT(top["growth_bytes_per_sec"].get<double>(), 0);
  EXPECT_EQ(t.report["schema_version"], 1);
  // The text report names the leak site too.
  EXPECT_NE(t.text.find("cache_put"), std::string::npos);
  EXPECT_EQ(t.leftovers, std::vector<std::string>{}) << "BPF programs or links left in the kernel";
}

TEST(HeapE2E, BalancedAllocationShowsNoGrowingStack) {
  Traced t = trace_fixture("balanced");
  expect_matches(t);
  for (const auto& s : t.report["stacks"]) {
    EXPECT_LT(s["live_bytes"].get<long long>(), 64 * 1024) << s.dump();
  }
  // It did trace the traffic: 2000 allocations, all freed.
  EXPECT_GE(t.report["health"]["allocs"].get<long long>(), 2000);
  EXPECT_GE(t.report["health"]["frees"].get<long long>(), 2000);
}

TEST(HeapE2E, EveryAllocatorFunctionAndReallocSemantics) {
  Traced t = trace_fixture("allocators");
  expect_matches(t);
}

// Both ways of linking the allocator probes count every allocator function
// to the byte and leave nothing in the kernel: one uprobe_multi link per
// program and file (the default on this kernel), and one perf-event link per
// probe (kernels before 6.6, or --uprobe-links per-probe).
TEST(HeapE2E, BothWaysOfLinkingTheProbesCountTheSame) {
  for (const std::string links : {"auto", "per-probe"}) {
    SCOPED_TRACE("--uprobe-links " + links);
    Traced t = trace_fixture("allocators", {"--uprobe-links", links, "-v"});
    expect_matches(t);
    const std::string said = links == "auto" ? "allocator uprobes: uprobe_multi links, one per program and file"
                                             : "allocator uprobes: one perf-event link per probe";
    EXPECT_NE(t.log.find(said), std::string::npos) << t.log;
    EXPECT_EQ(t.leftovers, std::vector<std::string>{}) << "BPF programs or links left in the kernel";
  }
}

TEST(HeapE2E, CxxOperatorNewNamesTheDemangledCaller) {
  Traced t = trace_fixture("cxx_new");
  expect_matches(t);
  bool saw_new = false;
  for (const auto& s : t.report["stacks"]) saw_new |= s["allocator"] == "operator new";
  EXPECT_TRUE(saw_new);
}

TEST(HeapE2E, LeakInsideLibraryDlopenedAfterAttach) {
  Traced t = trace_fixture("dlopen_host");
  expect_matches(t);
  const json* s = find_stack(t.report, "plugin_store");
  ASSERT_NE(s, nullptr);
  EXPECT_NE((*s)["frames"][0]["module"].get<std::string>().find("libleakplugin.so"),
            std::string::npos);
}

TEST(HeapE2E, AllocatedInOneThreadFreedInAnotherIsNotALeak) {
  Traced t = trace_fixture("threads");
  expect_matches(t);
}

// Blocks allocated before leakscope attached and freed after: their frees
// match nothing in the ledger, are counted as unknown, and take no stack
// below zero.
TEST(HeapE2E, FreesOfBlocksAllocatedBeforeAttachAreIgnored) {
  Traced t = trace_fixture("early_frees");
  expect_matches(t);  // what was allocated after attach is exact
  long long freed_early = 0;
  for (const auto& l : t.lines)
    if (l.rfind("freed_early ", 0) == 0) freed_early = std::stoll(l.substr(12));
  ASSERT_GT(freed_early, 0);
  for (const auto& s : t.report["stacks"]) {
    EXPECT_GE(s["live_bytes"].get<long long>(), 0) << s.dump();
    EXPECT_GE(s["live_objects"].get<long long>(), 0) << s.dump();
  }
  EXPECT_GE(t.report["health"]["frees_unknown"].get<long long>(), freed_early)
      << t.report["health"].dump();
}

// A non-PIE executable (loaded at its link address, no load bias) is
// symbolized like a PIE one.
TEST(HeapE2E, NonPieExecutableIsSymbolized) {
  Elf64_Ehdr ehdr{};
  std::ifstream elf(fixture_path("leaky_nopie"), std::ios::binary);
  ASSERT_TRUE(elf.read(reinterpret_cast<char*>(&ehdr), sizeof ehdr));
  ASSERT_EQ(ehdr.e_type, ET_EXEC) << "the fixture was built as PIE";
  Traced t = trace_fixture("leaky_nopie");
  const json* s = find_stack(t.report, "cache_put");
  ASSERT_NE(s, nullptr) << t.text;
  const json& frames = (*s)["frames"];
  ASSERT_GE(frames.size(), 3u);
  EXPECT_NE(frames[0]["file"].get<std::string>().find("leaky.c"), std::string::npos) << t.text;
  EXPECT_GT(frames[0]["line"].get<int>(), 0);
  EXPECT_NE(frames[0]["module"].get<std::string>().find("fixture_leaky_nopie"), std::string::npos);
  EXPECT_EQ(frames[1]["function"], "handle_request");
  EXPECT_EQ(frames[2]["function"], "main");
  EXPECT_EQ((*s)["live_bytes"].get<long long>(), t.expects.at("cache_put").bytes);
}

TEST(HeapE2E, CommandModeTracesFromTheFirstAllocation) {
  std::string path = json_path_for("cmd");
  Leakscope ls({"trace", "--tick", "100ms", "--interval", "1s", "--json", path, "--",
                fixture_path("leaky"), "--auto"});
  ASSERT_EQ(ls.wait(60), 0) << ls.err();
  json report = take_json(path);
  ASSERT_TRUE(report.is_object()) << ls.err();
  const json* s = find_stack(report, "cache_put");
  ASSERT_NE(s, nullptr) << ls.out();
  EXPECT_EQ((*s)["live_bytes"], 2000 * 1024);
  EXPECT_EQ((*s)["live_objects"], 2000);
  EXPECT_TRUE(report["processes"][0]["exited"].get<bool>());
  EXPECT_NE(ls.err().find("every traced process has exited"), std::string::npos);
  EXPECT_EQ(ls.leftover_bpf_objects(), std::vector<std::string>{});
}

TEST(HeapE2E, SeveralPidsAtOnce) {
  Fixture a("leaky"), b("leaky");
  std::string path = json_path_for("multi");
  Leakscope ls({"trace", "-p", std::to_string(a.pid()) + "," + std::to_string(b.pid()), "--tick",
                "200ms", "--json", path});
  ASSERT_TRUE(ls.wait_tracing()) << ls.err();
  a.go();
  b.go();
  a.wait_done();
  b.wait_done();
  settle();
  ASSERT_EQ(ls.stop(), 0) << ls.err();
  json report = take_json(path);
  EXPECT_EQ(report["processes"].size(), 2u);
  for (pid_t pid : {a.pid(), b.pid()}) {
    const json* s = find_stack(report, "cache_put", pid);
    ASSERT_NE(s, nullptr) << "pid " << pid << "\n" << ls.out();
    EXPECT_EQ((*s)["live_bytes"], 2000 * 1024);
  }
  EXPECT_TRUE(a.running());
  EXPECT_TRUE(b.running());
  EXPECT_EQ(ls.leftover_bpf_objects(), std::vector<std::string>{});
}

TEST(HeapE2E, TargetExitingMidTraceStillGetsItsFinalReport) {
  Fixture fx("short_lived");
  pid_t pid = fx.pid();
  std::string path = json_path_for("exit");
  Leakscope ls({"trace", "-p", std::to_string(pid), "--tick", "100ms", "--json", path});
  ASSERT_TRUE(ls.wait_tracing()) << ls.err();
  fx.go();
  auto expects = fx.wait_done();
  // leakscope notices the exit and ends by itself.
  ASSERT_EQ(ls.wait(30), 0) << ls.err();
  json report = take_json(path);
  ASSERT_TRUE(report.is_object());
  EXPECT_TRUE(report["processes"][0]["exited"].get<bool>());
  const json* s = find_stack(report, "leak_then_exit");
  ASSERT_NE(s, nullptr) << ls.out();
  EXPECT_EQ((*s)["live_bytes"], expects.at("leak_then_exit").bytes);
  EXPECT_EQ((*s)["frames"][0]["file"].get<std::string>().find("short_lived.c") != std::string::npos,
            true);
  EXPECT_EQ(ls.leftover_bpf_objects(), std::vector<std::string>{});
}

TEST(HeapE2E, FullObjectMapIsCountedAndShownNotHidden) {
  Fixture fx("leaky");
  std::string path = json_path_for("full");
  Leakscope ls({"trace", "-p", std::to_string(fx.pid()), "--tick", "200ms", "--max-objects",
                "1024", "--json", path});
  ASSERT_TRUE(ls.wait_tracing()) << ls.err();
  fx.go();
  fx.wait_done();
  settle();
  ASSERT_EQ(ls.stop(), 0) << ls.err();
  EXPECT_TRUE(fx.running());
  json report = take_json(path);
  ASSERT_TRUE(report.is_object());
  // 2000 leaked blocks in one burst do not fit in 1024 entries: what did not
  // fit is counted as lost, and from the tick that saw the map full on, the
  // heap kind keeps 1 in 2 new blocks (issue 15), which the report says.
  EXPECT_FALSE(report["health"]["lossless"].get<bool>());
  EXPECT_GT(report["health"]["dropped_objects"].get<long long>(), 0);
  ASSERT_FALSE(report["heap_sampling"]["steps"].empty()) << report["heap_sampling"].dump();
  EXPECT_GE(report["heap_sampling"]["steps"][0]["objects_map_fill"].get<double>(), 0.75);
  EXPECT_GE(report["heap_sampling"]["keep_one_in"].get<long long>(), 2);
  const json* s = find_stack(report, "cache_put");
  ASSERT_NE(s, nullptr);
  EXPECT_LE((*s)["live_objects"].get<long long>(), 1024);
  EXPECT_NE(ls.out().find("LOST"), std::string::npos) << ls.out();
  EXPECT_NE(ls.out().find("Heap sampled: the objects map was"), std::string::npos) << ls.out();
}

TEST(HeapE2E, SamplingEstimatesTheLeakWithinItsErrorBars) {
  Traced t = trace_fixture("leaky", {"--sample", "4"});
  EXPECT_EQ(t.report["sample_every"], 4);
  const Expect& truth = t.expects.at("cache_put");
  const json* s = find_stack(t.report, "cache_put");
  ASSERT_NE(s, nullptr) << t.text;
  double estimate = (*s)["live_bytes"].get<double>();
  double error = (*s)["estimate_error"].get<double>();
  EXPECT_GT(error, 0);
  EXPECT_LT(error, 0.25);  // ~500 of 2000 blocks counted: about +-9%
  // The 95% interval holds the truth (with a margin: one run, one draw).
  EXPECT_NEAR(estimate, double(truth.bytes), 1.5 * error * double(truth.bytes)) << t.text;
  // Roughly a quarter of the calls were accounted.
  long long allocs = t.report["health"]["allocs"].get<long long>();
  EXPECT_GT(allocs, 2000 / 8);
  EXPECT_LT(allocs, 2000 / 2);
}

TEST(HeapE2E, SamplingKeepsPairsSoBalancedTrafficStaysFlat) {
  Traced t = trace_fixture("balanced", {"--sample", "3"});
  for (const auto& s : t.report["stacks"]) {
    EXPECT_LT(s["live_bytes"].get<long long>(), 64 * 1024) << s.dump();
  }
  // Frees of blocks left out are left out too, not counted as unknown; every
  // block let in had its free let in. (Which blocks are in depends on their
  // addresses: a loop that reuses one block is all in or all out.)
  const json& h = t.report["health"];
  EXPECT_LT(h["frees_unknown"].get<long long>(), 50);
  EXPECT_LE(h["allocs"].get<long long>() - h["frees"].get<long long>(), 16) << h.dump();
}

// The semantics the glibc allocators fixture checks, for every allocator
// family through its own API (tests/fixtures/family_leaks.cpp): leaks by
// the family's malloc, calloc and pointer-out functions, a moving and an
// in-place resize, a failed calloc that counts nothing, frees through the
// family's sized and plain free, and new/delete in every variant (sized,
// array, aligned) counted once each: a delete seen twice would leave
// thousands of unknown frees.
struct FamilyCase {
  std::string fixture;
  std::string allocators;  // what the report's process says, in part
  std::string alloc_fn;    // the function named for family_alloc's leak
  std::string resize_fn;   // ... and for family_grow's
  bool cxx = true;         // new/delete are the family's
};

void PrintTo(const FamilyCase& c, std::ostream* os) { *os << c.fixture; }

class AllocatorFamilyE2E : public ::testing::TestWithParam<FamilyCase> {};

TEST_P(AllocatorFamilyE2E, ItsOwnApiLeaksAreNamedAndItsFreesCountedOnce) {
  const FamilyCase& c = GetParam();
  ASSERT_EQ(::access(fixture_path(c.fixture).c_str(), X_OK), 0)
      << fixture_path(c.fixture) << " was not built: its allocator is missing (run tools/setup)";
  Traced t = trace_fixture(c.fixture);
  expect_matches(t);
  ASSERT_EQ(t.report["processes"].size(), 1u);
  const std::string allocators = t.report["processes"][0]["allocators"].get<std::string>();
  EXPECT_NE(allocators.find(c.allocators), std::string::npos) << allocators;
  EXPECT_NE(allocators.find(" serves malloc"), std::string::npos) << allocators;
  const json* alloc = find_stack(t.report, "family_alloc");
  ASSERT_NE(alloc, nullptr) << t.text;
  EXPECT_EQ((*alloc)["allocator"], c.alloc_fn);
  EXPECT_TRUE(has_chain(*alloc, {"family_alloc", "main"}));
  const json* grow = find_stack(t.report, "family_grow");
  ASSERT_NE(grow, nullptr) << t.text;
  EXPECT_EQ((*grow)["allocator"], c.resize_fn);
  if (c.cxx) {
    for (const char* function : {"family_new", "family_new_aligned"}) {
      const json* created = find_stack(t.report, function);
      ASSERT_NE(created, nullptr) << function << "\n" << t.text;
      EXPECT_EQ((*created)["allocator"], "operator new");
    }
  }
  // Every free was seen, once: 200 through the family's frees, and 2000
  // deletes. What the fixture freed of its start-up (stdio) is little.
  const json& h = t.report["health"];
  EXPECT_GE(h["frees"].get<long long>(), c.cxx ? 2200 : 200) << h.dump();
  EXPECT_LT(h["frees_unknown"].get<long long>(), 50) << h.dump();
}

INSTANTIATE_TEST_SUITE_P(
    Families, AllocatorFamilyE2E,
    ::testing::Values(
        FamilyCase{"family_glibc", "malloc in libc.so.6 serves malloc", "malloc", "realloc"},
        FamilyCase{"family_jemalloc", "jemalloc in libjemalloc.so.2 serves malloc", "mallocx", "rallocx"},
        // tcmalloc's tc_malloc and mimalloc's mi_malloc are their malloc.
        // (The maps name the libraries' files: libtcmalloc_minimal.so.4.5.10.)
        FamilyCase{"family_tcmalloc", "tcmalloc in libtcmalloc_minimal.so.4", "malloc", "realloc"},
        FamilyCase{"family_mimalloc", "mimalloc in libmimalloc.so.2", "malloc", "realloc"},
        // A jemalloc linked into the executable with Rust's prefix, beside
        // glibc's malloc, found in the executable's symbol table.
        FamilyCase{"family_rjemalloc", "also jemalloc in fixture_family_rjemalloc (the executable)", "mallocx",
                   "rallocx", false}),
    [](const ::testing::TestParamInfo<FamilyCase>& param) { return param.param.fixture.substr(7); });

// The glibc allocators fixture's semantics (every C function, growing and
// shrinking realloc, realloc to 0, failures, frees) with each family's
// library preloaded (LD_PRELOAD=libjemalloc.so.2, as services often run
// it): the preloaded library serves malloc, and the leaks are the same to
// the byte. What it does not export (jemalloc's reallocarray, pvalloc) is
// glibc's, probed too.
class PreloadedFamilyE2E : public ::testing::TestWithParam<std::pair<std::string, std::string>> {};

TEST_P(PreloadedFamilyE2E, TheCApiSemanticsHoldWithTheFamilyServingMalloc) {
  const auto& [library, family] = GetParam();
  const std::string file = "/usr/lib/x86_64-linux-gnu/" + library;
  ASSERT_EQ(::access(file.c_str(), R_OK), 0) << file << " is missing (run tools/setup)";
  Traced t = trace_fixture("/usr/bin/env", {}, {"LD_PRELOAD=" + file, fixture_path("allocators")});
  expect_matches(t);
  const std::string allocators = t.report["processes"][0]["allocators"].get<std::string>();
  EXPECT_TRUE(allocators.starts_with(family + " in " + library.substr(0, library.find(".so") + 3)))
      << allocators;
  EXPECT_LT(t.report["health"]["frees_unknown"].get<long long>(), 50) << t.report["health"].dump();
}

INSTANTIATE_TEST_SUITE_P(Families, PreloadedFamilyE2E,
                         ::testing::Values(std::make_pair("libjemalloc.so.2", "jemalloc"),
                                           std::make_pair("libtcmalloc_minimal.so.4", "tcmalloc"),
                                           std::make_pair("libmimalloc.so.2", "mimalloc")),
                         [](const ::testing::TestParamInfo<std::pair<std::string, std::string>>& param) {
                           return param.param.second;
                         });

// Two families in one process: a glibc program linked against a library
// that uses jemalloc's own API. glibc serves the program's malloc (the
// dynamic linker reaches libc before the library's jemalloc); both are
// probed, and each leak is named with its function.
TEST(AllocatorFamilyE2E, EachFamilyInOneProcessGetsItsProbes) {
  ASSERT_EQ(::access(fixture_path("family_host").c_str(), X_OK), 0)
      << "fixture_family_host was not built: libjemalloc is missing (run tools/setup)";
  Traced t = trace_fixture("family_host");
  expect_matches(t);
  const std::string allocators = t.report["processes"][0]["allocators"].get<std::string>();
  EXPECT_TRUE(allocators.starts_with("malloc in libc.so.6 serves malloc; also ")) << allocators;
  EXPECT_NE(allocators.find("jemalloc in libjemalloc.so.2"), std::string::npos) << allocators;
  const json* host = find_stack(t.report, "host_keep");
  const json* plugin = find_stack(t.report, "plugin_keep");
  ASSERT_NE(host, nullptr) << t.text;
  ASSERT_NE(plugin, nullptr) << t.text;
  EXPECT_EQ((*host)["allocator"], "malloc");
  EXPECT_EQ((*plugin)["allocator"], "mallocx");
  EXPECT_NE((*plugin)["frames"][0]["module"].get<std::string>().find("libfamilyplugin.so"), std::string::npos);
}

// The OpenTelemetry memory-probe contract: a process whose allocator fires
// USDT otel_memory:alloc(ptr, size, weight) and otel_memory:free(ptr) is
// traced through them instead of allocator uprobes. The allocator keeps 1
// allocation in 4, weight 4: the leak reads what leaked, to the byte, as an
// estimate with error bars; the blocks it allocates and frees leave
// nothing; a leak through malloc itself goes unseen (malloc is not probed,
// or the allocator's own blocks would count twice); the process's
// allocator line says which probes were used.
TEST(OtelMemoryE2E, AnAllocatorThatSamplesItselfIsTracedThroughItsProbesWithItsWeights) {
  Traced t = trace_fixture("otel_host");
  expect_matches(t);
  const json* leak = find_stack(t.report, "cache_put");
  ASSERT_NE(leak, nullptr) << t.text;
  EXPECT_EQ((*leak)["allocator"], "otel_memory:alloc");
  ASSERT_GE((*leak)["frames"].size(), 2u) << leak->dump();
  EXPECT_EQ((*leak)["frames"].at(1)["function"], "main") << leak->dump();
  EXPECT_GT((*leak)["estimate_error"].get<double>(), 0.0) << leak->dump();
  EXPECT_NE(t.text.find("sampled)"), std::string::npos) << t.text;
  const std::string allocators = t.report["processes"][0]["allocators"].get<std::string>();
  EXPECT_TRUE(allocators.starts_with("otel_memory probes in libotelsampler.so")) << allocators;
  for (const json& s : t.report["stacks"]) {
    if (s["kind"] != "heap") continue;
    EXPECT_EQ(s["allocator"], "otel_memory:alloc") << s.dump();
  }
}

// The leftover check knows every program in bpf/*.bpf.c: a program added
// there without its name in the harness would go unchecked.
TEST(HeapE2E, LeftoverCheckKnowsEveryBpfProgramName) {
  std::set<std::string> known(our_bpf_program_names().begin(), our_bpf_program_names().end());
  // SEC("uprobe") / SEC("tp_btf/...") then the program: BPF_KPROBE(name, ...),
  // BPF_PROG(name, ...) or int name(...).
  const std::regex sec(R"re(^SEC\("([^."][^"]*)"\))re");
  const std::regex prog(R"re(^int\s+(?:BPF_\w+\(\s*)?(\w+)\s*[,(])re");
  DIR* dir = ::opendir(LEAKSCOPE_BPF_DIR);
  ASSERT_NE(dir, nullptr) << LEAKSCOPE_BPF_DIR;
  int programs = 0;
  while (dirent* d = ::readdir(dir)) {
    std::string file = d->d_name;
    if (file.size() < 6 || file.compare(file.size() - 6, 6, ".bpf.c") != 0) continue;
    std::ifstream in(std::string(LEAKSCOPE_BPF_DIR) + "/" + file);
    std::string line;
    bool after_sec = false;
    std::smatch m;
    while (std::getline(in, line)) {
      if (std::regex_search(line, m, sec)) {
        after_sec = m[1] != "license";
      } else if (after_sec && std::regex_search(line, m, prog)) {
        ++programs;
        EXPECT_TRUE(known.count(m[1])) << file << ": program " << m[1]
                                       << " is missing from our_bpf_program_names()";
        after_sec = false;
      }
    }
  }
  ::closedir(dir);
  EXPECT_GE(programs, 16);  // heap 9, syscalls 4, lifecycle 3 at least
}

namespace {
int bpf_fd_by_id(int cmd, unsigned id) {
  union bpf_attr attr = {};
  if (cmd == BPF_PROG_GET_FD_BY_ID)
    attr.prog_id = id;
  else
    attr.link_id = id;
  return static_cast<int>(::syscall(SYS_bpf, cmd, &attr, sizeof attr));
}
}  // namespace

// The leftover check itself can fail: a program and a link of leakscope's
// kept alive past its exit by another process (here this test, holding
// descriptors it took by ID, as a leaked inherited descriptor would) are
// reported, and no longer once released.
TEST(HeapE2E, LeftoverCheckSeesProgramsAndLinksOutlivingLeakscope) {
  Fixture fx("leaky");
  Leakscope ls({"trace", "-p", std::to_string(fx.pid()), "--tick", "200ms"});
  ASSERT_TRUE(ls.wait_tracing()) << ls.err();
  BpfIds held = bpf_ids_held_by(ls.pid());
  ASSERT_FALSE(held.progs.empty());
  ASSERT_FALSE(held.links.empty());
  unsigned prog_id = *held.progs.begin(), link_id = *held.links.rbegin();
  int prog_fd = bpf_fd_by_id(BPF_PROG_GET_FD_BY_ID, prog_id);
  int link_fd = bpf_fd_by_id(BPF_LINK_GET_FD_BY_ID, link_id);
  ASSERT_GE(prog_fd, 0);
  ASSERT_GE(link_fd, 0);
  ASSERT_EQ(ls.stop(), 0) << ls.err();
  std::vector<std::string> left = ls.leftover_bpf_objects(0.5);
  ::close(prog_fd);
  ::close(link_fd);
  std::string all;
  for (const auto& l : left) all += l + "\n";
  EXPECT_NE(all.find(" id " + std::to_string(prog_id) + " held by e2e_tests"), std::string::npos)
      << all;
  EXPECT_NE(all.find("link "), std::string::npos) << all;
  EXPECT_NE(all.find(" id " + std::to_string(link_id) + " "), std::string::npos) << all;
  EXPECT_EQ(ls.leftover_bpf_objects(), std::vector<std::string>{});
  fx.finish();
}
