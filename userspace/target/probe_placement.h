// Where to put an allocator's entry uprobe so the kernel emulates the
// probed instruction instead of single-stepping it. On these machines a
// single-stepped probe costs ~19,700 ns a hit and an emulated one (a `push`)
// ~5,600: glibc's free begins with `test %rdi,%rdi` (single-stepped), and
// its first `push` comes right after the NULL check.
//
// The rule: decode the function's first instructions and take the first
// `push` of a register that every non-trivial path reaches with the
// argument registers and the stack pointer as they were at entry. Only a
// NULL check of the first argument may branch away before it, and only for
// functions where a NULL first argument does nothing (free). Anything else
// — another branch, a call, a write to an argument register or to %rsp, an
// instruction the decoder does not know — keeps the probe at the entry.
// Functions with a return probe stay at the entry anyway: the return probe
// is a breakpoint there already.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace leakscope {

struct Placement {
  uint64_t delta = 0;       // bytes after the function's entry
  std::string instruction;  // the probed instruction, "push rbp"; empty when unknown
  std::string reason;       // why here, for -v
};

struct PlacementRules {
  unsigned argument_registers = 1;  // the probe reads rdi, rsi, rdx, ... up to this many
  bool null_first_argument_is_noop = false;  // free(NULL): a NULL check may be skipped
};

// `code`: the function's first bytes (32 are plenty), x86-64.
Placement place_entry_probe(std::span<const uint8_t> code, const PlacementRules& rules);

// Whether a function taking a block in its first argument only hands it on:
// its first instructions (after endbr64 and nops) are register moves that
// leave %rdi and %rsp alone, then an unconditional jmp (libstdc++'s
// `operator delete(void*, size_t)`: `jmp operator delete(void*)`; mimalloc's
// mi_free_size: `jmp mi_free`). Then the function jumped to frees the block,
// and a probe on the forwarder would see the same free twice. Anything else
// — a branch, a call, a memory operand, an unknown instruction — is not.
bool tail_forwards(std::span<const uint8_t> code);

}  // namespace leakscope
