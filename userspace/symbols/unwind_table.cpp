#include "symbols/unwind_table.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <unordered_map>

#include "core/input_limits.h"
#include "leakscope.h"

namespace leakscope {

namespace {

constexpr uint64_t kPageSize = uint64_t{1} << LS_UNWIND_PAGE_SHIFT;
// Rows have strictly increasing offsets, so a page holds at most kPageSize of
// them and a search covers at most one more (the row before the page).
constexpr uint64_t kMaxSearchRows = kPageSize + 1;

// x86_64 DWARF register numbers.
constexpr unsigned kRegRbp = 6;
constexpr unsigned kRegRsp = 7;
constexpr unsigned kRegRa = 16;

uint32_t row_offset(uint64_t word) { return static_cast<uint32_t>(word >> 32); }
uint32_t row_rule(uint64_t word) { return static_cast<uint32_t>(word); }

}  // namespace

size_t UnwindTable::rows() const {
  return words.size() < LS_UNWIND_HEADER_WORDS ? 0 : static_cast<uint32_t>(words[1]);
}

size_t UnwindTable::pages() const {
  return words.size() < LS_UNWIND_HEADER_WORDS ? 0 : static_cast<size_t>(words[1] >> 32);
}

uint32_t make_unwind_rule(unsigned cfa_kind, uint32_t cfa_offset, unsigned rbp_kind,
                          int32_t rbp_offset) {
  if (cfa_kind > 7 || rbp_kind > 3 || cfa_offset > LS_RULE_MAX_CFA_OFFSET ||
      rbp_offset % 8 != 0 || rbp_offset < -128 * 8 || rbp_offset > 127 * 8)
    return LS_CFA_INVALID;
  const auto slot = static_cast<uint8_t>(static_cast<int8_t>(rbp_offset / 8));
  return cfa_kind | (rbp_kind << 3) | (uint32_t{slot} << 5) | (cfa_offset << 13);
}

std::optional<UnwindTable> build_unwind_table(std::vector<UnwindRange> ranges,
                                              std::string* error,
                                              const UnwindTableLimits& limits) {
  auto fail = [&](std::string why) -> std::optional<UnwindTable> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  std::erase_if(ranges, [](const UnwindRange& r) { return r.end <= r.start; });
  if (ranges.empty()) return fail("no code covered by call-frame information");
  std::stable_sort(ranges.begin(), ranges.end(), [](const UnwindRange& a, const UnwindRange& b) {
    return a.start != b.start ? a.start < b.start : a.end < b.end;
  });

  const uint64_t base = ranges.front().start & ~(kPageSize - 1);
  uint64_t last_end = 0;
  for (const UnwindRange& r : ranges) last_end = std::max(last_end, r.end);
  if (last_end - base > UINT32_MAX)
    return fail("covered code spans " + std::to_string(last_end - base) +
                " bytes, more than 32 bits of offset");

  // Rows as (offset, rule). A range starting inside code already covered
  // keeps only its part beyond it: the first-starting range wins.
  std::vector<std::pair<uint32_t, uint32_t>> rows;
  uint64_t covered_end = 0;  // end of the code the rows so far cover
  auto push = [&](uint64_t vaddr, uint32_t rule) {
    if (!rows.empty() && rows.back().second == rule) return true;
    if (rows.size() >= limits.max_rows) return false;
    rows.emplace_back(static_cast<uint32_t>(vaddr - base), rule);
    return true;
  };
  for (const UnwindRange& r : ranges) {
    const uint64_t start = rows.empty() ? r.start : std::max(r.start, covered_end);
    if (start >= r.end) continue;
    if (!rows.empty() && start > covered_end && !push(covered_end, LS_CFA_NONE))
      return fail("more than " + std::to_string(limits.max_rows) + " unwind rows");
    if (!push(start, r.rule))
      return fail("more than " + std::to_string(limits.max_rows) + " unwind rows");
    covered_end = r.end;
  }
  if (!push(covered_end, LS_CFA_NONE))
    return fail("more than " + std::to_string(limits.max_rows) + " unwind rows");
  // A merge can leave a NONE row where the table ended anyway; the last row
  // must be NONE and hold the end.
  if (rows.back().second != LS_CFA_NONE || rows.back().first != covered_end - base) {
    if (rows.size() >= limits.max_rows)
      return fail("more than " + std::to_string(limits.max_rows) + " unwind rows");
    rows.emplace_back(static_cast<uint32_t>(covered_end - base), LS_CFA_NONE);
  }

  const uint64_t npages = (uint64_t{rows.back().first} >> LS_UNWIND_PAGE_SHIFT) + 1;
  UnwindTable table;
  table.base = base;
  table.words.reserve(LS_UNWIND_HEADER_WORDS + npages + 1 + rows.size());
  table.words.push_back(base);
  table.words.push_back((npages << 32) | rows.size());
  size_t next_row = 0;  // first row with offset >= p's first byte
  for (uint64_t p = 0; p <= npages; ++p) {
    while (next_row < rows.size() && rows[next_row].first < (p << LS_UNWIND_PAGE_SHIFT))
      ++next_row;
    table.words.push_back(p == npages ? rows.size() : next_row);
  }
  for (const auto& [offset, rule] : rows) table.words.push_back((uint64_t{offset} << 32) | rule);
  return table;
}

uint32_t unwind_rule_at(std::span<const uint64_t> words, uint64_t elf_vaddr) {
  if (words.size() < LS_UNWIND_HEADER_WORDS) return LS_CFA_NONE;
  const uint64_t base = words[0];
  if (elf_vaddr < base || elf_vaddr - base > UINT32_MAX) return LS_CFA_NONE;
  const auto offset = static_cast<uint32_t>(elf_vaddr - base);
  const uint64_t npages = words[1] >> 32;
  const uint64_t nrows = static_cast<uint32_t>(words[1]);
  const uint64_t index_at = LS_UNWIND_HEADER_WORDS;
  const uint64_t rows_at = index_at + npages + 1;  // npages < 2^32: no overflow
  if (words.size() < rows_at || words.size() - rows_at < nrows) return LS_CFA_NONE;

  const uint64_t page = offset >> LS_UNWIND_PAGE_SHIFT;
  if (page >= npages) return LS_CFA_NONE;
  uint64_t lo = words[index_at + page];
  uint64_t hi = std::min(words[index_at + page + 1], nrows);
  lo = lo == 0 ? 0 : lo - 1;
  // A well-formed table never asks for more (see kMaxSearchRows); the kernel
  // side's bounded loop cannot either.
  if (lo >= hi || hi - lo > kMaxSearchRows) return LS_CFA_NONE;
  // The last row in [lo, hi) whose offset is <= offset: binary search for
  // the first one above it.
  uint64_t first_above = hi;
  while (lo < first_above) {
    const uint64_t mid = lo + (first_above - lo) / 2;
    if (row_offset(words[rows_at + mid]) <= offset)
      lo = mid + 1;
    else
      first_above = mid;
  }
  if (lo == 0) return LS_CFA_NONE;
  const uint64_t row = words[rows_at + lo - 1];
  return row_offset(row) <= offset ? row_rule(row) : uint32_t{LS_CFA_NONE};
}

namespace {

// ---- Translating one CFI row into a rule ----

std::string op_name(uint8_t atom) {
  if (atom >= DW_OP_lit0 && atom <= DW_OP_lit31) return "lit" + std::to_string(atom - DW_OP_lit0);
  if (atom >= DW_OP_breg0 && atom <= DW_OP_breg31)
    return "breg" + std::to_string(atom - DW_OP_breg0);
  if (atom >= DW_OP_reg0 && atom <= DW_OP_reg31) return "reg" + std::to_string(atom - DW_OP_reg0);
  switch (atom) {
    case DW_OP_deref: return "deref";
    case DW_OP_plus: return "plus";
    case DW_OP_plus_uconst: return "plus_uconst";
    case DW_OP_minus: return "minus";
    case DW_OP_and: return "and";
    case DW_OP_shl: return "shl";
    case DW_OP_ge: return "ge";
    case DW_OP_bregx: return "bregx";
    case DW_OP_call_frame_cfa: return "call_frame_cfa";
    case DW_OP_stack_value: return "stack_value";
    case DW_OP_const1u: return "const1u";
    case DW_OP_const1s: return "const1s";
    default: {
      char buf[8];
      std::snprintf(buf, sizeof buf, "op%#x", atom);
      return buf;
    }
  }
}

// "breg7 deref" style: operands left out so that reasons group.
std::string ops_text(const Dwarf_Op* ops, size_t n) {
  std::string out;
  for (size_t i = 0; i < n && i < 12; ++i) {
    if (i) out += ' ';
    out += op_name(ops[i].atom);
  }
  if (n > 12) out += " ...";
  return out;
}

// CFA = register + offset, as libdw hands out a DW_CFA_def_cfa rule (bregx)
// or as a one-operation expression (bregN).
bool cfa_register_offset(const Dwarf_Op* ops, size_t n, unsigned* reg, int64_t* offset) {
  if (n != 1) return false;
  if (ops[0].atom == DW_OP_bregx) {
    *reg = static_cast<unsigned>(std::min<Dwarf_Word>(ops[0].number, 0xffff));
    *offset = static_cast<int64_t>(ops[0].number2);
    return true;
  }
  if (ops[0].atom >= DW_OP_breg0 && ops[0].atom <= DW_OP_breg31) {
    *reg = ops[0].atom - DW_OP_breg0;
    *offset = static_cast<int64_t>(ops[0].number);
    return true;
  }
  return false;
}

// The CFA expression glibc's and binutils' x86_64 lazy PLT CFI uses: rsp + 8,
// + 8 more when (rip & 15) >= 11, i.e. once past the entry's push. Other
// thresholds (lit10 in some IBT PLT layouts) are not what LS_CFA_PLT means
// and stay INVALID.
bool is_plt_cfa(const Dwarf_Op* ops, size_t n) {
  static constexpr struct {
    uint8_t atom;
    Dwarf_Word number;
  } kPlt[] = {{DW_OP_breg7, 8}, {DW_OP_breg16, 0}, {DW_OP_lit15, 0}, {DW_OP_and, 0},
              {DW_OP_lit11, 0}, {DW_OP_ge, 0},     {DW_OP_lit3, 0},  {DW_OP_shl, 0},
              {DW_OP_plus, 0}};
  if (n != std::size(kPlt)) return false;
  for (size_t i = 0; i < n; ++i)
    if (ops[i].atom != kPlt[i].atom || ops[i].number != kPlt[i].number) return false;
  return true;
}

// A register saved at CFA + k as libdw describes DW_CFA_offset:
// call_frame_cfa [plus_uconst k].
bool saved_at_cfa(const Dwarf_Op* ops, size_t n, int64_t* k) {
  if (n < 1 || n > 2 || ops[0].atom != DW_OP_call_frame_cfa) return false;
  if (n == 1) {
    *k = 0;
    return true;
  }
  if (ops[1].atom != DW_OP_plus_uconst) return false;
  *k = static_cast<int64_t>(ops[1].number);
  return true;
}

uint32_t invalid(std::string reason, std::string* why) {
  if (why) *why = std::move(reason);
  return LS_CFA_INVALID;
}

// The packed rule of one CFI row; *why says why it is INVALID.
uint32_t rule_of_frame(Dwarf_Frame* frame, std::string* why) {
  Dwarf_Op mem[3];
  Dwarf_Op* ops = nullptr;
  size_t n = 0;
  // The return address first: undefined marks the outermost frame, whatever
  // its CFA says.
  if (dwarf_frame_register(frame, kRegRa, mem, &ops, &n) != 0)
    return invalid("ra=unreadable", why);
  if (n == 0) {
    if (ops != nullptr) return LS_CFA_END;  // libdw: ops set, none: undefined
    return invalid("ra=same_value", why);
  }
  int64_t ra_at = 0;
  if (!saved_at_cfa(ops, n, &ra_at)) return invalid("ra=expr(" + ops_text(ops, n) + ")", why);
  if (ra_at != -8) return invalid("ra=cfa" + std::to_string(ra_at), why);

  unsigned cfa_kind = LS_CFA_NONE;
  uint32_t cfa_offset = 0;
  Dwarf_Op* cfa_ops = nullptr;
  size_t cfa_n = 0;
  if (dwarf_frame_cfa(frame, &cfa_ops, &cfa_n) != 0 || cfa_n == 0)
    return invalid("cfa=unreadable", why);
  unsigned reg = 0;
  int64_t offset = 0;
  if (cfa_register_offset(cfa_ops, cfa_n, &reg, &offset)) {
    if (reg != kRegRsp && reg != kRegRbp) return invalid("cfa=reg" + std::to_string(reg), why);
    if (offset < 0 || offset > LS_RULE_MAX_CFA_OFFSET)
      return invalid("cfa=offset out of range", why);
    cfa_kind = reg == kRegRsp ? LS_CFA_RSP : LS_CFA_RBP;
    cfa_offset = static_cast<uint32_t>(offset);
  } else if (is_plt_cfa(cfa_ops, cfa_n)) {
    cfa_kind = LS_CFA_PLT;
  } else {
    return invalid("cfa=expr(" + ops_text(cfa_ops, cfa_n) + ")", why);
  }

  unsigned rbp_kind = LS_RBP_UNKNOWN;
  int32_t rbp_offset = 0;
  if (dwarf_frame_register(frame, kRegRbp, mem, &ops, &n) == 0) {
    int64_t k = 0;
    if (n == 0 && ops == nullptr) {
      rbp_kind = LS_RBP_SAME;
    } else if (n > 0 && saved_at_cfa(ops, n, &k) && k % 8 == 0 && k >= -128 * 8 &&
               k <= 127 * 8) {
      rbp_kind = LS_RBP_SAVED;
      rbp_offset = static_cast<int32_t>(k);
    }
  }
  return make_unwind_rule(cfa_kind, cfa_offset, rbp_kind, rbp_offset);
}

// ---- Enumerating FDEs ----

struct FdeRange {
  uint64_t start = 0;
  uint64_t end = 0;
  size_t bytes = 0;  // of the FDE in its section: what libdw runs per row
};

// How a CIE's FDEs encode their initial location (DW_EH_PE_*).
struct CieEncoding {
  bool usable = false;
  uint8_t fde_encoding = DW_EH_PE_absptr;
};

// Bytes an encoded value of `format` (low 4 bits) takes; 0 for LEB128 or
// unknown formats (handled by the reader).
size_t fixed_size(uint8_t format, size_t address_size) {
  switch (format & 0x0f) {
    case DW_EH_PE_absptr: return address_size;
    case DW_EH_PE_udata2: case DW_EH_PE_sdata2: return 2;
    case DW_EH_PE_udata4: case DW_EH_PE_sdata4: return 4;
    case DW_EH_PE_udata8: case DW_EH_PE_sdata8: return 8;
    default: return 0;
  }
}

// Reads one encoded value at *p (< end), advancing *p. `field_vaddr` is the
// value's own address, for pc-relative values.
bool read_encoded(const uint8_t** p, const uint8_t* end, uint8_t encoding, size_t address_size,
                  uint64_t field_vaddr, bool little_endian, uint64_t* out) {
  const uint8_t format = encoding & 0x0f;
  uint64_t value = 0;
  if (format == DW_EH_PE_uleb128 || format == DW_EH_PE_sleb128) {
    unsigned shift = 0;
    uint8_t byte = 0x80;
    while (byte & 0x80) {
      if (*p >= end || shift >= 64) return false;
      byte = *(*p)++;
      value |= uint64_t{byte & 0x7fu} << shift;
      shift += 7;
    }
    if (format == DW_EH_PE_sleb128 && shift < 64 && (byte & 0x40)) value |= ~uint64_t{0} << shift;
  } else {
    const size_t size = fixed_size(format, address_size);
    if (size == 0 || static_cast<size_t>(end - *p) < size) return false;
    for (size_t i = 0; i < size; ++i) {
      const uint64_t byte = (*p)[little_endian ? i : size - 1 - i];
      value |= byte << (8 * i);
    }
    *p += size;
    const bool is_signed = format == DW_EH_PE_sdata2 || format == DW_EH_PE_sdata4 ||
                           format == DW_EH_PE_sdata8;
    if (is_signed && size < 8 && (value >> (8 * size - 1)) & 1) value |= ~uint64_t{0} << (8 * size);
  }
  switch (encoding & 0x70) {
    case DW_EH_PE_absptr: break;
    case DW_EH_PE_pcrel: value += field_vaddr; break;
    default: return false;  // textrel, datarel, funcrel, aligned: not in code CFI
  }
  *out = value;
  return true;
}

// The FDE pointer encoding a CIE's augmentation declares ('z' data, 'R').
CieEncoding cie_encoding(const Dwarf_CIE& cie, bool eh_frame, size_t address_size,
                         bool little_endian) {
  CieEncoding enc;
  const char* aug = cie.augmentation;
  if (aug == nullptr) return enc;
  if (aug[0] == '\0') {
    enc.usable = true;
    return enc;
  }
  if (!eh_frame || aug[0] != 'z' || cie.augmentation_data == nullptr) return enc;
  const uint8_t* p = cie.augmentation_data;
  const uint8_t* end = p + cie.augmentation_data_size;
  for (const char* c = aug + 1; *c; ++c) {
    switch (*c) {
      case 'L':  // LSDA encoding: one byte
        if (p >= end) return enc;
        ++p;
        break;
      case 'P': {  // personality: encoding byte, then the encoded pointer
        if (p >= end) return enc;
        const uint8_t penc = *p++;
        uint64_t ignored = 0;
        if (!read_encoded(&p, end, penc & 0x7f & ~0x70, address_size, 0, little_endian, &ignored))
          return enc;
        break;
      }
      case 'R':
        if (p >= end) return enc;
        enc.fde_encoding = *p++;
        break;
      case 'S':  // a signal frame
      case 'B':  // AArch64 BTI: no data
        break;
      default:
        return enc;  // data of an unknown letter: the rest cannot be found
    }
  }
  enc.usable = true;
  return enc;
}

// The [start, end) of every FDE in `data` (the raw .eh_frame or
// .debug_frame at `section_vaddr`), in section order; FDEs whose location
// cannot be decoded are counted in *skipped.
bool read_fde_ranges(Elf* elf, Elf_Data* data, bool eh_frame, uint64_t section_vaddr,
                     const UnwindTableLimits& limits, std::vector<FdeRange>* out,
                     size_t* skipped, std::string* error) {
  const unsigned char* ident = reinterpret_cast<const unsigned char*>(elf_getident(elf, nullptr));
  if (ident == nullptr) {
    *error = "no ELF identification";
    return false;
  }
  const size_t address_size = ident[EI_CLASS] == ELFCLASS64 ? 8 : 4;
  const bool little_endian = ident[EI_DATA] == ELFDATA2LSB;
  const auto* section = static_cast<const uint8_t*>(data->d_buf);
  const size_t section_size = data->d_size;

  struct PendingFde {
    Dwarf_Off cie;
    const uint8_t* start;
    const uint8_t* end;
  };
  std::unordered_map<Dwarf_Off, CieEncoding> cies;
  std::vector<PendingFde> fdes;
  Dwarf_Off offset = 0;
  size_t entries = 0;
  while (offset < section_size) {
    if (++entries > limits.max_fdes * 2) {
      *error = "more than " + std::to_string(limits.max_fdes * 2) + " CFI entries";
      return false;
    }
    Dwarf_Off next = 0;
    Dwarf_CFI_Entry entry;
    const int rc = dwarf_next_cfi(ident, data, eh_frame, offset, &next, &entry);
    if (rc == 1) break;
    if (rc != 0) {
      // libdw moved `next` past an entry it could not read: skip it; else
      // the rest of the section cannot be found.
      ++*skipped;
      if (next == static_cast<Dwarf_Off>(-1) || next <= offset) break;
      offset = next;
      continue;
    }
    if (dwarf_cfi_cie_p(&entry)) {
      cies[offset] = cie_encoding(entry.cie, eh_frame, address_size, little_endian);
    } else {
      fdes.push_back({entry.fde.CIE_pointer, entry.fde.start, entry.fde.end});
      if (fdes.size() > limits.max_fdes) {
        *error = "more than " + std::to_string(limits.max_fdes) + " FDEs";
        return false;
      }
    }
    if (next <= offset) break;
    offset = next;
  }

  for (const PendingFde& fde : fdes) {
    auto cie = cies.find(fde.cie);
    if (cie == cies.end() || !cie->second.usable || fde.start < section ||
        fde.end > section + section_size || fde.start >= fde.end) {
      ++*skipped;
      continue;
    }
    const uint8_t enc = cie->second.fde_encoding;
    if (enc & DW_EH_PE_indirect) {
      ++*skipped;
      continue;
    }
    const uint8_t* p = fde.start;
    uint64_t start = 0;
    uint64_t length = 0;
    if (!read_encoded(&p, fde.end, enc, address_size,
                      section_vaddr + static_cast<uint64_t>(p - section), little_endian, &start) ||
        !read_encoded(&p, fde.end, enc & 0x0f, address_size, 0, little_endian, &length)) {
      ++*skipped;
      continue;
    }
    if (address_size == 4) {
      start &= UINT32_MAX;
      length &= UINT32_MAX;
    }
    if (length == 0) continue;  // covers nothing (e.g. a discarded function)
    if (start + length < start) {
      ++*skipped;
      continue;
    }
    out->push_back({start, start + length, static_cast<size_t>(fde.end - fde.start)});
  }
  return true;
}

// ---- The module ----

struct ElfCloser {
  void operator()(Elf* elf) const { elf_end(elf); }
};
struct CfiCloser {
  void operator()(Dwarf_CFI* cfi) const { dwarf_cfi_end(cfi); }
};
struct DwarfCloser {
  void operator()(Dwarf* dwarf) const { dwarf_end(dwarf); }
};

// The section named `name` with contents in the file, or null.
Elf_Scn* find_section(Elf* elf, const char* name, GElf_Shdr* shdr) {
  size_t shstrndx = 0;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) return nullptr;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn; scn = elf_nextscn(elf, scn)) {
    if (gelf_getshdr(scn, shdr) == nullptr) continue;
    const char* n = elf_strptr(elf, shstrndx, shdr->sh_name);
    if (n && std::strcmp(n, name) == 0 && shdr->sh_type == SHT_PROGBITS && shdr->sh_size > 0)
      return scn;
  }
  return nullptr;
}

}  // namespace

