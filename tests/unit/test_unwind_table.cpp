#include "symbols/unwind_table.h"

#include <fcntl.h>
#include <gelf.h>
#include <gtest/gtest.h>
#include <libelf.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string_view>

#include "core/input_limits.h"
#include "leakscope.h"
#include "symbols/module.h"
#include "target/elf_file.h"

namespace leakscope {
namespace {

namespace fs = std::filesystem;

constexpr const char* kLibc = "/lib/x86_64-linux-gnu/libc.so.6";
constexpr const char* kLibstdcxx = "/usr/lib/x86_64-linux-gnu/libstdc++.so.6";

// ---- An independent translation of libdw's answer (through Module's CfiRow
// path, not the compiler's) into the rule the table should hold. ----

bool is_cfa_plus(const std::vector<CfiOp>& ops, int64_t* k) {
  if (ops.empty() || ops.size() > 2 || ops[0].atom != 0x9c /* DW_OP_call_frame_cfa */)
    return false;
  if (ops.size() == 1) {
    *k = 0;
    return true;
  }
  if (ops[1].atom != 0x23 /* DW_OP_plus_uconst */) return false;
  *k = static_cast<int64_t>(ops[1].number);
  return true;
}

uint32_t expected_rule(const std::optional<CfiRow>& row) {
  if (!row) return LS_CFA_NONE;
  const CfiRule& ra = row->regs[kDwarfRip];
  if (ra.type == CfiRule::Type::Undefined) return LS_CFA_END;
  int64_t k = 0;
  if (ra.type != CfiRule::Type::Expression || !is_cfa_plus(ra.ops, &k) || k != -8)
    return LS_CFA_INVALID;

  uint32_t kind = LS_CFA_INVALID;
  int64_t cfa_offset = 0;
  const auto& cfa = row->cfa;
  if (cfa.size() == 1 && cfa[0].atom == 0x92 /* DW_OP_bregx */ &&
      (cfa[0].number == 7 || cfa[0].number == 6)) {
    kind = cfa[0].number == 7 ? LS_CFA_RSP : LS_CFA_RBP;
    cfa_offset = static_cast<int64_t>(cfa[0].number2);
  } else if (cfa.size() == 1 && (cfa[0].atom == 0x77 || cfa[0].atom == 0x76)) {  // breg7/6
    kind = cfa[0].atom == 0x77 ? LS_CFA_RSP : LS_CFA_RBP;
    cfa_offset = static_cast<int64_t>(cfa[0].number);
  } else {
    const std::vector<std::pair<uint8_t, uint64_t>> plt = {
        {0x77, 8}, {0x80, 0}, {0x3f, 0}, {0x1a, 0}, {0x3b, 0},
        {0x2a, 0}, {0x33, 0}, {0x24, 0}, {0x22, 0}};
    if (cfa.size() != plt.size()) return LS_CFA_INVALID;
    for (size_t i = 0; i < plt.size(); ++i)
      if (cfa[i].atom != plt[i].first || cfa[i].number != plt[i].second) return LS_CFA_INVALID;
    kind = LS_CFA_PLT;
  }
  if (cfa_offset < 0 || cfa_offset > LS_RULE_MAX_CFA_OFFSET) return LS_CFA_INVALID;

  uint32_t rbp_kind = LS_RBP_UNKNOWN;
  uint32_t slot = 0;
  const CfiRule& rbp = row->regs[kDwarfRbp];
  if (rbp.type == CfiRule::Type::SameValue) {
    rbp_kind = LS_RBP_SAME;
  } else if (rbp.type == CfiRule::Type::Expression && is_cfa_plus(rbp.ops, &k) && k % 8 == 0 &&
             k >= -1024 && k <= 1016) {
    rbp_kind = LS_RBP_SAVED;
    slot = static_cast<uint8_t>(k / 8);
  }
  return kind | rbp_kind << 3 | slot << 5 | static_cast<uint32_t>(cfa_offset) << 13;
}

struct Row {
  uint64_t vaddr;
  uint32_t rule;
};

std::vector<Row> rows_of(const UnwindTable& t) {
  std::vector<Row> rows;
  const size_t at = LS_UNWIND_HEADER_WORDS + t.pages() + 1;
  for (size_t i = 0; i < t.rows(); ++i)
    rows.push_back({t.base + (t.words[at + i] >> 32), static_cast<uint32_t>(t.words[at + i])});
  return rows;
}

// Every row's first and last byte and its middle, plus the bytes around the
// table, agree with libdw.
void expect_agrees_with_libdw(const std::string& path) {
  std::string error;
  UnwindTableStats stats;
  auto table = compile_unwind_table(path, &error, &stats);
  ASSERT_TRUE(table) << error;
  auto module = Module::open(path, &error);
  ASSERT_TRUE(module) << error;
  const std::vector<Row> rows = rows_of(*table);
  ASSERT_GE(rows.size(), 2u);
  EXPECT_EQ(rows.back().rule, uint32_t{LS_CFA_NONE});

  size_t checked = 0, mismatches = 0;
  auto check = [&](uint64_t vaddr) {
    ++checked;
    const uint32_t got = unwind_rule_at(table->words, vaddr);
    const uint32_t want = expected_rule(module->cfi_row(vaddr));
    if (got != want && ++mismatches <= 10)
      ADD_FAILURE() << path << " at " << std::hex << vaddr << ": table " << got << ", libdw "
                    << want;
  };
  check(rows.front().vaddr - 1);
  check(table->base - 1);
  for (size_t i = 0; i + 1 < rows.size(); ++i) {
    const uint64_t start = rows[i].vaddr, end = rows[i + 1].vaddr;
    EXPECT_NE(rows[i].rule, rows[i + 1].rule) << "unmerged rows at " << std::hex << start;
    check(start);
    check(end - 1);
    if (end - start > 2) check(start + (end - start) / 2);
  }
  check(rows.back().vaddr);
  check(rows.back().vaddr + 12345);
  EXPECT_EQ(mismatches, 0u) << "of " << checked << " addresses in " << path;
  EXPECT_EQ(stats.fdes_skipped, 0u) << path;
}

TEST(UnwindTableLibdw, LibcAgrees) { expect_agrees_with_libdw(kLibc); }
TEST(UnwindTableLibdw, LibstdcxxAgrees) { expect_agrees_with_libdw(kLibstdcxx); }
TEST(UnwindTableLibdw, TestBinaryAgrees) { expect_agrees_with_libdw("/proc/self/exe"); }

// Programs the tracer is pointed at, when this machine has them.
TEST(UnwindTableLibdw, InstalledProgramsAgree) {
  for (const char* path : {"/usr/bin/redis-server", "/usr/bin/python3.11"})
    if (fs::exists(path)) expect_agrees_with_libdw(path);
}

// The big one: 370k rows, about a second through Module.
TEST(UnwindTableLibdw, NodeAgrees) {
  if (!fs::exists("/usr/bin/node")) GTEST_SKIP() << "no /usr/bin/node";
  expect_agrees_with_libdw("/usr/bin/node");
}

// ---- Synthetic tables ----

constexpr uint32_t kA = LS_CFA_RSP | (16u << 13);
constexpr uint32_t kB = LS_CFA_RBP | (LS_RBP_SAVED << 3) | (0xfeu << 5) | (16u << 13);
constexpr uint32_t kC = LS_CFA_PLT;

UnwindTable build(std::vector<UnwindRange> ranges, const UnwindTableLimits& limits = {}) {
  std::string error;
  auto t = build_unwind_table(std::move(ranges), &error, limits);
  EXPECT_TRUE(t) << error;
  return t ? *t : UnwindTable{};
}

TEST(UnwindTable, RulePacksAsTheHeaderReadsIt) {
  const uint32_t r = make_unwind_rule(LS_CFA_RBP, 4096, LS_RBP_SAVED, -16);
  EXPECT_EQ(LS_RULE_CFA_KIND(r), uint32_t{LS_CFA_RBP});
  EXPECT_EQ(LS_RULE_RBP_KIND(r), uint32_t{LS_RBP_SAVED});
  EXPECT_EQ(LS_RULE_RBP_OFFSET(r), -16);
  EXPECT_EQ(LS_RULE_CFA_OFFSET(r), 4096u);
  EXPECT_EQ(LS_RULE_RBP_OFFSET(make_unwind_rule(LS_CFA_RSP, 8, LS_RBP_SAVED, 1016)), 1016);
  EXPECT_EQ(LS_RULE_RBP_OFFSET(make_unwind_rule(LS_CFA_RSP, 8, LS_RBP_SAVED, -1024)), -1024);
  EXPECT_EQ(make_unwind_rule(LS_CFA_RSP, LS_RULE_MAX_CFA_OFFSET + 1, LS_RBP_SAME, 0),
            uint32_t{LS_CFA_INVALID});
  EXPECT_EQ(make_unwind_rule(LS_CFA_RSP, 8, LS_RBP_SAVED, 1024), uint32_t{LS_CFA_INVALID});
  EXPECT_EQ(make_unwind_rule(LS_CFA_RSP, 8, LS_RBP_SAVED, -12), uint32_t{LS_CFA_INVALID});
  EXPECT_EQ(kB, make_unwind_rule(LS_CFA_RBP, 16, LS_RBP_SAVED, -16));
}

TEST(UnwindTable, GapsAndBothEndsAreNone) {
  const UnwindTable t = build({{0x401010, 0x401020, kA}, {0x401030, 0x401040, kB}});
  EXPECT_EQ(t.base, 0x401000u);
  EXPECT_EQ(t.words[0], t.base);
  EXPECT_EQ(t.rows(), 4u);  // A, NONE, B, NONE
  EXPECT_EQ(t.pages(), 1u);
  EXPECT_EQ(unwind_rule_at(t.words, 0), uint32_t{LS_CFA_NONE});
  EXPECT_EQ(unwind_rule_at(t.words, 0x400fff), uint32_t{LS_CFA_NONE});
  EXPECT_EQ(unwind_rule_at(t.words, 0x401000), uint32_t{LS_CFA_NONE});  // base, before row 0
  EXPECT_EQ(unwind_rule_at(t.words, 0x40100f), uint32_t{LS_CFA_NONE});
  EXPECT_EQ(unwind_rule_at(t.words, 0x401010), kA);
  EXPECT_EQ(unwind_rule_at(t.words, 0x40101f), kA);
  EXPECT_EQ(unwind_rule_at(t.words, 0x401020), uint32_t{LS_CFA_NONE});
  EXPECT_EQ(unwind_rule_at(t.words, 0x40102f), uint32_t{LS_CFA_NONE});
  EXPECT_EQ(unwind_rule_at(t.words, 0x401030), kB);
  EXPECT_EQ(unwind_rule_at(t.words, 0x40103f), kB);
  EXPECT_EQ(unwind_rule_at(t.words, 0x401040), uint32_t{LS_CFA_NONE});
  EXPECT_EQ(unwind_rule_at(t.words, 0x402000), uint32_t{LS_CFA_NONE});  // past the last page
  EXPECT_EQ(unwind_rule_at(t.words, ~uint64_t{0}), uint32_t{LS_CFA_NONE});
}

TEST(UnwindTable, AdjacentEqualRulesMerge) {
  const UnwindTable t =
      build({{0x1000, 0x1004, kA}, {0x1004, 0x1008, kA}, {0x1008, 0x100c, kB}});
  EXPECT_EQ(t.rows(), 3u);  // A, B, NONE
  EXPECT_EQ(unwind_rule_at(t.words, 0x1006), kA);
  EXPECT_EQ(unwind_rule_at(t.words, 0x1008), kB);
}

TEST(UnwindTable, PageBoundaries) {
  // A row that starts before a page and holds into it; a row starting
  // exactly on a page.
  const UnwindTable t =
      build({{0x1ff0, 0x2010, kA}, {0x2010, 0x3000, kB}, {0x3000, 0x3001, kC}});
  EXPECT_EQ(t.base, 0x1ff0u & ~((uint64_t{1} << LS_UNWIND_PAGE_SHIFT) - 1));  // a page down
  EXPECT_EQ(unwind_rule_at(t.words, 0x1fff), kA);
  EXPECT_EQ(unwind_rule_at(t.words, 0x2000), kA);
  EXPECT_EQ(unwind_rule_at(t.words, 0x200f), kA);
  EXPECT_EQ(unwind_rule_at(t.words, 0x2010), kB);
  EXPECT_EQ(unwind_rule_at(t.words, 0x2fff), kB);
  EXPECT_EQ(unwind_rule_at(t.words, 0x3000), kC);
  EXPECT_EQ(unwind_rule_at(t.words, 0x3001), uint32_t{LS_CFA_NONE});
}

TEST(UnwindTable, RowSpanningPagesWithoutRows) {
  const UnwindTable t = build({{0x10000, 0x10010, kA}, {0x10010, 0x18000, kB}});
  // The final NONE row sits at offset 0x8000, in the last page.
  EXPECT_EQ(t.pages(), (0x8000u >> LS_UNWIND_PAGE_SHIFT) + 1);
  for (uint64_t a = 0x10010; a < 0x18000; a += 0x3ff) EXPECT_EQ(unwind_rule_at(t.words, a), kB);
  EXPECT_EQ(unwind_rule_at(t.words, 0x17fff), kB);
  EXPECT_EQ(unwind_rule_at(t.words, 0x18000), uint32_t{LS_CFA_NONE});
  // The page index of an empty page points past its (absent) rows.
  const size_t index = LS_UNWIND_HEADER_WORDS;
  EXPECT_EQ(t.words[index + 3], 2u);
  EXPECT_EQ(t.words[index + t.pages()], t.rows());
}

TEST(UnwindTable, OverlapsKeepTheFirstStartingRange) {
  const UnwindTable t = build({{0x1080, 0x1200, kB}, {0x1000, 0x1100, kA}, {0x1000, 0x1100, kC}});
  EXPECT_EQ(unwind_rule_at(t.words, 0x1090), kA);
  EXPECT_EQ(unwind_rule_at(t.words, 0x1100), kB);
  EXPECT_EQ(unwind_rule_at(t.words, 0x11ff), kB);
  EXPECT_EQ(unwind_rule_at(t.words, 0x1200), uint32_t{LS_CFA_NONE});
}

TEST(UnwindTable, RefusesMoreThan32BitsOfOffset) {
  std::string error;
  EXPECT_FALSE(build_unwind_table({{0x1000, 0x1010, kA}, {0x100001000, 0x100001010, kB}},
                                  &error));
  EXPECT_NE(error.find("32 bits"), std::string::npos) << error;
  EXPECT_TRUE(build_unwind_table({{0x1000, 0x1010, kA}, {0xffff0000, 0x100000fff, kB}}, &error))
      << error;
  EXPECT_FALSE(build_unwind_table({}, &error));
}

TEST(UnwindTable, CapsRows) {
  std::vector<UnwindRange> ranges;
  for (uint64_t i = 0; i < 100; ++i) ranges.push_back({0x1000 + 2 * i, 0x1001 + 2 * i, kA});
  std::string error;
  UnwindTableLimits limits;
  limits.max_rows = 50;
  EXPECT_FALSE(build_unwind_table(ranges, &error, limits));
  EXPECT_NE(error.find("rows"), std::string::npos) << error;
  limits.max_rows = 200;
  EXPECT_TRUE(build_unwind_table(ranges, &error, limits)) << error;
}

// ---- Malformed words ----

TEST(UnwindTableLookup, MalformedWordsGiveNone) {
  const UnwindTable t = build({{0x1000, 0x1010, kA}, {0x1010, 0x3000, kB}});
  ASSERT_EQ(unwind_rule_at(t.words, 0x2000), kB);
  // Every truncation.
  for (size_t n = 0; n < t.words.size(); ++n)
    EXPECT_EQ(unwind_rule_at(std::span(t.words).first(n), 0x2000), uint32_t{LS_CFA_NONE}) << n;

  auto with = [&](size_t i, uint64_t v) {
    auto w = t.words;
    w[i] = v;
    return w;
  };
  const uint64_t header = t.words[1];
  // More rows or pages than there are words.
  EXPECT_EQ(unwind_rule_at(with(1, header + 1), 0x2000), uint32_t{LS_CFA_NONE});
  EXPECT_EQ(unwind_rule_at(with(1, header + (uint64_t{1} << 32)), 0x2000),
            uint32_t{LS_CFA_NONE});
  EXPECT_EQ(unwind_rule_at(with(1, ~uint64_t{0}), 0x2000), uint32_t{LS_CFA_NONE});
  // Page index entries past the rows, or out of order.
  EXPECT_NO_FATAL_FAILURE(unwind_rule_at(with(3, ~uint64_t{0}), 0x1005));
  EXPECT_NO_FATAL_FAILURE(unwind_rule_at(with(4, ~uint64_t{0}), 0x2005));
  EXPECT_EQ(unwind_rule_at(with(2, 5), 0x1005), uint32_t{LS_CFA_NONE});
  // A base so high that base + offset wraps.
  EXPECT_EQ(unwind_rule_at(with(0, ~uint64_t{0} - 4), 3), uint32_t{LS_CFA_NONE});
  EXPECT_EQ(unwind_rule_at(with(0, ~uint64_t{0} - 4), ~uint64_t{0}), kA);

  // Random words of random sizes: only that nothing reads out of bounds
  // (run under LEAKSCOPE_SANITIZE to see it).
  std::mt19937_64 rng(42);
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint64_t> w(rng() % 12);
    for (auto& x : w) x = rng() % 4 == 0 ? rng() : rng() % 8;
    if (w.size() > 1 && rng() % 2) w[1] = ((rng() % 4) << 32) | (rng() % 8);
    unwind_rule_at(w, w.empty() ? rng() : w[0] + rng() % 0x3000);
  }
}

// ---- Files ----

std::string write_temp(const std::string& name, const std::vector<char>& bytes) {
  const fs::path path = fs::temp_directory_path() /
                        ("leakscope_unwind_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

std::vector<char> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// File offset and size of section `name`.
std::pair<uint64_t, uint64_t> section_of(const std::string& path, const char* name,
                                         uint64_t* vaddr = nullptr) {
  elf_version(EV_CURRENT);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
  std::pair<uint64_t, uint64_t> out{0, 0};
  size_t shstrndx = 0;
  elf_getshdrstrndx(elf, &shstrndx);
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    gelf_getshdr(scn, &shdr);
    if (std::string(elf_strptr(elf, shstrndx, shdr.sh_name)) == name) {
      out = {shdr.sh_offset, shdr.sh_size};
      if (vaddr) *vaddr = shdr.sh_addr;
    }
  }
  elf_end(elf);
  ::close(fd);
  return out;
}

TEST(UnwindTableFile, NotElfIsAnError) {
  std::string error;
  EXPECT_FALSE(compile_unwind_table("/nonexistent/leakscope", &error));
  EXPECT_NE(error.find("/nonexistent/leakscope"), std::string::npos);
  EXPECT_FALSE(compile_unwind_table("/proc/self/status", &error));
  EXPECT_NE(error.find("not an ELF"), std::string::npos) << error;
  std::mt19937 rng(7);
  std::vector<char> garbage(100000);
  for (char& c : garbage) c = static_cast<char>(rng());
  garbage[0] = 0x7f, garbage[1] = 'E', garbage[2] = 'L', garbage[3] = 'F';
  const std::string path = write_temp("garbage", garbage);
  EXPECT_FALSE(compile_unwind_table(path, &error));
  EXPECT_EQ(error.find('\n'), std::string::npos);
  fs::remove(path);
}

TEST(UnwindTableFile, TruncatedElfIsAnErrorOrATable) {
  const std::vector<char> libc = read_all(kLibc);
  for (size_t n : {size_t{16}, size_t{64}, size_t{4096}, libc.size() / 3, libc.size() - 4096}) {
    const std::string path = write_temp("truncated", {libc.begin(), libc.begin() + n});
    std::string error;
    auto table = compile_unwind_table(path, &error);  // must not crash
    if (!table) {
      EXPECT_FALSE(error.empty()) << n;
    }
    fs::remove(path);
  }
}

TEST(UnwindTableFile, CorruptedEhFrameDoesNotCrash) {
  const std::vector<char> libc = read_all(kLibc);
  const auto [eh_offset, eh_size] = section_of(kLibc, ".eh_frame");
  const auto [hdr_offset, hdr_size] = section_of(kLibc, ".eh_frame_hdr");
  ASSERT_GT(eh_size, 0u);
  std::mt19937_64 rng(1234);
  size_t compiled = 0;
  for (int copy = 0; copy < 12; ++copy) {
    std::vector<char> bytes = libc;
    const int flips = copy < 6 ? 8 : 400;
    for (int i = 0; i < flips; ++i) {
      const bool in_hdr = copy % 4 == 3 && hdr_size > 0;
      const uint64_t at = in_hdr ? hdr_offset + rng() % hdr_size : eh_offset + rng() % eh_size;
      bytes[at] = static_cast<char>(copy % 2 ? rng() : bytes[at] ^ (1 << (rng() % 8)));
    }
    const std::string path = write_temp("corrupt", bytes);
    std::string error;
    auto table = compile_unwind_table(path, &error);
    if (table) {
      ++compiled;
      // Whatever came out is a table the lookup can read.
      for (uint64_t a = table->base; a < table->base + 0x200000; a += 61)
        unwind_rule_at(table->words, a);
    } else {
      EXPECT_FALSE(error.empty());
    }
    fs::remove(path);
  }
  std::printf("corrupted libc copies compiled: %zu of 12\n", compiled);
}

TEST(UnwindTableFile, FallsBackToDebugFrame) {
  // The fixture's own functions have CFI only in .debug_frame; renaming
  // .eh_frame in a copy's section names leaves .debug_frame the only CFI.
  const std::string fixture = std::string(LEAKSCOPE_FIXTURE_DIR) + "/fixture_debug_frame";
  std::vector<char> bytes = read_all(fixture);
  const auto [strtab, strtab_size] = section_of(fixture, ".shstrtab");
  ASSERT_GT(strtab_size, 0u);
  const std::string name = ".eh_frame";
  auto names = std::string_view(bytes.data() + strtab, strtab_size);
  size_t renamed = 0;
  for (size_t at = names.find(name); at != std::string_view::npos; at = names.find(name, at + 1))
    if (at + name.size() < names.size() && names[at + name.size()] == '\0') {
      bytes[strtab + at + 1] = 'x';  // ".xh_frame"
      ++renamed;
    }
  ASSERT_EQ(renamed, 1u);
  const std::string path = write_temp("debug_frame", bytes);

  std::string error;
  UnwindTableStats stats;
  auto table = compile_unwind_table(path, &error, &stats);
  ASSERT_TRUE(table) << error;
  EXPECT_EQ(stats.fdes_skipped, 0u);
  auto module = Module::open(fixture, &error);
  ASSERT_TRUE(module) << error;
  // Where the table has rules, they are libdw's (Module reads .debug_frame
  // where .eh_frame has nothing).
  size_t checked = 0;
  for (const Row& row : rows_of(*table)) {
    if (row.rule == LS_CFA_NONE) continue;
    ++checked;
    EXPECT_EQ(unwind_rule_at(table->words, row.vaddr), expected_rule(module->cfi_row(row.vaddr)))
        << std::hex << row.vaddr;
  }
  EXPECT_GT(checked, 3u);
  auto elf = ElfFile::open(fixture, &error);
  ASSERT_TRUE(elf) << error;
  auto main_fn = elf->find_function("main");
  ASSERT_TRUE(main_fn);
  EXPECT_NE(unwind_rule_at(table->words, main_fn->vaddr), uint32_t{LS_CFA_NONE});
  fs::remove(path);
}

TEST(UnwindTableFile, LimitsFailCleanly) {
  std::string error;
  UnwindTableLimits limits;
  limits.max_rows = 1000;
  EXPECT_FALSE(compile_unwind_table(kLibc, &error, nullptr, limits));
  EXPECT_NE(error.find("rows"), std::string::npos) << error;
  limits = {};
  limits.max_cfi_work = 100000;
  EXPECT_FALSE(compile_unwind_table(kLibc, &error, nullptr, limits));
  EXPECT_NE(error.find("costly"), std::string::npos) << error;
  limits = {};
  limits.max_fdes = 100;
  EXPECT_FALSE(compile_unwind_table(kLibc, &error, nullptr, limits));
  EXPECT_NE(error.find("FDEs"), std::string::npos) << error;
  // FDEs over the size cap are skipped, not fatal.
  limits = {};
  limits.max_fde_bytes = 64;
  UnwindTableStats stats;
  EXPECT_TRUE(compile_unwind_table(kLibc, &error, &stats, limits)) << error;
  EXPECT_GT(stats.fdes_skipped, 0u);
  EXPECT_EQ(stats.fdes_too_large, stats.fdes_skipped);
}

// A limit that bites is in the stats and noted for the report, under the
// file's name; an error that is no limit is not.
TEST(UnwindTableFile, LimitsHitAreNoted) {
  clear_input_limits();
  std::string error;
  UnwindTableLimits limits;
  limits.max_section_bytes = 1024;
  UnwindTableStats stats;
  EXPECT_FALSE(compile_unwind_table(kLibc, &error, &stats, limits));
  EXPECT_NE(error.find("larger than the cap of 1024 bytes"), std::string::npos) << error;
  EXPECT_NE(stats.limit_hit.find(".eh_frame"), std::string::npos) << stats.limit_hit;
  auto hits = input_limits_hit();
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].file, kLibc);
  EXPECT_NE(hits[0].limit.find(".eh_frame of"), std::string::npos)
      << hits[0].limit;
  EXPECT_NE(hits[0].effect.find("frame pointer"), std::string::npos);

