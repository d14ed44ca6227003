// A module's call-frame information (CFI) compiled into the table the
// kernel-side unwinder reads (format: bpf/leakscope.h, "Unwinding by
// call-frame information in the kernel"): ranges of code, each with a packed
// rule saying how to find the caller's CFA, return address and %rbp.
//
// Everything read from the module's file is untrusted (the file belongs to a
// traced process and this runs as root): malformed CFI skips the FDE it is
// in or fails the whole module with a one-line reason, sizes are capped, and
// the lookup bounds-checks every word it reads.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace leakscope {

// A compiled table: `words` is exactly what goes into the kernel's map.
struct UnwindTable {
  uint64_t base = 0;  // ELF vaddr row offsets count from (= words[0])
  std::vector<uint64_t> words;

  size_t rows() const;
  size_t pages() const;
  size_t bytes() const { return words.size() * sizeof(uint64_t); }
};

// One range of code [start, end) (ELF virtual addresses) and its rule.
struct UnwindRange {
  uint64_t start = 0;
  uint64_t end = 0;
  uint32_t rule = 0;
};

// What a compile saw, for logs and measurements.
struct UnwindTableStats {
  size_t fdes = 0;          // FDEs with a non-empty range
  size_t fdes_skipped = 0;  // unreadable: bad pointer encoding, libdw errors
  size_t fdes_overlapping = 0;  // start inside code an earlier FDE covers
  size_t fdes_too_large = 0;    // skipped: over limits.max_fde_bytes (counted in fdes_skipped too)
  // libdw runs an FDE's instructions from its start for each of its rows:
  // the sum, over rows, of their FDE's size in bytes (see max_cfi_work).
  uint64_t cfi_work = 0;
  std::array<size_t, 6> rows_by_kind{};  // by enum ls_cfa_kind, after merging
  // Why rules were LS_CFA_INVALID (before merging: one count per CFI row),
  // e.g. "cfa=expr(breg7 deref)" or "ra=expr(...)".
  std::map<std::string, size_t> invalid_reasons;
  // Set when the compile failed because the module broke one of the
  // UnwindTableLimits: the reason, as in *error.
  std::string limit_hit;
};

// Caps on what one module may cost.
struct UnwindTableLimits {
  size_t max_rows = size_t{8} << 20;   // rows of the finished table
  size_t max_fdes = size_t{4} << 20;   // FDEs read from the section
  // .eh_frame / .debug_frame larger than this are not read (node's .eh_frame:
  // under 8 MiB).
  uint64_t max_section_bytes = uint64_t{128} << 20;
  // The cost of a module is quadratic in the size of its FDEs (each row
  // re-runs its FDE's instructions): real FDEs are at most a few KiB (node's
  // largest: 3 KiB), so a larger one is skipped as malformed, and the
  // module fails past a total of `max_cfi_work` (node needs under 1/40th).
  size_t max_fde_bytes = size_t{64} << 10;
  uint64_t max_cfi_work = uint64_t{1} << 30;
};

// Packs a rule (bpf/leakscope.h: LS_RULE_*): LS_CFA_INVALID when the offsets
// do not fit the rule's fields (CFA offset 0 .. LS_RULE_MAX_CFA_OFFSET; %rbp
// offset a multiple of 8 in -1024 .. 1016).
uint32_t make_unwind_rule(unsigned cfa_kind, uint32_t cfa_offset, unsigned rbp_kind,
                          int32_t rbp_offset);

// Builds a table from ranges: sorted here, adjacent ranges with the same rule
// merged, gaps filled with LS_CFA_NONE rows and a final NONE row added.
// Where ranges overlap, the one that starts first keeps the overlapped code
// (of equal starts the shorter, then the earlier in `ranges`).
// nullopt with *error when the covered code spans more than 32 bits of
// offset or the rows exceed `limits.max_rows`.
std::optional<UnwindTable> build_unwind_table(std::vector<UnwindRange> ranges,
                                              std::string* error,
                                              const UnwindTableLimits& limits = {});

// Compiles the CFI of the ELF file at `path` (or open file `fd`, not closed
// here): .eh_frame, else .debug_frame. nullopt with a one-line *error when the
// file is not ELF, has no CFI, or breaks a limit. The path version notes a
// limit that bites (core/input_limits.h), naming the file as readlink does
// for /proc/.../fd/N and /proc/PID/map_files/... paths.
std::optional<UnwindTable> compile_unwind_table(const std::string& path, std::string* error,
                                                UnwindTableStats* stats = nullptr,
                                                const UnwindTableLimits& limits = {});
std::optional<UnwindTable> compile_unwind_table_fd(int fd, std::string* error,
                                                   UnwindTableStats* stats = nullptr,
                                                   const UnwindTableLimits& limits = {});

// The rule of the row covering `elf_vaddr`, as the kernel side finds it: page
// p = (vaddr - base) >> LS_UNWIND_PAGE_SHIFT, then the last row with offset
// <= the vaddr's among rows [index[p] - 1 (at least 0), index[p + 1]).
// LS_CFA_NONE (0) outside the table or when the words are inconsistent.
uint32_t unwind_rule_at(std::span<const uint64_t> words, uint64_t elf_vaddr);

}  // namespace leakscope
