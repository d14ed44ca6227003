// Growth inside the allocator is the caller's: which brk/mmap stacks are the
// allocator's growth (the rule in tracer/allocator_growth.h), and what the
// judge and the report make of them.
#include "tracer/allocator_growth.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "fake_kernel.h"
#include "report/json.h"
#include "report/text.h"
#include "target/allocator.h"
#include "tracer/judge.h"
#include "tracer/tick_view.h"

namespace leakscope {
namespace {

constexpr const char* kLibc = "/usr/lib/x86_64-linux-gnu/libc.so.6";
constexpr const char* kProgram = "/srv/app";

Frame frame(const char* module, uint64_t offset, const char* function = "") {
  Frame f;
  f.module = module;
  f.module_offset = offset;
  f.address = 0x7f0000000000 + offset;
  f.function = function;
  return f;
}

// glibc as planned: malloc at 0x1000 (0x200 bytes), realloc at 0x3000.
AllocatorCode glibc() {
  AllocatorPlan plan;
  plan.allocator_module = kLibc;
  plan.allocator_family = "malloc";
  ProbeSite malloc_site;
  malloc_site.shape = AllocShape::Malloc;
  malloc_site.module_path = kLibc;
  malloc_site.entry_offset = 0x1000;
  malloc_site.file_offset = 0x1000;
  malloc_site.entry_size = 0x200;
  ProbeSite realloc_site = malloc_site;
  realloc_site.shape = AllocShape::Realloc;
  realloc_site.entry_offset = realloc_site.file_offset = 0x3000;
  plan.sites = {malloc_site, realloc_site};
  return AllocatorCode::of(plan);
}

// An allocator in `module` with one probed function of 0x100 bytes at `entry`.
AllocatorPlan one_function_plan(const char* module, uint64_t entry) {
  AllocatorPlan plan;
  plan.allocator_module = module;
  ProbeSite site;
  site.module_path = module;
  site.entry_offset = site.file_offset = entry;
  site.entry_size = 0x100;
  plan.sites = {site};
  return plan;
}

// __brk <- __sbrk <- sysmalloc <- _int_malloc <- malloc <- remember <- main,
// as a CFI unwinder reads it.
std::vector<Frame> full_brk_stack() {
  return {frame(kLibc, 0x9010, "__sbrk"), frame(kLibc, 0x5020, "sysmalloc"), frame(kLibc, 0x6030, "_int_malloc"),
          frame(kLibc, 0x1040, "malloc"), frame(kProgram, 0x400, "remember"), frame(kProgram, 0x100, "main")};
}

TEST(AllocatorGrowth, ACompleteStackThroughMallocIsGrowthWithTheCallerAfterMalloc) {
  AllocatorCode code = glibc();
  auto growth = allocator_growth(Kind::Brk, full_brk_stack(), &code);
  ASSERT_TRUE(growth);
  EXPECT_EQ(growth->caller_from, 4u) << "remember, the frame after malloc's";
}

TEST(AllocatorGrowth, TheOutermostAllocatorFrameEndsTheAllocatorsPart) {
  // realloc -> _int_realloc -> malloc (an allocator function calling another).
  AllocatorCode code = glibc();
  std::vector<Frame> stack = {frame(kLibc, 0x7000, "__mremap"), frame(kLibc, 0x1010, "malloc"),
                              frame(kLibc, 0x8000, "_int_realloc"), frame(kLibc, 0x3050, "realloc"),
                              frame(kProgram, 0x500, "grow_buffer")};
  auto growth = allocator_growth(Kind::Mmap, stack, &code);
  ASSERT_TRUE(growth);
  EXPECT_EQ(growth->caller_from, 4u);
}

TEST(AllocatorGrowth, AReturnAddressIsMatchedOneByteBackAsItsCall) {
  AllocatorCode code = glibc();
  EXPECT_FALSE(code.in_function(frame(kLibc, 0x1000))) << "the entry itself is no return address into malloc";
  EXPECT_TRUE(code.in_function(frame(kLibc, 0x1200))) << "a call that ends malloc returns to its end";
  EXPECT_FALSE(code.in_function(frame(kLibc, 0x1201)));
  EXPECT_FALSE(code.in_function(frame(kProgram, 0x1040))) << "the same offset in another module";
}

TEST(AllocatorGrowth, NothingIsGrowthWhenTheHeapKindIsOff) {
  EXPECT_FALSE(allocator_growth(Kind::Brk, full_brk_stack(), nullptr));
  AllocatorCode none;
  EXPECT_FALSE(allocator_growth(Kind::Brk, full_brk_stack(), &none)) << "no allocator found to probe";
}

TEST(AllocatorGrowth, OnlyTheKindsThatTakeMemoryFromTheOs) {
  AllocatorCode code = glibc();
  EXPECT_TRUE(allocator_growth(Kind::Mmap, full_brk_stack(), &code));
  for (Kind kind : {Kind::Heap, Kind::Timerfd, Kind::Epoll, Kind::Fault, Kind::Rss})
    EXPECT_FALSE(allocator_growth(kind, full_brk_stack(), &code)) << kind_name(kind);
}

TEST(AllocatorGrowth, AProgramMappingMemoryItselfKeepsItsStack) {
  AllocatorCode code = glibc();
  // mmap() called by the program: its first frame is the return address
  // into the program, however far the walk went.
  std::vector<Frame> direct = {frame(kProgram, 0x600, "map_arena"), frame(kProgram, 0x100, "main")};
  EXPECT_FALSE(allocator_growth(Kind::Mmap, direct, &code));
  EXPECT_FALSE(allocator_growth(Kind::Mmap, {direct[0]}, &code));
  // A complete stack inside libc without an allocator function
  // (pthread_create's thread stack) is the program's too.
  std::vector<Frame> thread_stack = {frame(kLibc, 0xa000, "allocate_stack"), frame(kLibc, 0xb000, "pthread_create"),
                                     frame(kProgram, 0x700, "spawn")};
  EXPECT_FALSE(allocator_growth(Kind::Mmap, thread_stack, &code));
}

TEST(AllocatorGrowth, AWalkThatStoppedInTheAllocatorsLibraryIsGrowthOfAnUnknownCaller) {
  AllocatorCode code = glibc();
  // Frame pointers: sysmalloc's brk reads `__sbrk` and nothing more.
  std::vector<Frame> sbrk_only = {frame(kLibc, 0x9010, "__sbrk")};
  auto growth = allocator_growth(Kind::Brk, sbrk_only, &code);
  ASSERT_TRUE(growth);
  EXPECT_EQ(growth->caller_from, sbrk_only.size()) << "the caller is unknown";
  std::vector<Frame> left_libc = {frame(kLibc, 0x9010, "__sbrk"), frame(kProgram, 0x800, "grow")};
  EXPECT_FALSE(allocator_growth(Kind::Brk, left_libc, &code)) << "a program's own frame: its growth";
}

TEST(AllocatorGrowth, AnAllocatorLibrarysOwnSyscallIsGrowthWithTheCallerAfterIt) {
  // Debian's jemalloc: stripped, and its malloc tail-jumps to its slow path,
  // so the mmap of a new extent shows unnamed offsets of the library, none
  // in malloc's range, then the program (redis: zmalloc_usable <- ...).
  constexpr const char* kJemalloc = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";
  AllocatorPlan plan = one_function_plan(kJemalloc, 0x22000);
  plan.allocator_family = "jemalloc";
  AllocatorCode code = AllocatorCode::of(plan);
  std::vector<Frame> extent = {frame(kJemalloc, 0x94b5a), frame(kJemalloc, 0x89994), frame(kJemalloc, 0x22612),
                               frame(kProgram, 0x7bc1a, "zmalloc_usable"), frame(kProgram, 0x100, "main")};
  auto growth = allocator_growth(Kind::Mmap, extent, &code);
  ASSERT_TRUE(growth);
  EXPECT_EQ(growth->caller_from, 3u) << "zmalloc_usable, the first frame after the library's";
  // A thread of the library's own (a background purge): its caller is libc's
  // thread start, which no heap stack has.
  std::vector<Frame> background = {frame(kJemalloc, 0x94b5a), frame(kLibc, 0x89000, "start_thread")};
  growth = allocator_growth(Kind::Mmap, background, &code);
  ASSERT_TRUE(growth);
  EXPECT_EQ(growth->caller_from, 1u);
  // libc's own mappings under jemalloc are not the allocator's, nor the program's.
  std::vector<Frame> thread_stack = {frame(kLibc, 0xa000, "allocate_stack"), frame(kLibc, 0xb000, "pthread_create"),
                                     frame(kProgram, 0x700, "spawn")};
  EXPECT_FALSE(allocator_growth(Kind::Mmap, thread_stack, &code));
  std::vector<Frame> direct = {frame(kProgram, 0x600, "map_arena"), frame(kProgram, 0x100, "main")};
  EXPECT_FALSE(allocator_growth(Kind::Mmap, direct, &code));
  // The same shape with glibc serving malloc: libc maps more than its heap.
  AllocatorCode libc_code = glibc();
  EXPECT_FALSE(allocator_growth(Kind::Mmap, thread_stack, &libc_code));
  // tcmalloc defines mmap itself (its hooks): a program's mmap begins in
  // its library, and is the program's.
  constexpr const char* kTcmalloc = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4";
  AllocatorPlan tc_plan = plan;
  tc_plan.allocator_module = kTcmalloc;
  tc_plan.allocator_family = "tcmalloc";
  tc_plan.allocator_wraps_os_memory_calls = true;
  tc_plan.sites[0].module_path = kTcmalloc;
  AllocatorCode tc_code = AllocatorCode::of(tc_plan);
  std::vector<Frame> program_mmap = {frame(kTcmalloc, 0x5100, "mmap"), frame(kProgram, 0x600, "map_arena"),
                                     frame(kProgram, 0x100, "main")};
  EXPECT_FALSE(allocator_growth(Kind::Mmap, program_mmap, &tc_code));
}

TEST(AllocatorGrowth, AnAllocatorInTheProgramNeedsAnAllocatorFrame) {
  // A static allocator: every frame of the program is in its module.
  AllocatorPlan plan = one_function_plan(kProgram, 0x2000);
  plan.allocator_in_main = true;
  AllocatorCode code = AllocatorCode::of(plan);
  std::vector<Frame> direct = {frame(kProgram, 0x600, "map_arena"), frame(kProgram, 0x100, "main")};
  EXPECT_FALSE(allocator_growth(Kind::Mmap, direct, &code));
  std::vector<Frame> grown = {frame(kProgram, 0x2010, "my_malloc"), frame(kProgram, 0x600, "remember")};
  auto growth = allocator_growth(Kind::Mmap, grown, &code);
  ASSERT_TRUE(growth);
  EXPECT_EQ(growth->caller_from, 1u);
}

TEST(AllocatorGrowth, AnAllocatorFrameWithNothingAfterItHasAnUnknownCaller) {
  AllocatorCode code = glibc();
  std::vector<Frame> stack = {frame(kLibc, 0x5020, "sysmalloc"), frame(kLibc, 0x1040, "malloc")};
  auto growth = allocator_growth(Kind::Brk, stack, &code);
  ASSERT_TRUE(growth);
  EXPECT_EQ(growth->caller_from, stack.size());
}

TEST(AllocatorGrowth, PlanSitesWithoutASizeAreNoRange) {
  AllocatorPlan plan;
  plan.allocator_module = kLibc;
  ProbeSite site;
  site.module_path = kLibc;
  site.entry_offset = 0x1000;
  plan.sites = {site};
  EXPECT_TRUE(AllocatorCode::of(plan).empty());
}

// The judge and the report over real addresses of this process: the
// "allocator" is fake_malloc here, the program remember <- serve.

__attribute__((noinline)) int fake_malloc(int x) {
  asm volatile("" ::: "memory");
  return x * 3 + 1;
}
__attribute__((noinline)) int fake_sbrk(int x) {
  asm volatile("" ::: "memory");
  return x * 5 + 2;
}
__attribute__((noinline)) int remember(int x) {
  asm volatile("" ::: "memory");
  return fake_malloc(x) + 7;
}
__attribute__((noinline)) int serve(int x) {
  asm volatile("" ::: "memory");
  return remember(x) * 2;
}

uint64_t inside(int (*fn)(int)) { return reinterpret_cast<uint64_t>(fn) + 4; }

LedgerRow row(TraceId id, Kind kind, int32_t stack, int64_t bytes, int64_t objects) {
  LedgerRow r;
  r.trace_id = id;
  r.kind = kind;
  r.stack_id = stack;
  r.value.live_bytes = bytes;
  r.value.live_objects = objects;
  return r;
}

struct Session {
  TraceConfig config;
  testing::FakeKernel kernel;
  testing::NullImageObserver observer;
  ImageTable images{kernel, observer, ImagePolicy{}};
  AddressSpaces spaces;
  Symbolizer symbolizer{spaces};
  StackStore stacks{kernel, symbolizer, spaces, 16};
  Timeline timeline;
  TickView view;
  Judge judge{config};
  TraceId id = 0;
  LedgerRow heap, brk;