  clear_input_limits();
  const std::string not_elf = "/tmp/leakscope-unwind-notelf-" + std::to_string(::getpid());
  std::ofstream(not_elf) << "not an ELF file";
  EXPECT_FALSE(compile_unwind_table(not_elf, &error, &stats));
  EXPECT_TRUE(stats.limit_hit.empty());
  EXPECT_TRUE(input_limits_hit().empty());
  fs::remove(not_elf);

  limits = {};
  limits.max_rows = 1000;
  EXPECT_FALSE(compile_unwind_table(kLibc, &error, &stats, limits));
  EXPECT_NE(stats.limit_hit.find("rows"), std::string::npos);
  EXPECT_EQ(input_limits_hit().size(), 1u);
  clear_input_limits();
}

// ---- Particular rows ----

TEST(UnwindTableRules, LibcPltIsPlt) {
  uint64_t plt = 0;
  const auto [offset, size] = section_of(kLibc, ".plt", &plt);
  ASSERT_GT(size, 16u);
  std::string error;
  auto table = compile_unwind_table(kLibc, &error);
  ASSERT_TRUE(table) << error;
  // The first 16 bytes are PLT0 (push; jmp): rsp + 16, then rsp + 24.
  EXPECT_EQ(unwind_rule_at(table->words, plt), make_unwind_rule(LS_CFA_RSP, 16, LS_RBP_SAME, 0));
  for (uint64_t a = plt + 16; a < plt + size; ++a)
    ASSERT_EQ(LS_RULE_CFA_KIND(unwind_rule_at(table->words, a)), uint32_t{LS_CFA_PLT})
        << std::hex << a;
}