std::optional<UnwindTable> compile_unwind_table_fd(int fd, std::string* error,
                                                   UnwindTableStats* stats,
                                                   const UnwindTableLimits& limits) {
  std::string why;
  auto fail = [&](std::string reason) -> std::optional<UnwindTable> {
    if (error) *error = std::move(reason);
    return std::nullopt;
  };
  UnwindTableStats local_stats;
  UnwindTableStats& st = stats ? *stats : local_stats;
  st = UnwindTableStats{};
  auto over_limit = [&](std::string reason) -> std::optional<UnwindTable> {
    st.limit_hit = reason;
    return fail(std::move(reason));
  };

  static const bool elf_ready = elf_version(EV_CURRENT) != EV_NONE;
  if (!elf_ready) return fail("libelf: version mismatch");
  // ELF_C_READ, not _MMAP: a file the target truncates under us must not
  // turn into SIGBUS here.
  std::unique_ptr<Elf, ElfCloser> elf(elf_begin(fd, ELF_C_READ, nullptr));
  if (!elf || elf_kind(elf.get()) != ELF_K_ELF) return fail("not an ELF file");

  GElf_Shdr shdr;
  bool eh_frame = true;
  Elf_Scn* scn = find_section(elf.get(), ".eh_frame", &shdr);
  if (scn == nullptr) {
    eh_frame = false;
    scn = find_section(elf.get(), ".debug_frame", &shdr);
  }
  if (scn == nullptr) return fail("no .eh_frame or .debug_frame");
  if (shdr.sh_type != SHT_NOBITS && shdr.sh_size > limits.max_section_bytes)
    return over_limit(std::string(eh_frame ? ".eh_frame" : ".debug_frame") + " of " +
                      std::to_string(shdr.sh_size) + " bytes, larger than the cap of " +
                      std::to_string(limits.max_section_bytes) + " bytes");
  Elf_Data* data = elf_rawdata(scn, nullptr);
  if (data == nullptr || data->d_buf == nullptr || data->d_size == 0)
    return fail(std::string(eh_frame ? ".eh_frame" : ".debug_frame") + " unreadable");

  std::vector<FdeRange> fdes;
  if (!read_fde_ranges(elf.get(), data, eh_frame, eh_frame ? shdr.sh_addr : 0, limits, &fdes,
                       &st.fdes_skipped, &why))
    return why.starts_with("more than") ? over_limit(why) : fail(why);
  st.fdes = fdes.size();

  std::unique_ptr<Dwarf, DwarfCloser> dwarf;
  std::unique_ptr<Dwarf_CFI, CfiCloser> eh_cfi;
  Dwarf_CFI* cfi = nullptr;
  if (eh_frame) {
    eh_cfi.reset(dwarf_getcfi_elf(elf.get()));
    cfi = eh_cfi.get();
  } else {
    dwarf.reset(dwarf_begin_elf(elf.get(), DWARF_C_READ, nullptr));
    if (dwarf) cfi = dwarf_getcfi(dwarf.get());  // owned by the Dwarf
  }
  if (cfi == nullptr) return fail(std::string("libdw: ") + dwarf_errmsg(-1));

  // FDEs in address order, so that the walk below and the overlaps it
  // resolves do not depend on the section's order.
  std::stable_sort(fdes.begin(), fdes.end(), [](const FdeRange& a, const FdeRange& b) {
    return a.start != b.start ? a.start < b.start : a.end < b.end;
  });
  std::vector<UnwindRange> ranges;
  uint64_t covered_end = 0;
  for (const FdeRange& fde : fdes) {
    if (fde.bytes > limits.max_fde_bytes) {
      ++st.fdes_skipped;
      ++st.fdes_too_large;
      continue;
    }
    uint64_t pc = fde.start;
    if (pc < covered_end) {
      ++st.fdes_overlapping;
      pc = covered_end;  // build_unwind_table would drop it anyway
    }
    while (pc < fde.end) {
      st.cfi_work += fde.bytes;
      if (st.cfi_work > limits.max_cfi_work)
        return over_limit("call-frame information too costly to compile (over " +
                    std::to_string(limits.max_cfi_work) + " instruction bytes run)");
      Dwarf_Frame* frame = nullptr;
      if (dwarf_cfi_addrframe(cfi, pc, &frame) != 0 || frame == nullptr) {
        ++st.fdes_skipped;  // the rest of this FDE: no rows, NONE
        break;
      }
      std::unique_ptr<Dwarf_Frame, decltype(&std::free)> owned(frame, &std::free);
      Dwarf_Addr row_start = 0, row_end = 0;
      bool signal = false;
      if (dwarf_frame_info(frame, &row_start, &row_end, &signal) < 0 || row_end <= pc) {
        ++st.fdes_skipped;
        break;
      }
      std::string reason;
      const uint32_t rule = rule_of_frame(frame, &reason);
      if (LS_RULE_CFA_KIND(rule) == LS_CFA_INVALID) ++st.invalid_reasons[reason];
      const uint64_t next = std::min<uint64_t>(row_end, fde.end);
      ranges.push_back({pc, next, rule});
      if (ranges.size() > limits.max_rows)
        return over_limit("more than " + std::to_string(limits.max_rows) + " unwind rows");
      pc = next;
    }
    covered_end = std::max(covered_end, fde.end);
  }

  auto table = build_unwind_table(std::move(ranges), &why, limits);
  if (!table) return why.starts_with("more than") ? over_limit(why) : fail(why);
  const size_t rows = table->rows();
  const size_t rows_at = LS_UNWIND_HEADER_WORDS + table->pages() + 1;
  for (size_t i = 0; i < rows; ++i) {
    const unsigned kind = LS_RULE_CFA_KIND(static_cast<uint32_t>(table->words[rows_at + i]));
    if (kind < st.rows_by_kind.size()) ++st.rows_by_kind[kind];
  }
  return table;
}

std::optional<UnwindTable> compile_unwind_table(const std::string& path, std::string* error,
                                                UnwindTableStats* stats,
                                                const UnwindTableLimits& limits) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (error) *error = path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  UnwindTableStats local_stats;
  UnwindTableStats& st = stats ? *stats : local_stats;
  auto table = compile_unwind_table_fd(fd, error, &st, limits);
  ::close(fd);
  if (!st.limit_hit.empty() || st.fdes_too_large > 0) {
    const std::string name = input_file_name(path);
    if (!st.limit_hit.empty())
      note_input_limit(name, st.limit_hit,
                       "no unwind table (walked by frame pointer)");
    else
      note_input_limit(name,
                       std::to_string(st.fdes_too_large) + " FDEs larger than the cap of " +
                           std::to_string(limits.max_fde_bytes) +
                           " bytes",
                       "unwind table in part (those FDEs walked by frame pointer)");
  }
  if (!table && error) *error = path + ": " + *error;
  return table;
}

}  // namespace leakscope
