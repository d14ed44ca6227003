// Whole call chains, on both builds of each fixture (issue 12): the leak site,
// its caller, ..., main, frame after frame, as the report shows them. Each
// test runs against fixture_X (frame pointers, -O1) and fixture_X_nofp (-O2
// -fomit-frame-pointer: only the .eh_frame CFI can walk it), built from the
// same source by tests/fixtures/CMakeLists.txt (add_fixture ... BOTH_WAYS).
//
// A frame-pointer walk gives the leak site of a _nofp build and then nothing
// or garbage: these tests are the proof that an unwinder walks both.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "harness.h"
#include "services.h"

using namespace e2e;
using nlohmann::json;

namespace {

struct Traced {
  json report;
  std::map<std::string, Expect> expects;
  std::string text, err;
  pid_t pid = 0;
};

// Runs `fixture` (with `args`), traces it for `kinds` while it does its work,
// stops leakscope with SIGINT and returns the report.
Traced trace(const std::string& fixture, const std::vector<std::string>& fixture_args,
             const std::string& kinds, const std::vector<std::string>& extra = {}) {
  Fixture fx(fixture, fixture_args);
  const std::string path = "/tmp/leakscope-e2e-chains-" + std::to_string(::getpid()) + "-" +
                           std::to_string(fx.pid()) + ".json";
  std::vector<std::string> args = {"trace",   "-p",    std::to_string(fx.pid()),
                                   "--tick",  "200ms", "--interval",
                                   "1s",      "--kinds", kinds,
                                   "--json",  path,    "--no-control"};
  args.insert(args.end(), extra.begin(), extra.end());
  Leakscope ls(args);
  EXPECT_TRUE(ls.wait_tracing()) << ls.err();
  fx.go();
  Traced t;
  t.pid = fx.pid();
  t.expects = fx.wait_done(60);
  // Two ticks see the final state.
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_EQ(ls.stop(), 0) << ls.err();
  EXPECT_TRUE(fx.running());
  t.text = ls.out();
  t.err = ls.err();
  t.report = take_json(path);
  EXPECT_TRUE(t.report.is_object()) << "no JSON report; stderr: " << t.err;
  fx.finish();
  return t;
}

// The disassembly of `function` in `binary` (objdump, from binutils).
std::string disassembly(const std::string& binary, const std::string& function) {
  std::string cmd = "objdump -d --no-show-raw-insn --disassemble='" + function + "' '" + binary +
                    "' 2>/dev/null";
  return run_command(cmd).second;
}

class ChainE2E : public ::testing::TestWithParam<std::string> {
 protected:
  // "leaky" -> "leaky" or "leaky_nofp" for this run.
  std::string fixture(const std::string& base) const { return base + GetParam(); }
  bool nofp() const { return GetParam() == "_nofp"; }

  // The build is what it says: in a _nofp binary the functions of the chain
  // set up no frame pointer (no "mov %rsp,%rbp"); in the other, they do. A
  // _nofp fixture quietly built with frame pointers would prove nothing.
  void expect_build(const std::string& base, const std::vector<std::string>& functions,
                    const std::string& binary = "") const {
    const std::string file = binary.empty() ? fixture_path(fixture(base)) : binary;
    for (const std::string& f : functions) {
      const std::string code = disassembly(file, f);
      ASSERT_NE(code.find("<" + f + ">:"), std::string::npos) << f << " is not in " << file;
      const bool frame = code.find("mov    %rsp,%rbp") != std::string::npos;
      EXPECT_EQ(frame, !nofp()) << f << " in " << file
                                << (nofp() ? " keeps a frame pointer" : " has no frame pointer")
                                << ":\n"
                                << code;
    }
  }

  // The stack of `kind` whose leak site is `function`, with the whole chain.
  void expect_stack_chain(const Traced& t, const std::string& kind,
                          const std::vector<std::string>& chain) const {
    const json* s = find_stack(t.report, chain.front(), t.pid, kind);
    ASSERT_NE(s, nullptr) << "no " << kind << " stack with leak site " << chain.front() << "\n"
                          << t.text;
    EXPECT_TRUE(has_chain(*s, chain)) << fixture_path(fixture("")) << " (" << kind << ")";
  }
};

INSTANTIATE_TEST_SUITE_P(Builds, ChainE2E, ::testing::Values("", "_nofp"),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                           return p.param.empty() ? std::string("fp") : std::string("nofp");
                         });

}  // namespace

// The README's leak: cache_put <- handle_request <- main, in the JSON report
// and in the live table the user watches.
TEST_P(ChainE2E, HeapLeakSiteToMain) {
  expect_build("leaky", {"cache_put", "handle_request"});
  Traced t = trace(fixture("leaky"), {}, "heap");
  ASSERT_TRUE(t.report.is_object());
  expect_stack_chain(t, "heap", {"cache_put", "handle_request", "main"});
  EXPECT_EQ(find_stack(t.report, "cache_put", t.pid, "heap")->at("live_bytes"),
            t.expects.at("cache_put").bytes);
  EXPECT_NE(t.text.find("cache_put <- handle_request <- main"), std::string::npos) << t.text;
}