  // `growth_stack`: the brk stack; by default malloc's growth on a call
  // from remember, the heap stack's leak site.
  explicit Session(bool heap_on, std::vector<uint64_t> growth_stack = {}) {
    TracedImage image;
    image.id = images.new_id();
    image.info.pid = ::getpid();
    image.info.comm = "self";
    image.heap_probes = heap_on;
    Frame malloc_entry = symbolizer.resolve(::getpid(), reinterpret_cast<uint64_t>(&fake_malloc));
    image.allocator_module = malloc_entry.module;
    image.allocator_code.module = malloc_entry.module;
    image.allocator_code.module_is_program = true;  // this test program
    image.allocator_code.functions.push_back(
        {malloc_entry.module, malloc_entry.module_offset, malloc_entry.module_offset + 8});
    id = images.add(image).id;

    kernel.stacks[5] = {inside(&remember), inside(&serve)};  // the heap stack: leak site first
    if (growth_stack.empty())
      growth_stack = {inside(&fake_sbrk), inside(&fake_malloc), inside(&remember), inside(&serve)};
    kernel.stacks[6] = growth_stack;
    // Both grow by 64 KiB a second for 30 s; the heap stack serves 1 KiB
    // blocks, the allocator takes 132 KiB of brk at a time.
    heap = row(id, Kind::Heap, 5, 0, 0);
    brk = row(id, Kind::Brk, 6, 0, 0);
    for (int t = 1; t <= 30; ++t) {
      heap.value.live_bytes = int64_t(t) << 16;
      heap.value.live_objects = int64_t(t) << 6;
      brk.value.live_bytes = int64_t((t + 1) / 2) * (132 << 10);
      brk.value.live_objects = (t + 1) / 2;
      timeline.record(key_of(heap), Sample{double(t), heap.value.live_bytes, heap.value.live_objects}, 0.0);
      timeline.record(key_of(brk), Sample{double(t), brk.value.live_bytes, brk.value.live_objects}, 0.0);
      view.set_rows(double(t), {heap, brk}, Counters{}, 0, kernel.sizes());
      judge.judge(view, images, timeline, stacks);
    }
  }

