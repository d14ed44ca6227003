// Growth inside the allocator is the caller's (issue 12): the demo's service
// leaks one record per request through malloc, and glibc grows its arena
// with brk for it. With the heap kind on, that is one leak, the arena's
// growth its allocator's footprint; with --kinds brk alone, the brk growth
// is the only signal and is judged.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "harness.h"

using namespace e2e;
using nlohmann::json;

extern char** environ;

namespace {

// The demo's service, traced for 30 s (the detector needs 20 s of history)
// with `kinds`; its final JSON report.
json trace_demo_service(const std::string& kinds) {
  std::string service = fixture_path("demo_service");
  std::vector<char*> argv = {service.data(), const_cast<char*>("90"), nullptr};
  pid_t pid = -1;
  if (posix_spawn(&pid, service.c_str(), nullptr, nullptr, argv.data(), environ) != 0) return {};
  const std::string report = "/tmp/leakscope-e2e-allocator-growth-" + std::to_string(pid) + ".json";
  auto [code, err] = run_leakscope({"trace", "-p", std::to_string(pid), "--kinds", kinds, "--duration", "30s",
                                    "-q", "--json", report},
                                   false, 90);
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  EXPECT_EQ(code, 0) << err;
  return take_json(report);
}

size_t leak_verdicts(const json& report) {
  size_t n = 0;
  for (const json& s : report["stacks"]) n += s["verdict"] == "leak";
  return n;
}

class AllocatorGrowthE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { heap_and_syscalls_ = new json(trace_demo_service("heap,brk,mmap")); }
  static void TearDownTestSuite() { delete heap_and_syscalls_; }
  static json* heap_and_syscalls_;
};
json* AllocatorGrowthE2E::heap_and_syscalls_ = nullptr;

TEST_F(AllocatorGrowthE2E, AHeapLeakIsOneLeakVerdictWithTheHeapKindOn) {
  const json& r = *heap_and_syscalls_;
  ASSERT_TRUE(r.is_object());
  EXPECT_EQ(leak_verdicts(r), 1u) << r["stacks"].dump(1);
  const json* leak = find_stack(r, "remember_client", 0, "heap");
  ASSERT_NE(leak, nullptr);
  EXPECT_EQ((*leak)["verdict"], "leak");
  for (const json& s : r["stacks"])
    if (s["kind"] == "brk") ADD_FAILURE() << "the arena's brk is a stack of its own:\n" << s.dump(1);
  // What the arena's growth holds is the allocator's footprint.
  ASSERT_EQ(r["processes"].size(), 1u);
  const json& p = r["processes"][0];
  ASSERT_TRUE(p.contains("allocator_footprint")) << p.dump(1);
  EXPECT_GE(p["allocator_footprint"]["held_bytes"].get<long long>(), 1 << 20)
      << "~125 KiB/s of records for 30 s";
}

// Needs stacks that reach from brk through malloc to its caller (CFI
// unwinding in BPF): with frame pointers sysmalloc's brk reads `__sbrk`
// and nothing more, and its footprint stays with the process
// (unattributed_bytes).
TEST_F(AllocatorGrowthE2E, TheFootprintIsShownUnderTheHeapStackItServes) {
  const json& r = *heap_and_syscalls_;
  ASSERT_TRUE(r.is_object());
  const json* leak = find_stack(r, "remember_client", 0, "heap");
  ASSERT_NE(leak, nullptr);
  ASSERT_TRUE(leak->contains("allocator_footprint"))
      << "no footprint under the leak; the process's: " << r["processes"][0].dump(1);
  EXPECT_GT((*leak)["allocator_footprint"]["held_bytes"].get<long long>(), 0);
}

TEST(AllocatorGrowthBrkAloneE2E, WithoutTheHeapKindTheBrkGrowthIsJudged) {
  json r = trace_demo_service("brk");
  ASSERT_TRUE(r.is_object());
  const json* growth = nullptr;
  for (const json& s : r["stacks"])
    if (s["kind"] == "brk") {
      growth = &s;
      break;
    }
  ASSERT_NE(growth, nullptr) << r.dump(1);
  EXPECT_EQ((*growth)["verdict"], "leak") << growth->dump(1);
  EXPECT_FALSE(r["processes"][0].contains("allocator_footprint"));
}

}  // namespace
