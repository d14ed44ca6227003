// The BPF/userspace contract as the C++ side reads it. The lists live once,
// in bpf/leakscope.h: LS_ALLOC_FNS and LS_FREE_FN (the allocator functions),
// LS_SYSCALLS (the traced syscalls). The tables here are generated from them,
// so a function or syscall is added there and nowhere else; the
// static_asserts below hold what the code that indexes them relies on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "leakscope.h"

namespace leakscope {

// An allocator function the heap kind probes. Each ls_alloc_fn is its own
// value; Free, which is no ls_alloc_fn (it allocates nothing, so no ledger
// row or live object holds it), comes after them all.
enum class AllocFn : uint32_t {
#define LS_ALLOC_FN_ENUMERATOR_(e, cxx, name, program, ...) cxx = LS_FN_##e,
  LS_ALLOC_FNS(LS_ALLOC_FN_ENUMERATOR_)
#undef LS_ALLOC_FN_ENUMERATOR_
#define LS_FREE_FN_ENUMERATOR_(e, cxx, name, program, ...) cxx = LS_FN__COUNT,
  LS_FREE_FN(LS_FREE_FN_ENUMERATOR_)
#undef LS_FREE_FN_ENUMERATOR_
};

struct AllocFnInfo {
  AllocFn fn;
  std::string_view name;                      // in reports
  std::string_view program;                   // its BPF entry program (heap.bpf.c)
  std::span<const std::string_view> symbols;  // what the function is called in a module
};

namespace contract_detail {
#define LS_ALLOC_FN_SYMBOLS_(e, cxx, name, program, ...) \
  inline constexpr std::string_view k##cxx##Symbols[] = {__VA_ARGS__};
LS_ALLOC_FNS(LS_ALLOC_FN_SYMBOLS_)
LS_FREE_FN(LS_ALLOC_FN_SYMBOLS_)
#undef LS_ALLOC_FN_SYMBOLS_
}  // namespace contract_detail

// Every allocator function, indexed by AllocFn: the ls_alloc_fns in their
// order, then free.
inline constexpr AllocFnInfo kAllocFns[] = {
#define LS_ALLOC_FN_INFO_(e, cxx, name, program, ...) \
  {AllocFn::cxx, name, #program, contract_detail::k##cxx##Symbols},
    LS_ALLOC_FNS(LS_ALLOC_FN_INFO_) LS_FREE_FN(LS_ALLOC_FN_INFO_)
#undef LS_ALLOC_FN_INFO_
};

static_assert(std::size(kAllocFns) == LS_FN__COUNT + 1, "every ls_alloc_fn, then free");
static_assert(
    [] {
      for (size_t i = 0; i < std::size(kAllocFns); ++i)
        if (static_cast<size_t>(kAllocFns[i].fn) != i) return false;
      return true;
    }(),
    "kAllocFns is indexed by AllocFn");

constexpr const AllocFnInfo& alloc_fn_info(AllocFn fn) {
  return kAllocFns[static_cast<size_t>(fn)];
}

// "malloc", ..., "operator new", "free"; "?" for a value no AllocFn names.
constexpr std::string_view alloc_fn_name(AllocFn fn) {
  return static_cast<size_t>(fn) < std::size(kAllocFns) ? alloc_fn_info(fn).name : "?";
}

// A syscall the syscall kinds follow.
struct TracedSyscall {
  std::string_view name;  // tracepoints syscalls:sys_enter_<name>, sys_exit_<name>
  uint32_t op;            // enum ls_sys_op its events carry
  uint32_t kinds;         // LS_KIND_BIT of the kinds that need it
};

inline constexpr TracedSyscall kTracedSyscalls[] = {
#define LS_TRACED_SYSCALL_(name, op, kinds) {#name, op, kinds},
    LS_SYSCALLS(LS_TRACED_SYSCALL_)
#undef LS_TRACED_SYSCALL_
};

// The kinds whose bookkeeping needs syscall probes (LS_KIND_BIT mask).
constexpr uint32_t syscall_kinds() {
  uint32_t mask = 0;
  for (const TracedSyscall& s : kTracedSyscalls) mask |= s.kinds;
  return mask;
}

}  // namespace leakscope