TEST(UnwindTableRules, StartOfAnExecutableEndsTheStack) {
  std::string error;
  auto elf = ElfFile::open("/proc/self/exe", &error);
  ASSERT_TRUE(elf) << error;
  auto start = elf->find_function("_start");
  ASSERT_TRUE(start);
  auto table = compile_unwind_table("/proc/self/exe", &error);
  ASSERT_TRUE(table) << error;
  EXPECT_EQ(LS_RULE_CFA_KIND(unwind_rule_at(table->words, start->vaddr + 4)),
            uint32_t{LS_CFA_END});
}

TEST(UnwindTableRules, FunctionBodiesFollowTheirCfi) {
  // Most of libc's code is plain rsp-based frames with the return address
  // at CFA - 8; the kernel side must be able to follow nearly all of it.
  std::string error;
  UnwindTableStats stats;
  auto table = compile_unwind_table(kLibc, &error, &stats);
  ASSERT_TRUE(table) << error;
  EXPECT_GT(stats.rows_by_kind[LS_CFA_RSP], 10000u);
  EXPECT_LT(stats.rows_by_kind[LS_CFA_INVALID], stats.rows_by_kind[LS_CFA_RSP] / 100);
}

// Measurements for the modules the tracer meets most; run by hand with
// --gtest_also_run_disabled_tests.
TEST(UnwindTableMeasure, DISABLED_SystemModules) {
  for (const char* path : {kLibc, kLibstdcxx, "/usr/bin/node", "/usr/bin/redis-server",
                           "/usr/bin/python3.11"}) {
    if (!fs::exists(path)) continue;
    std::string error;
    UnwindTableStats stats;
    const auto t0 = std::chrono::steady_clock::now();
    auto table = compile_unwind_table(path, &error, &stats);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!table) {
      std::printf("%s: %s\n", path, error.c_str());
      continue;
    }
    std::printf("%s: %.0f ms, %zu FDEs (%zu skipped, %zu overlapping), work %llu, %zu rows, "
                "%zu pages, %zu bytes; rows by kind none %zu rsp %zu rbp %zu plt %zu end %zu "
                "invalid %zu\n",
                path, ms, stats.fdes, stats.fdes_skipped, stats.fdes_overlapping,
                static_cast<unsigned long long>(stats.cfi_work), table->rows(),
                table->pages(), table->bytes(), stats.rows_by_kind[0], stats.rows_by_kind[1],
                stats.rows_by_kind[2], stats.rows_by_kind[3], stats.rows_by_kind[4],
                stats.rows_by_kind[5]);
    for (const auto& [why, n] : stats.invalid_reasons)
      std::printf("    invalid %zu x %s\n", n, why.c_str());
  }
}

}  // namespace
}  // namespace leakscope
