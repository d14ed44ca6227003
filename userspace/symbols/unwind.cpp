#include "symbols/unwind.h"

#include <dwarf.h>

#include <cstring>

namespace leakscope {

std::optional<uint64_t> StackSnapshot::word_at(uint64_t addr) const {
  if (addr < stack_base || addr - stack_base > stack.size() || stack.size() - (addr - stack_base) < 8)
    return std::nullopt;
  uint64_t word = 0;
  std::memcpy(&word, stack.data() + (addr - stack_base), sizeof word);
  return word;
}

std::optional<uint64_t> eval_cfi(std::span<const CfiOp> ops,
                                 const std::array<std::optional<uint64_t>, kDwarfRegs>& regs,
                                 std::optional<uint64_t> cfa, const StackSnapshot& snapshot,
                                 bool* is_value) {
  std::vector<uint64_t> st;
  *is_value = false;
  auto reg = [&](uint64_t n) -> std::optional<uint64_t> {
    if (n >= kDwarfRegs) return std::nullopt;
    return regs[n];
  };
  auto pop2 = [&](uint64_t* a, uint64_t* b) {
    if (st.size() < 2) return false;
    *b = st.back();
    st.pop_back();
    *a = st.back();
    st.pop_back();
    return true;
  };
  for (const CfiOp& op : ops) {
    const uint8_t a = op.atom;
    if (a >= DW_OP_breg0 && a <= DW_OP_breg31) {
      auto r = reg(a - DW_OP_breg0);
      if (!r) return std::nullopt;
      st.push_back(*r + op.number);
    } else if (a >= DW_OP_lit0 && a <= DW_OP_lit31) {
      st.push_back(a - DW_OP_lit0);
    } else if (a >= DW_OP_reg0 && a <= DW_OP_reg31) {
      auto r = reg(a - DW_OP_reg0);
      if (!r) return std::nullopt;
      st.push_back(*r);
      *is_value = true;
    } else {
      uint64_t x = 0, y = 0;
      switch (a) {
        case DW_OP_bregx: {
          auto r = reg(op.number);
          if (!r) return std::nullopt;
          st.push_back(*r + op.number2);
          break;
        }
        case DW_OP_call_frame_cfa:
          if (!cfa) return std::nullopt;
          st.push_back(*cfa);
          break;
        case DW_OP_const1u: case DW_OP_const2u: case DW_OP_const4u: case DW_OP_const8u:
        case DW_OP_const1s: case DW_OP_const2s: case DW_OP_const4s: case DW_OP_const8s:
        case DW_OP_constu: case DW_OP_consts:
          st.push_back(op.number);
          break;
        case DW_OP_plus_uconst:
          if (st.empty()) return std::nullopt;
          st.back() += op.number;
          break;
        case DW_OP_deref: {
          if (st.empty()) return std::nullopt;
          auto w = snapshot.word_at(st.back());
          if (!w) return std::nullopt;
          st.back() = *w;
          break;
        }
        case DW_OP_dup:
          if (st.empty()) return std::nullopt;
          st.push_back(st.back());
          break;
        case DW_OP_plus: case DW_OP_minus: case DW_OP_and: case DW_OP_or: case DW_OP_shl:
        case DW_OP_shr: case DW_OP_mul: case DW_OP_ge: case DW_OP_gt: case DW_OP_le:
        case DW_OP_lt: case DW_OP_eq: case DW_OP_ne:
          if (!pop2(&x, &y)) return std::nullopt;
          switch (a) {
            case DW_OP_plus: st.push_back(x + y); break;
            case DW_OP_minus: st.push_back(x - y); break;
            case DW_OP_and: st.push_back(x & y); break;
            case DW_OP_or: st.push_back(x | y); break;
            case DW_OP_shl: st.push_back(y < 64 ? x << y : 0); break;
            case DW_OP_shr: st.push_back(y < 64 ? x >> y : 0); break;
            case DW_OP_mul: st.push_back(x * y); break;
            // Comparisons are signed in DWARF.
            case DW_OP_ge: st.push_back(int64_t(x) >= int64_t(y)); break;
            case DW_OP_gt: st.push_back(int64_t(x) > int64_t(y)); break;
            case DW_OP_le: st.push_back(int64_t(x) <= int64_t(y)); break;
            case DW_OP_lt: st.push_back(int64_t(x) < int64_t(y)); break;
            case DW_OP_eq: st.push_back(x == y); break;
            case DW_OP_ne: st.push_back(x != y); break;
          }
          break;
        case DW_OP_stack_value:
          *is_value = true;
          break;
        default:
          return std::nullopt;
      }
    }
  }
  if (st.empty()) return std::nullopt;
  return st.back();
}

namespace {

using Regs = std::array<std::optional<uint64_t>, kDwarfRegs>;

// One step with the CFI row: the caller's registers, or nullopt.
std::optional<Regs> step_cfi(const CfiRow& row, const Regs& regs, const StackSnapshot& s) {
  bool is_value = false;
  auto cfa = eval_cfi(row.cfa, regs, std::nullopt, s, &is_value);
  if (!cfa) return std::nullopt;
  Regs caller{};
  for (int r = 0; r < kDwarfRegs; ++r) {
    const CfiRule& rule = row.regs[r];
    switch (rule.type) {
      case CfiRule::Type::Undefined:
        break;
      case CfiRule::Type::SameValue:
        // The return-address column has no "same value": unknown stays unknown.
        if (r != kDwarfRip) caller[r] = regs[r];
        break;
      case CfiRule::Type::Expression: {
        auto v = eval_cfi(rule.ops, regs, cfa, s, &is_value);
        if (!v) break;
        if (is_value) {
          caller[r] = *v;
        } else if (auto w = s.word_at(*v)) {
          caller[r] = *w;
        }
        break;
      }
    }
  }
  // By definition the caller's stack pointer is the CFA.
  caller[kDwarfRsp] = *cfa;
  return caller;
}

// One step along the frame-pointer chain, for code without CFI.
std::optional<Regs> step_frame_pointer(const Regs& regs, const StackSnapshot& s) {
  if (!regs[kDwarfRbp] || !regs[kDwarfRsp]) return std::nullopt;
  const uint64_t fp = *regs[kDwarfRbp];
  if (fp < *regs[kDwarfRsp]) return std::nullopt;  // a frame pointer lies above the stack pointer
  auto saved_fp = s.word_at(fp);
  auto ra = s.word_at(fp + 8);
  if (!saved_fp || !ra) return std::nullopt;
  Regs caller = regs;
  caller[kDwarfRbp] = *saved_fp;
  caller[kDwarfRsp] = fp + 16;
  caller[kDwarfRip] = *ra;
  return caller;
}

}  // namespace

std::vector<uint64_t> unwind_stack(const StackSnapshot& snapshot, const CfiLookup& lookup,
                                   size_t max_frames) {
  std::vector<uint64_t> pcs;
  Regs regs{};
  for (int r = 0; r < kDwarfRegs; ++r) regs[r] = snapshot.regs[r];
  bool first = true;
  size_t hijacked = 0;
  while (pcs.size() < max_frames) {
    if (!regs[kDwarfRip] || *regs[kDwarfRip] == 0) break;
    const uint64_t pc = *regs[kDwarfRip];
    pcs.push_back(pc);
    // A return address points after the call; its CFI row is the call's.
    std::optional<CfiRow> row = lookup(first ? pc : pc - 1);
    first = false;
    std::optional<Regs> caller = row ? step_cfi(*row, regs, snapshot) : std::nullopt;
    if (!row) caller = step_frame_pointer(regs, snapshot);
    if (!caller || !(*caller)[kDwarfRsp] || !regs[kDwarfRsp]) break;
    if (*(*caller)[kDwarfRsp] <= *regs[kDwarfRsp]) break;  // must move up the stack
    if (snapshot.trampoline && (*caller)[kDwarfRip] == snapshot.trampoline) {
      if (hijacked >= snapshot.hijacked.size()) break;
      (*caller)[kDwarfRip] = snapshot.hijacked[hijacked++];
    }
    regs = *caller;
  }
  return pcs;
}

}  // namespace leakscope