// Every allocator entry (malloc, calloc, realloc growing a block, the
// aligned ones...) is walked from its own probe to main.
TEST_P(ChainE2E, EveryAllocatorAndReallocGrowthToMain) {
  expect_build("allocators", {"grow_buffer", "run_all"});
  Traced t = trace(fixture("allocators"), {}, "heap");
  ASSERT_TRUE(t.report.is_object());
  int checked = 0;
  for (const auto& [function, e] : t.expects) {
    if (e.objects == 0) continue;
    SCOPED_TRACE(function);
    expect_stack_chain(t, "heap", {function, "run_all", "main"});
    ++checked;
  }
  EXPECT_GE(checked, 10);  // leak_malloc ... leak_pvalloc, grow_buffer, shrink_buffer
}

TEST_P(ChainE2E, CxxOperatorNewToMain) {
  Traced t = trace(fixture("cxx_new"), {}, "heap");
  ASSERT_TRUE(t.report.is_object());
  expect_stack_chain(t, "heap", {"server::SessionStore::open_session(int)", "run_all()", "main"});
  expect_stack_chain(t, "heap", {"alloc_table(unsigned long)", "run_all()", "main"});
}

// A thread's stack ends in the C library that started it, not in main.
TEST_P(ChainE2E, ThreadLeakToTheThreadsStartFunction) {
  expect_build("threads", {"leak_in_thread", "leaker_main"});
  Traced t = trace(fixture("threads"), {}, "heap");
  ASSERT_TRUE(t.report.is_object());
  const json* s = find_stack(t.report, "leak_in_thread", t.pid, "heap");
  ASSERT_NE(s, nullptr) << t.text;
  EXPECT_TRUE(has_chain(*s, {"leak_in_thread", "leaker_main"}));
  const json& frames = (*s)["frames"];
  ASSERT_GE(frames.size(), 3u) << "nothing below leaker_main: " << chain_text(*s);
  EXPECT_NE(frames[2]["module"].get<std::string>().find("libc.so"), std::string::npos)
      << "leaker_main's caller is the C library's thread start: " << chain_text(*s);
}

// Across a library dlopen()ed after attach, built the same way as its host.
TEST_P(ChainE2E, DlopenedPluginToMain) {
  const std::string plugin = std::string(LEAKSCOPE_FIXTURE_DIR) + "/libleakplugin" +
                             GetParam() + ".so";
  expect_build("dlopen_host", {"plugin_store", "plugin_handle"}, plugin);
  expect_build("dlopen_host", {"serve"});
  Traced t = trace(fixture("dlopen_host"), {}, "heap");
  ASSERT_TRUE(t.report.is_object());
  expect_stack_chain(t, "heap", {"plugin_store", "plugin_handle", "serve", "main"});
  const json* s = find_stack(t.report, "plugin_store", t.pid, "heap");
  ASSERT_NE(s, nullptr);
  EXPECT_NE((*s)["frames"][0]["module"].get<std::string>().find("libleakplugin" + GetParam() +
                                                                 ".so"),
            std::string::npos);
}

// The syscall kinds: the stack is taken in the syscall tracepoint, below the
// C library's wrapper.
TEST_P(ChainE2E, TimerfdToMain) {
  expect_build("timers", {"arm_request_timer", "serve_timer_request"});
  Traced t = trace(fixture("timers"), {"leak"}, "timerfd");
  ASSERT_TRUE(t.report.is_object());
  expect_stack_chain(t, "timerfd", {"arm_request_timer", "serve_timer_request", "main"});
}

TEST_P(ChainE2E, EpollToMain) {
  expect_build("epolls", {"register_listener", "serve_listener_request"});
  Traced t = trace(fixture("epolls"), {"leak"}, "epoll");
  ASSERT_TRUE(t.report.is_object());
  expect_stack_chain(t, "epoll", {"register_listener", "serve_listener_request", "main"});
}

TEST_P(ChainE2E, MmapToMain) {
  expect_build("maps", {"map_request_buffer", "serve_map_request"});
  Traced t = trace(fixture("maps"), {"leak"}, "mmap");
  ASSERT_TRUE(t.report.is_object());
  expect_stack_chain(t, "mmap", {"map_request_buffer", "serve_map_request", "main"});
}

TEST_P(ChainE2E, BrkToMain) {
  expect_build("brks", {"grow_heap_top"});
  Traced t = trace(fixture("brks"), {"brk"}, "brk");
  ASSERT_TRUE(t.report.is_object());
  expect_stack_chain(t, "brk", {"grow_heap_top", "main"});
}

// Kind fault: the stack is taken at the page fault, inside the C library's
// malloc or memset; the leak site is the first frame of the program. (The
// fixture's "expect leaked N" line is no expect line of the harness: the
// run ends at --duration, as in test_faults.cpp.)
TEST_P(ChainE2E, FaultToMain) {
  expect_build("quiet_leak", {"leak_slowly"});
  Fixture fx(fixture("quiet_leak"), {"8", "262144"});
  const std::string path = "/tmp/leakscope-e2e-chains-" + std::to_string(::getpid()) + "-" +
                           std::to_string(fx.pid()) + ".json";
  Leakscope ls({"trace", "-p", std::to_string(fx.pid()), "--kinds", "fault", "--tick", "500ms",
                "--fault-stacks", "4096", "--duration", "6s", "-q", "--json", path,
                "--no-control"});
  ASSERT_TRUE(ls.wait_tracing()) << ls.err();
  fx.go();
  EXPECT_EQ(ls.wait(60), 0) << ls.err();
  Traced t;
  t.pid = fx.pid();
  t.report = take_json(path);
  ASSERT_TRUE(t.report.is_object()) << ls.err();
  expect_stack_chain(t, "fault", {"leak_slowly", "main"});
  EXPECT_TRUE(fx.running());
}
