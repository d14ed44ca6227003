// Entry probes go on an instruction the kernel emulates when that is safe.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "target/allocator.h"
#include "target/elf_file.h"
#include "target/probe_placement.h"

namespace leakscope {
namespace {

const PlacementRules kFree{1, true};
const PlacementRules kMalloc{1, false};

TEST(ProbePlacement, GlibcFreeMovesPastTheNullCheckToItsFirstPush) {
  // test %rdi,%rdi ; je +0xbf ; push %rbp ; lea -0x10(%rdi),%rsi
  std::vector<uint8_t> code = {0x48, 0x85, 0xff, 0x0f, 0x84, 0xbf, 0x00, 0x00,
                               0x00, 0x55, 0x48, 0x8d, 0x77, 0xf0};
  Placement p = place_entry_probe(code, kFree);
  EXPECT_EQ(p.delta, 9u);
  EXPECT_EQ(p.instruction, "push rbp");
}

TEST(ProbePlacement, AFunctionThatStartsWithAPushStaysAtItsEntry) {
  std::vector<uint8_t> code = {0x41, 0x54, 0x55, 0x53};  // push r12; push rbp; push rbx
  Placement p = place_entry_probe(code, kMalloc);
  EXPECT_EQ(p.delta, 0u);
  EXPECT_EQ(p.instruction, "push r12");
}

TEST(ProbePlacement, EndbrAndNopsAreSteppedOver) {
  // endbr64 ; nop ; push %rbx
  std::vector<uint8_t> code = {0xf3, 0x0f, 0x1e, 0xfa, 0x90, 0x53};
  EXPECT_EQ(place_entry_probe(code, kMalloc).delta, 5u);
}

TEST(ProbePlacement, ANullCheckIsSkippedOnlyWhereNullDoesNothing) {
  std::vector<uint8_t> code = {0x48, 0x85, 0xff, 0x74, 0x10, 0x55};  // test rdi; je; push rbp
  EXPECT_EQ(place_entry_probe(code, kFree).delta, 5u);
  // realloc(NULL, n) is malloc(n): its NULL path is not trivial.
  EXPECT_EQ(place_entry_probe(code, PlacementRules{2, false}).delta, 0u);
}

TEST(ProbePlacement, ABranchOnAnythingElseKeepsTheEntry) {
  // test %rsi,%rsi ; je ; push %rbp
  std::vector<uint8_t> code = {0x48, 0x85, 0xf6, 0x74, 0x10, 0x55};
  EXPECT_EQ(place_entry_probe(code, kFree).delta, 0u);
  // cmpb $0,0x10(%rip) ; je ; push %r12  (memalign's start)
  std::vector<uint8_t> hook = {0x80, 0x3d, 0x10, 0x00, 0x00, 0x00, 0x00, 0x74, 0x07, 0x41, 0x54};
  EXPECT_EQ(place_entry_probe(hook, kFree).delta, 0u);
}

TEST(ProbePlacement, WritingAnArgumentRegisterOrTheStackKeepsTheEntry) {
  // mov %rsi,%rdi ; push %rbp: the probe would read a changed first argument
  std::vector<uint8_t> clobber = {0x48, 0x89, 0xf7, 0x55};
  EXPECT_EQ(place_entry_probe(clobber, kFree).delta, 0u);
  // mov %rdi,%rax ; push %rbp: reading it is fine
  std::vector<uint8_t> reads = {0x48, 0x89, 0xf8, 0x55};
  EXPECT_EQ(place_entry_probe(reads, kFree).delta, 3u);
  // sub $8,%rsp ; push %rbp: the stack pointer moved
  std::vector<uint8_t> stack = {0x48, 0x83, 0xec, 0x08, 0x55};
  EXPECT_EQ(place_entry_probe(stack, kFree).delta, 0u);
  // mov %rsi,%rdx ; push: a second argument the probe reads for calloc
  std::vector<uint8_t> second = {0x48, 0x89, 0xf2, 0x55};
  EXPECT_EQ(place_entry_probe(second, PlacementRules{3, false}).delta, 0u);
  EXPECT_EQ(place_entry_probe(second, PlacementRules{1, false}).delta, 3u);
}

TEST(ProbePlacement, CallsAndGarbageKeepTheEntry) {
  std::vector<uint8_t> call = {0xe8, 0x00, 0x00, 0x00, 0x00, 0x55};
  EXPECT_EQ(place_entry_probe(call, kFree).delta, 0u);
  std::vector<uint8_t> garbage = {0x0f, 0x0b};  // ud2
  EXPECT_EQ(place_entry_probe(garbage, kFree).delta, 0u);
  EXPECT_EQ(place_entry_probe({}, kFree).delta, 0u);
}

TEST(ProbePlacement, AJumpWithTheBlockUntouchedForwards) {
  // endbr64 ; jmp free@plt: libstdc++'s operator delete(void*)
  EXPECT_TRUE(tail_forwards(std::vector<uint8_t>{0xf3, 0x0f, 0x1e, 0xfa, 0xe9, 0x10, 0x20, 0x00, 0x00}));
  // mov %rdx,%rsi ; jmp: operator delete(void*, size_t, align_val_t)
  EXPECT_TRUE(tail_forwards(std::vector<uint8_t>{0x48, 0x89, 0xd6, 0xe9, 0x10, 0x20, 0x00, 0x00}));
  // jmp *0x1234(%rip): a call through the GOT (-fno-plt)
  EXPECT_TRUE(tail_forwards(std::vector<uint8_t>{0xff, 0x25, 0x34, 0x12, 0x00, 0x00}));
}

TEST(ProbePlacement, AnythingElseBeforeTheJumpDoesNotForward) {
  // test %rdi,%rdi ; je: jemalloc's sized delete checks for NULL and frees itself
  EXPECT_FALSE(tail_forwards(std::vector<uint8_t>{0x48, 0x85, 0xff, 0x74, 0x13}));
  // mov %rsi,%rdi ; jmp: the block is not what is handed on
  EXPECT_FALSE(tail_forwards(std::vector<uint8_t>{0x48, 0x89, 0xf7, 0xe9, 0x10, 0x20, 0x00, 0x00}));
  // push %rbp: a function of its own
  EXPECT_FALSE(tail_forwards(std::vector<uint8_t>{0x55, 0x48, 0x89, 0xe5}));
  // mov 0x10(%rip),%rax ; jmp: reads memory first
  EXPECT_FALSE(tail_forwards(std::vector<uint8_t>{0x48, 0x8b, 0x05, 0x10, 0x00, 0x00, 0x00, 0xe9, 0, 0, 0, 0}));
  EXPECT_FALSE(tail_forwards({}));
}

// This machine's libc, planned the way a target's would be: free is probed
// on its first push, every function with a return probe at its entry.
TEST(ProbePlacement, ThisMachinesLibcFreeIsProbedOnAnEmulatedPush) {
  AllocatorPlan plan = plan_allocator_in_files(
      {{"/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6"}}, false);
  bool saw_free = false;
  for (const ProbeSite& site : plan.sites) {
    if (site.shape == AllocShape::Free) {
      saw_free = true;
      EXPECT_GT(site.file_offset, site.entry_offset) << site.placement;
      EXPECT_LT(site.file_offset - site.entry_offset, 16u) << site.placement;
      EXPECT_NE(site.placement.find("push"), std::string::npos) << site.placement;
      auto elf = ElfFile::open(site.attach_path, nullptr);
      ASSERT_TRUE(elf.has_value());
      // The byte probed is a push (0x50-0x57, or 0x41 0x50-0x57).
      auto bytes = elf->read_bytes(site.file_offset, 2);
      ASSERT_EQ(bytes.size(), 2u);
      bool push = (bytes[0] >= 0x50 && bytes[0] <= 0x57) ||
                  (bytes[0] == 0x41 && bytes[1] >= 0x50 && bytes[1] <= 0x57);
      EXPECT_TRUE(push) << site.placement;
    } else {
      EXPECT_EQ(site.file_offset, site.entry_offset) << site.symbol;
    }
  }
  EXPECT_TRUE(saw_free);
}

}  // namespace
}  // namespace leakscope
