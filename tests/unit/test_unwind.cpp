// The CFI unwinder: synthetic frames with known rules, and this test
// binary's own stack (built -O2 without frame pointers) unwound through the
// symbolizer with the .eh_frame of the executable.
#include <dwarf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "symbols/symbolizer.h"
#include "symbols/unwind.h"
#include "target/address_space.h"
#include "target/proc_maps.h"

namespace leakscope {
namespace {

// A stack image under construction: words from `base` up.
struct FakeStack {
  uint64_t base = 0x7ffd0000;
  std::vector<uint8_t> bytes = std::vector<uint8_t>(512, 0);
  void put(uint64_t addr, uint64_t word) { std::memcpy(&bytes[addr - base], &word, 8); }
};

// CFA = reg + off; return address at CFA-8; rbp saved at CFA-16 if asked.
CfiRow row(int cfa_reg, int64_t cfa_off, bool rbp_saved) {
  CfiRow r;
  r.cfa = {CfiOp{DW_OP_bregx, static_cast<uint64_t>(cfa_reg), static_cast<uint64_t>(cfa_off)}};
  r.regs[kDwarfRip].type = CfiRule::Type::Expression;
  r.regs[kDwarfRip].ops = {CfiOp{DW_OP_call_frame_cfa, 0, 0},
                           CfiOp{DW_OP_plus_uconst, static_cast<uint64_t>(int64_t{-8}), 0}};
  if (rbp_saved) {
    r.regs[kDwarfRbp].type = CfiRule::Type::Expression;
    r.regs[kDwarfRbp].ops = {CfiOp{DW_OP_call_frame_cfa, 0, 0},
                             CfiOp{DW_OP_plus_uconst, static_cast<uint64_t>(int64_t{-16}), 0}};
  }
  return r;
}

// Two functions without frame pointers: at 0x1000 (CFA = rsp + 32) and
// around 0x2000 (CFA = rsp + 16); nothing else has CFI.
std::optional<CfiRow> two_functions(uint64_t pc) {
  if (pc >= 0x1000 && pc < 0x1100) return row(kDwarfRsp, 32, false);
  if (pc >= 0x1f00 && pc < 0x2100) return row(kDwarfRsp, 16, false);
  return std::nullopt;
}

TEST(UnwindTest, CfiFramesWithoutFramePointersThenAFramePointerChain) {
  FakeStack st;
  const uint64_t sp = st.base;
  // Frame 0 (pc 0x1000, no frame pointer, rbp holds garbage): 24 bytes of
  // locals, return address to 0x2000 at sp+24.
  st.put(sp + 24, 0x2000);
  // Frame 1 (pc 0x2000, CFA = rsp + 16 after its push-free body): return
  // to 0x3000 at sp+32+8.
  st.put(sp + 40, 0x3000);
  // Frame 2 (pc 0x3000, frame pointer code without CFI): rbp = sp+64,
  // saved rbp (outer) at [rbp], return address 0x4000 at [rbp+8].
  st.put(sp + 64, sp + 96);
  st.put(sp + 72, 0x4000);
  // Frame 3 (0x4000, no CFI either): [sp+96] = 0 ends the chain with a
  // zero return address.
  StackSnapshot snap;
  snap.regs[kDwarfRip] = 0x1000;
  snap.regs[kDwarfRsp] = sp;
  snap.regs[kDwarfRbp] = sp + 64;  // frame 0 and 1 leave rbp alone
  snap.stack_base = st.base;
  snap.stack = st.bytes;
  EXPECT_EQ(unwind_stack(snap, two_functions, 32),
            (std::vector<uint64_t>{0x1000, 0x2000, 0x3000, 0x4000}));
  // The frame-pointer walk alone, from frame 0, would have gone astray: it
  // knows nothing of frames 0 and 1.
  auto no_cfi = [](uint64_t) -> std::optional<CfiRow> { return std::nullopt; };
  EXPECT_EQ(unwind_stack(snap, no_cfi, 32), (std::vector<uint64_t>{0x1000, 0x4000}));
  // max_frames is honoured.
  EXPECT_EQ(unwind_stack(snap, two_functions, 2).size(), 2u);
}

TEST(UnwindTest, AReturnAddressHijackedByAUretprobeIsPutBack) {
  FakeStack st;
  const uint64_t sp = st.base;
  const uint64_t trampoline = 0x7fffffffe000;
  st.put(sp + 24, trampoline);  // malloc's return address, taken by a uretprobe
  st.put(sp + 40, 0x3000);
  StackSnapshot snap;
  snap.regs[kDwarfRip] = 0x1000;
  snap.regs[kDwarfRsp] = sp;
  snap.stack_base = st.base;
  snap.stack = st.bytes;
  // Without the kernel's record the walk cannot go past the trampoline.
  snap.trampoline = trampoline;
  EXPECT_EQ(unwind_stack(snap, two_functions, 32), (std::vector<uint64_t>{0x1000}));
  // With it the real caller is back, and the walk goes on through its CFI.
  snap.hijacked = {0x2000};
  EXPECT_EQ(unwind_stack(snap, two_functions, 32), (std::vector<uint64_t>{0x1000, 0x2000, 0x3000}));
}

TEST(UnwindTest, StopsAtTheEndOfTheCopyAndAtAFrameThatDoesNotMoveUp) {
  FakeStack st;
  StackSnapshot snap;
  snap.regs[kDwarfRip] = 0x1000;
  snap.regs[kDwarfRsp] = st.base;
  snap.stack_base = st.base;
  snap.stack = st.bytes;
  // CFA far beyond the copy: the return address cannot be read.
  auto far = [](uint64_t) -> std::optional<CfiRow> { return row(kDwarfRsp, 4096, false); };
  EXPECT_EQ(unwind_stack(snap, far, 32), (std::vector<uint64_t>{0x1000}));
  // A CFA below the stack pointer is garbage, not a caller.
  st.put(st.base, 0x5000);
  auto down = [](uint64_t) -> std::optional<CfiRow> { return row(kDwarfRsp, 0, false); };
  snap.stack = st.bytes;
  EXPECT_EQ(unwind_stack(snap, down, 32), (std::vector<uint64_t>{0x1000}));
}

TEST(UnwindTest, EvaluatesThePltStyleExpression) {
  // rsp + 8 + ((rip & 15) >= 11 ? 8 : 0), as glibc's PLT CFI says.
  std::vector<CfiOp> ops = {{DW_OP_breg7, 8, 0}, {DW_OP_breg16, 0, 0}, {DW_OP_lit15, 0, 0},
                            {DW_OP_and, 0, 0},   {DW_OP_lit11, 0, 0},  {DW_OP_ge, 0, 0},
                            {DW_OP_lit3, 0, 0},  {DW_OP_shl, 0, 0},    {DW_OP_plus, 0, 0}};
  std::array<std::optional<uint64_t>, kDwarfRegs> regs{};
  regs[kDwarfRsp] = 0x1000;
  StackSnapshot snap;
  bool is_value = false;
  regs[kDwarfRip] = 0x40000c;  // & 15 = 12 >= 11
  EXPECT_EQ(eval_cfi(ops, regs, std::nullopt, snap, &is_value), 0x1010u);
  regs[kDwarfRip] = 0x400002;
  EXPECT_EQ(eval_cfi(ops, regs, std::nullopt, snap, &is_value), 0x1008u);
  regs[kDwarfRip].reset();  // an unknown register fails the whole expression
  EXPECT_EQ(eval_cfi(ops, regs, std::nullopt, snap, &is_value), std::nullopt);
}

// --- this process's own stack -------------------------------------------

std::vector<uint8_t> g_copy;
StackSnapshot g_snapshot;

// Registers and the stack above them at one instant, in this frame.
__attribute__((noinline)) void unwind_capture_here() {
  uint64_t regs[kDwarfRegs] = {};
  asm volatile(
      "lea 0(%%rip), %%rax\n\t"
      "mov %%rax, 128(%0)\n\t"
      "mov %%rbx, 24(%0)\n\t"
      "mov %%rbp, 48(%0)\n\t"
      "mov %%rsp, 56(%0)\n\t"
      "mov %%r12, 96(%0)\n\t"
      "mov %%r13, 104(%0)\n\t"
      "mov %%r14, 112(%0)\n\t"
      "mov %%r15, 120(%0)\n\t"
      :
      : "r"(regs)
      : "rax", "memory");
  const uint64_t sp = regs[kDwarfRsp];
  // Copy up to 12 KiB, never past the end of the stack's mapping.
  uint64_t end = sp + 12288;
  auto maps = read_maps(::getpid());
  for (const MapEntry& m : maps.value())
    if (m.contains(sp)) end = std::min(end, m.end);
  g_copy.assign(reinterpret_cast<const uint8_t*>(sp), reinterpret_cast<const uint8_t*>(end));
  for (int r = 0; r < kDwarfRegs; ++r) g_snapshot.regs[r] = regs[r];
  g_snapshot.stack_base = sp;
  g_snapshot.stack = g_copy;
}

__attribute__((noinline)) int unwind_inner(int x) {
  unwind_capture_here();
  asm volatile("" ::: "memory");
  return x + 1;
}

__attribute__((noinline)) int unwind_middle(int x) {
  int y = unwind_inner(x * 2);
  asm volatile("" ::: "memory");
  return y + 3;
}

__attribute__((noinline)) int unwind_outer(int x) {
  int y = unwind_middle(x + 5);
  asm volatile("" ::: "memory");
  return y * 7;
}

TEST(UnwindTest, OwnStackUnwindsThroughTheExecutablesCfi) {
  ASSERT_GT(unwind_outer(1), 0);
  AddressSpaces spaces;
  Symbolizer symbolizer(spaces);
  spaces.observe(::getpid());
  std::vector<uint64_t> pcs = symbolizer.unwind(::getpid(), g_snapshot, 32);
  ASSERT_GE(pcs.size(), 4u);
  std::vector<std::string> names;
  for (size_t i = 0; i < pcs.size(); ++i)
    // The first pc is the instruction itself; the others are return
    // addresses, which resolve() looks up one byte back.
    names.push_back(symbolizer.resolve(::getpid(), i == 0 ? pcs[i] + 1 : pcs[i]).function);
  auto at = [&](const std::string& fn) {
    return std::find_if(names.begin(), names.end(),
                        [&](const std::string& n) { return n.find(fn) != std::string::npos; }) -
           names.begin();
  };
  std::string all;
  for (const auto& n : names) all += n + " <- ";
  EXPECT_EQ(at("unwind_capture_here"), 0) << all;
  EXPECT_EQ(at("unwind_inner"), 1) << all;
  EXPECT_EQ(at("unwind_middle"), 2) << all;
  EXPECT_EQ(at("unwind_outer"), 3) << all;
  // And on, through gtest, to main.
  EXPECT_LT(at("main"), static_cast<long>(names.size())) << all;
}

}  // namespace
}  // namespace leakscope
