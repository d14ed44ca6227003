// The stack store: kernel stacks read once and symbolized once per image,
// composed stacks interned and bounded, a syscall event's stack rebuilt
// leak site first. On this test process's own code, with a fake kernel.
#include "tracer/stack_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "fake_kernel.h"

namespace leakscope {
namespace {

using testing::FakeKernel;

extern "C" __attribute__((noinline)) int stack_store_leak_site(int x) { return x * 3 + 1; }
extern "C" __attribute__((noinline)) int stack_store_caller(int x) { return stack_store_leak_site(x) + 2; }

// A return address into the function: where a call in it returns to.
uint64_t inside(int (*fn)(int)) { return reinterpret_cast<uint64_t>(fn) + 4; }

struct Store {
  FakeKernel kernel;
  AddressSpaces spaces;
  Symbolizer symbolizer{spaces};
  StackStore stacks{kernel, symbolizer, spaces, 4};
};

TEST(StackStore, KernelStacksAreSymbolizedOncePerImage) {
  Store s;
  const pid_t pid = ::getpid();
  s.kernel.stacks[7] = {inside(stack_store_leak_site), inside(stack_store_caller)};
  const std::vector<Frame>& frames = s.stacks.frames(1, pid, 7);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].function, "stack_store_leak_site");
  EXPECT_EQ(frames[1].function, "stack_store_caller");
  EXPECT_TRUE(s.stacks.has_frames(1, 7));

  // The kernel's stack id may be reused later: what an image's report shows
  // is what was resolved for it, until the image is forgotten.
  s.kernel.stacks[7] = {inside(stack_store_caller)};
  EXPECT_EQ(s.stacks.frames(1, pid, 7).size(), 2u);
  EXPECT_EQ(s.stacks.frames(2, pid, 7).size(), 1u) << "another image resolves on its own";
  s.stacks.forget(1);
  EXPECT_FALSE(s.stacks.has_frames(1, 7));
  EXPECT_EQ(s.stacks.frames(1, pid, 7).size(), 1u);
}

TEST(StackStore, BackgroundNamingLocatesNowAndNamesOnALaterCall) {
  FakeKernel kernel;
  AddressSpaces spaces;
  Symbolizer symbolizer{spaces, 256, Naming::Background};
  StackStore stacks{kernel, symbolizer, spaces, 4};
  const pid_t pid = ::getpid();
  kernel.stacks[9] = {inside(stack_store_leak_site), inside(stack_store_caller)};
  const StackStore::Resolved& first = stacks.resolved(1, pid, 9);
  ASSERT_EQ(first.frames.size(), 2u);
  // Located at once: module and offset, as the maps of the moment say.
  for (const Frame& f : first.frames) {
    EXPECT_FALSE(f.module.empty());
    EXPECT_GT(f.module_offset, 0u);
  }
  // Named once the worker has looked them up, by a later call.
  ASSERT_TRUE(symbolizer.wait_named(std::chrono::steady_clock::now() + std::chrono::seconds(30)));
  const StackStore::Resolved& later = stacks.resolved(1, pid, 9);
  EXPECT_TRUE(later.named());
  ASSERT_EQ(later.frames.size(), 2u);
  EXPECT_EQ(later.frames[0].function, "stack_store_leak_site");
  EXPECT_EQ(later.frames[1].function, "stack_store_caller");
  EXPECT_EQ(symbolizer.stats().names_pending, 0u);
  EXPECT_EQ(symbolizer.stats().frames_resolved, 2u);
}

TEST(StackStore, ComposedStacksAreInternedAndBounded) {
  Store s;
  EXPECT_EQ(s.stacks.intern({}), LS_STACK_UNKNOWN);
  int32_t a = s.stacks.intern({1, 2, 3});
  int32_t b = s.stacks.intern({1, 2, 4});
  EXPECT_GE(a, kUserStackBase);
  EXPECT_NE(a, b);
  EXPECT_EQ(s.stacks.intern({1, 2, 3}), a);
  EXPECT_EQ(s.stacks.addresses(a), (std::vector<uint64_t>{1, 2, 3}));
  s.stacks.intern({5});
  s.stacks.intern({6});
  EXPECT_EQ(s.stacks.intern({7}), LS_STACK_UNKNOWN) << "past max_user_stacks a new stack is unknown";
  EXPECT_EQ(s.stacks.intern({1, 2, 4}), b) << "known ones keep their id";
}

TEST(StackStore, ASyscallStackStartsAtTheWrappersCaller) {
  Store s;
  const pid_t pid = ::getpid();
  ASSERT_NE(s.spaces.observe(pid), nullptr);
  SyscallEvent e;
  e.tgid = static_cast<uint32_t>(pid);
  // frames[0] is inside the libc wrapper; its caller is a return address
  // among the top words of the stack, after words that are not code.
  e.frames = {0x1111, inside(stack_store_caller)};
  e.stack_top = {0x7fff0000, 42, inside(stack_store_leak_site), inside(stack_store_caller)};
  int32_t id = s.stacks.syscall_stack(pid, e);
  EXPECT_EQ(s.stacks.addresses(id), (std::vector<uint64_t>{inside(stack_store_leak_site), inside(stack_store_caller)}));
  const std::vector<Frame>& frames = s.stacks.frames(1, pid, id);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].function, "stack_store_leak_site");

  // No code word on top: the wrapper's caller is not known, the rest of the walk stands.
  e.stack_top = {1, 2, 3};
  EXPECT_EQ(s.stacks.addresses(s.stacks.syscall_stack(pid, e)), (std::vector<uint64_t>{inside(stack_store_caller)}));
  SyscallEvent bare;
  EXPECT_EQ(s.stacks.syscall_stack(pid, bare), LS_STACK_UNKNOWN) << "calls that create nothing carry no stack";
}

