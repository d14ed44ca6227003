// Unwinding a copied user stack with call-frame information (CFI). Used for
// stacks captured where frame pointers cannot be trusted: a page fault lands
// inside an allocator built without them (glibc's _int_malloc), where %rbp is
// a general register and a frame-pointer walk goes astray. The CFI of the
// module holding each pc says where the caller's frame and registers are;
// frames without CFI (JIT code) fall back to the frame-pointer chain.
//
// Pure: registers and stack bytes in, return addresses out. Where the rules
// come from (the modules' .eh_frame) is the caller's business.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

namespace leakscope {

// x86_64 DWARF register numbers (the ones the unwinder names).
inline constexpr int kDwarfRbp = 6;
inline constexpr int kDwarfRsp = 7;
inline constexpr int kDwarfRip = 16;  // the return-address column
inline constexpr int kDwarfRegs = 17;

// One DWARF expression operation, as libdw hands it out.
struct CfiOp {
  uint8_t atom = 0;
  uint64_t number = 0;
  uint64_t number2 = 0;
};

// How to find the caller's value of one register.
struct CfiRule {
  enum class Type { Undefined, SameValue, Expression };
  Type type = Type::SameValue;
  // Type::Expression: a location (the value is read from memory there), or,
  // when it ends with DW_OP_stack_value, the value itself. DW_OP_call_frame_cfa
  // pushes this frame's CFA.
  std::vector<CfiOp> ops;
};

// The CFI row covering one pc.
struct CfiRow {
  std::vector<CfiOp> cfa;  // an expression that yields the CFA
  std::array<CfiRule, kDwarfRegs> regs{};
};

// The state of a thread at one instant: its registers in DWARF order and a
// copy of its stack from `stack_base` (= the stack pointer) up.
struct StackSnapshot {
  std::array<uint64_t, kDwarfRegs> regs{};
  uint64_t stack_base = 0;
  std::span<const uint8_t> stack;
  // A uretprobe replaces the return address it hijacks with the address of
  // its trampoline: each time the unwinder meets `trampoline` as a return
  // address it takes the next of `hijacked` (innermost first) instead.
  uint64_t trampoline = 0;
  std::vector<uint64_t> hijacked;

  // The 8-byte word at `addr`, when it lies inside the copy.
  std::optional<uint64_t> word_at(uint64_t addr) const;
};

// The rule row for `pc` (the instruction itself, not a return address), or
// nullopt when no CFI covers it.
using CfiLookup = std::function<std::optional<CfiRow>(uint64_t pc)>;

// Evaluates a CFI expression. `cfa` is pushed by DW_OP_call_frame_cfa;
// registers come from `regs` (nullopt where unknown). nullopt when an
// operation is unsupported, reads an unknown register or memory outside the
// copy. `*is_value` tells a DW_OP_stack_value result (a value) from a location.
std::optional<uint64_t> eval_cfi(std::span<const CfiOp> ops,
                                 const std::array<std::optional<uint64_t>, kDwarfRegs>& regs,
                                 std::optional<uint64_t> cfa, const StackSnapshot& snapshot,
                                 bool* is_value);

// Return addresses of the stack, innermost first; the first entry is the pc
// itself. Stops at an undefined return address, a zero pc, a frame that does
// not move up the stack, a read outside the copy, or `max_frames`.
std::vector<uint64_t> unwind_stack(const StackSnapshot& snapshot, const CfiLookup& lookup,
                                   size_t max_frames);

}  // namespace leakscope
