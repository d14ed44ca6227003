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

}  // namespace
}  // namespace leakscope