// A call site seen before its process's unwind tables loaded (walked by
// frame pointer, which stops early) and after (by CFI): one row, not two.
TEST(StackStore, FramePointerRowsFoldIntoTheirCfiTwin) {
  Store s;
  auto row = [](TraceId id, int32_t stack, bool fp, int64_t live) {
    LedgerRow r;
    r.trace_id = id;
    r.kind = Kind::Heap;
    r.stack_id = stack;
    r.fn = 0;
    r.fp_walked = fp;
    r.value.live_bytes = live;
    r.value.live_objects = 1;
    r.value.first_ns = static_cast<uint64_t>(live);
    return r;
  };
  s.kernel.stacks[1] = {10, 20, 30};          // FP: stopped after 30
  s.kernel.stacks[2] = {10, 20, 30, 40, 50};  // CFI: to _start
  s.kernel.stacks[3] = {11, 20};              // FP, with no twin
  s.kernel.stacks[4] = {12, 20};              // FP, with two candidate twins
  s.kernel.stacks[5] = {12, 20, 31};
  s.kernel.stacks[6] = {12, 20, 32};
  std::vector<LedgerRow> rows = {row(1, 1, true, 100), row(1, 2, false, 1000), row(1, 3, true, 7),
                                 row(1, 4, true, 9),   row(1, 5, false, 1),    row(1, 6, false, 2),
                                 row(2, 1, true, 5)};  // another image: no twin there
  s.stacks.fold_frame_pointer_rows(rows);
  ASSERT_EQ(rows.size(), 6u);
  auto find = [&](TraceId id, int32_t stack) -> const LedgerRow* {
    for (const LedgerRow& r : rows)
      if (r.trace_id == id && r.stack_id == stack) return &r;
    return nullptr;
  };
  EXPECT_EQ(find(1, 1), nullptr) << "folded";
  ASSERT_NE(find(1, 2), nullptr);
  EXPECT_EQ(find(1, 2)->value.live_bytes, 1100);
  EXPECT_EQ(find(1, 2)->value.live_objects, 2);
  EXPECT_EQ(find(1, 2)->value.first_ns, 100u) << "the earlier of the two";
  EXPECT_NE(find(1, 3), nullptr) << "no twin: kept";
  EXPECT_NE(find(1, 4), nullptr) << "two twins: which one is not known, kept";
  EXPECT_NE(find(2, 1), nullptr) << "twins are looked for in the same image only";
}

TEST(StackStore, NamedStacksAreOneByIdentityPerImageAndKeepTheirFirstFrames) {
  Store s;
  auto frame = [](const char* function, int line) {
    Frame f;
    f.function = function;
    f.file = "/srv/app.js";
    f.line = line;
    f.module = kJsModule;
    return f;
  };
  const int32_t a = s.stacks.intern_named(1, "handler", {frame("repeat", 0), frame("handler", 42)}, 1);
  EXPECT_GE(a, kNamedStackBase);
  // The same identity with other frames: the same stack, its first frames.
  EXPECT_EQ(s.stacks.intern_named(1, "handler", {frame("handler", 42)}, 0), a);
  const StackStore::Resolved& r = s.stacks.resolved(1, ::getpid(), a);
  ASSERT_EQ(r.frames.size(), 2u);
  EXPECT_EQ(r.frames[0].function, "repeat");
  EXPECT_EQ(r.leak_site, 1u);
  EXPECT_FALSE(r.truncated);
  // Another image, another identity: other stacks.
  const int32_t b = s.stacks.intern_named(2, "handler", {frame("handler", 42)}, 0);
  const int32_t c = s.stacks.intern_named(1, "cache", {frame("store", 52)}, 0);
  EXPECT_NE(b, a);
  EXPECT_NE(c, a);
  EXPECT_EQ(s.stacks.intern_named(1, "empty", {}, 0), LS_STACK_UNKNOWN);
  // A leak site past the end is the last frame.
  const int32_t d = s.stacks.intern_named(1, "past", {frame("f", 1)}, 9);
  EXPECT_EQ(s.stacks.resolved(1, ::getpid(), d).leak_site, 0u);
  // Bounded like composed stacks (4 here): the fifth identity is unknown.
  EXPECT_EQ(s.stacks.intern_named(3, "fifth", {frame("f", 1)}, 0), LS_STACK_UNKNOWN);
  // Forgetting an image drops its named stacks; an identity seen again
  // gets a new id.
  s.stacks.forget(1);
  EXPECT_FALSE(s.stacks.has_frames(1, a));
  EXPECT_NE(s.stacks.intern_named(1, "handler", {frame("handler", 42)}, 0), a);
}

}  // namespace
}  // namespace leakscope
