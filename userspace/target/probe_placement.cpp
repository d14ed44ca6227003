#include "target/probe_placement.h"

#include <capstone/capstone.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

namespace leakscope {

namespace {

constexpr size_t kMaxInstructions = 8;

// x86-64 System V argument registers, in order.
constexpr std::array<x86_reg, 6> kArgs = {X86_REG_RDI, X86_REG_RSI, X86_REG_RDX,
                                          X86_REG_RCX, X86_REG_R8,  X86_REG_R9};

// Every register name (8/16/32/64-bit) that aliases a 64-bit register.
bool aliases(csh cs, uint16_t reg, x86_reg full) {
  static const char* const kFamilies[][5] = {
      {"rdi", "edi", "di", "dil", nullptr}, {"rsi", "esi", "si", "sil", nullptr},
      {"rdx", "edx", "dx", "dl", "dh"},     {"rcx", "ecx", "cx", "cl", "ch"},
      {"r8", "r8d", "r8w", "r8b", nullptr}, {"r9", "r9d", "r9w", "r9b", nullptr},
      {"rsp", "esp", "sp", "spl", nullptr},
  };
  const char* full_name = cs_reg_name(cs, full);
  const char* name = cs_reg_name(cs, reg);
  if (!full_name || !name) return false;
  for (const auto& family : kFamilies) {
    if (std::string(family[0]) != full_name) continue;
    for (const char* n : family)
      if (n && std::string(n) == name) return true;
  }
  return false;
}

bool writes_any(csh cs, const cs_insn& insn, std::span<const x86_reg> regs) {
  cs_regs read, written;
  uint8_t nread = 0, nwritten = 0;
  if (cs_regs_access(cs, &insn, read, &nread, written, &nwritten) != CS_ERR_OK) return true;
  for (uint8_t i = 0; i < nwritten; ++i)
    for (x86_reg r : regs)
      if (aliases(cs, written[i], r)) return true;
  return false;
}

bool is_push_register(const cs_insn& insn) {
  return insn.id == X86_INS_PUSH && insn.detail->x86.op_count == 1 &&
         insn.detail->x86.operands[0].type == X86_OP_REG;
}

bool is_control_flow(const cs_insn& insn) {
  for (uint8_t i = 0; i < insn.detail->groups_count; ++i) {
    switch (insn.detail->groups[i]) {
      case CS_GRP_JUMP:
      case CS_GRP_CALL:
      case CS_GRP_RET:
      case CS_GRP_INT:
      case CS_GRP_IRET:
        return true;
      default:
        break;
    }
  }
  return insn.id == X86_INS_SYSCALL || insn.id == X86_INS_HLT || insn.id == X86_INS_UD2;
}

// `test rdi, rdi` or `cmp rdi, 0`: sets ZF when the first argument is NULL.
bool tests_first_argument_for_null(const cs_insn& insn) {
  const cs_x86& x = insn.detail->x86;
  if (x.op_count != 2) return false;
  const cs_x86_op& a = x.operands[0];
  const cs_x86_op& b = x.operands[1];
  if (a.type != X86_OP_REG || a.reg != X86_REG_RDI) return false;
  if (insn.id == X86_INS_TEST) return b.type == X86_OP_REG && b.reg == X86_REG_RDI;
  if (insn.id == X86_INS_CMP) return b.type == X86_OP_IMM && b.imm == 0;
  return false;
}

}  // namespace

Placement place_entry_probe(std::span<const uint8_t> code, const PlacementRules& rules) {
  Placement at_entry;
  at_entry.reason = "at the entry";
  csh cs;
  if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK) {
    at_entry.reason = "at the entry (no decoder)";
    return at_entry;
  }
  cs_option(cs, CS_OPT_DETAIL, CS_OPT_ON);
  cs_insn* insns = nullptr;
  size_t n = cs_disasm(cs, code.data(), code.size(), 0, kMaxInstructions, &insns);

  std::vector<x86_reg> guarded(kArgs.begin(),
                               kArgs.begin() + std::min<size_t>(rules.argument_registers, kArgs.size()));
  guarded.push_back(X86_REG_RSP);

  Placement result = at_entry;
  bool after_null_test = false;
  for (size_t i = 0; i < n; ++i) {
    const cs_insn& insn = insns[i];
    std::string text = std::string(insn.mnemonic) + (insn.op_str[0] ? " " : "") + insn.op_str;
    if (i == 0) result.instruction = text;
    if (is_push_register(insn)) {
      result.delta = insn.address;
      result.instruction = text;
      result.reason = insn.address == 0 ? "at the entry, an emulated push"
                                        : "at the first push, after a NULL check of the first argument";
      break;
    }
    if (insn.id == X86_INS_ENDBR64 || insn.id == X86_INS_NOP) continue;
    bool null_branch = insn.id == X86_INS_JE && after_null_test && rules.null_first_argument_is_noop;
    if (null_branch) {
      after_null_test = false;
      continue;
    }
    if (is_control_flow(insn)) {
      result = at_entry;
      result.reason = "at the entry: a branch comes before any push";
      break;
    }
    if (writes_any(cs, insn, guarded)) {
      result = at_entry;
      result.reason = "at the entry: an argument register or the stack pointer changes before any push";
      break;
    }
    after_null_test = tests_first_argument_for_null(insn);
  }
  if (result.delta == 0 && n > 0 && result.instruction.empty())
    result.instruction = std::string(insns[0].mnemonic) + " " + insns[0].op_str;
  if (insns) cs_free(insns, n);
  cs_close(&cs);
  return result;
}

bool tail_forwards(std::span<const uint8_t> code) {
  csh cs;
  if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK) return false;
  cs_option(cs, CS_OPT_DETAIL, CS_OPT_ON);
  cs_insn* insns = nullptr;
  size_t n = cs_disasm(cs, code.data(), code.size(), 0, kMaxInstructions, &insns);
  const std::array<x86_reg, 2> kept = {X86_REG_RDI, X86_REG_RSP};
  bool forwards = false;
  for (size_t i = 0; i < n; ++i) {
    const cs_insn& insn = insns[i];
    if (insn.id == X86_INS_ENDBR64 || insn.id == X86_INS_NOP) continue;
    if (insn.id == X86_INS_JMP) {
      forwards = true;
      break;
    }
    if (is_control_flow(insn) || writes_any(cs, insn, kept)) break;
    bool memory = false;
    for (uint8_t k = 0; k < insn.detail->x86.op_count; ++k)
      memory |= insn.detail->x86.operands[k].type == X86_OP_MEM;
    if (memory || insn.id != X86_INS_MOV) break;
  }
  if (insns) cs_free(insns, n);
  cs_close(&cs);
  return forwards;
}

}  // namespace leakscope