  Report report() {
    ReportSources sources{config, images, timeline, stacks, {}, {}, {}, {}};
    return build_report(view, sources, 30, true);
  }
};

size_t leaks(const Report& r) {
  size_t n = 0;
  for (const StackEntry& s : r.stacks) n += s.assessment.verdict == Verdict::Leak;
  return n;
}

TEST(AllocatorGrowthReport, AHeapLeakIsOneLeakWithTheAllocatorsGrowthUnderItsStack) {
  Session s(/*heap_on=*/true);
  EXPECT_EQ(s.view.verdicts.count(key_of(s.brk)), 0u) << "the allocator's growth is never judged";
  EXPECT_EQ(s.view.allocator_growth.count(key_of(s.brk)), 1u);
  Report r = s.report();
  ASSERT_EQ(r.stacks.size(), 1u) << "the growth is no stack of its own";
  EXPECT_EQ(leaks(r), 1u);
  const StackEntry& heap = r.stacks[0];
  EXPECT_EQ(heap.kind, Kind::Heap);
  EXPECT_EQ(heap.allocator_growth.held_bytes, 15 * (132 << 10));
  EXPECT_EQ(heap.allocator_growth.regions, 15);
  EXPECT_GT(heap.allocator_growth.growth_bytes_per_sec, 0);
  ASSERT_EQ(r.processes.size(), 1u);
  const ImageEntry& p = r.processes[0];
  EXPECT_EQ(p.allocator_growth.held_bytes, 15 * (132 << 10));
  EXPECT_EQ(p.allocator_beyond_live_bytes, 15 * (132 << 10) - (30 << 16));
  EXPECT_EQ(p.allocator_growth_unattributed_bytes, 0);
  EXPECT_EQ(p.live_bytes, 30 << 16) << "the heap's blocks, the growth that holds them not counted twice";

  MetricsSnapshot metrics = metrics_snapshot(s.view, s.images, s.timeline, s.kernel.sizes());
  size_t suspected = 0;
  for (const ProcessKindMetrics& m : metrics.processes) suspected += m.suspected_leaks;
  EXPECT_EQ(suspected, 1u);

  nlohmann::json j = nlohmann::json::parse(render_json(r));
  ASSERT_EQ(j["stacks"].size(), 1u);
  EXPECT_EQ(j["stacks"][0]["allocator_footprint"]["held_bytes"], 15 * (132 << 10));
  EXPECT_EQ(j["processes"][0]["allocator_footprint"]["beyond_live_bytes"], 15 * (132 << 10) - (30 << 16));
  std::string text = render_text(r, 10);
  EXPECT_NE(text.find("allocator footprint: 1.93 MiB taken from the OS in these calls"), std::string::npos) << text;
}

TEST(AllocatorGrowthReport, GrowthWhoseCallerIsNoReportedHeapStackStaysWithItsProcess) {
  // malloc called by serve itself: no heap stack of the report is that one.
  Session s(/*heap_on=*/true, {inside(&fake_sbrk), inside(&fake_malloc), inside(&serve)});
  Report r = s.report();
  ASSERT_EQ(r.stacks.size(), 1u);
  EXPECT_EQ(r.stacks[0].allocator_growth.regions, 0);
  EXPECT_EQ(r.processes[0].allocator_growth_unattributed_bytes, 15 * (132 << 10));
}

TEST(AllocatorGrowthReport, WithTheHeapKindOffTheBrkGrowthIsJudged) {
  Session s(/*heap_on=*/false);
  EXPECT_EQ(s.view.allocator_growth.size(), 0u);
  Report r = s.report();
  ASSERT_EQ(r.stacks.size(), 2u);
  bool brk_judged = false;
  for (const StackEntry& st : r.stacks)
    if (st.kind == Kind::Brk) brk_judged = st.assessment.verdict == Verdict::Leak;
  EXPECT_TRUE(brk_judged) << "brk is the only signal then";
  EXPECT_EQ(r.processes[0].allocator_growth.regions, 0);
}

}  // namespace
}  // namespace leakscope
