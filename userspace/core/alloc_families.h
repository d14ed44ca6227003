// The allocator families the heap kind knows: one table each. A family is
// the functions an allocator exports, each with its name in reports, its
// shape (core/bpf_contract.h: where the size and the block are, so which
// BPF entry program serves it) and its symbols; the prefixes its symbols
// may carry (jemalloc built with --with-jemalloc-prefix: je_, Rust's
// tikv-jemallocator: _rjem_); and the marker symbols whose definitions say
// that a module holds the family. Adding a family is adding a table here
// and a line to kAllocFamilies: the planner (target/allocator.cpp) looks
// for every family in every module a process maps, and the BPF side needs
// nothing new as long as its functions have known shapes.
//
// What needs no column:
// - Which functions free or resize: their shape says (alloc_role).
// - Nested calls (realloc(NULL, n) calling malloc, operator new calling
//   malloc, mi_new calling mi_malloc): the BPF side counts the outermost
//   call of any probed function on a thread once, whatever the family, by
//   the stack pointer (heap.bpf.c).
// - Frees that go through another probed free (libstdc++'s operator delete
//   tail-jumps to free, mimalloc's mi_free_size to mi_free): the planner
//   finds them in the code (a tail jump with the block untouched) and does
//   not probe them, so that one free is seen once. Those that do not
//   (jemalloc's and tcmalloc's sized deletes, jemalloc's sdallocx) are
//   probed. A family's own free (its `free` column, with any prefix) is
//   always probed.
// - Several symbols at one address (tcmalloc's malloc is tc_malloc, its
//   operator delete is free): one probe, named by the first family and
//   function that has it (the families in kAllocFamilies' order).
//
// Left out on purpose: functions whose size is not an argument (strdup,
// mi_strdup), that take a heap or arena first (mi_heap_malloc), that resize
// in place and return a size (xallocx), or that free their block on failure
// (reallocf).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/bpf_contract.h"
#include "leakscope.h"

namespace leakscope {

struct AllocFunction {
  std::string_view name;     // in reports: "malloc", "mallocx", "operator new"
  AllocShape shape;
  std::string_view symbols;  // space-separated: "_Znwm _Znam ..."
};

struct AllocFamily {
  std::string_view name;                       // "jemalloc"
  std::string_view prefixes;                   // space-separated, tried after no prefix
  std::string_view markers;                    // space-separated: every one defined = the family is there
  std::string_view free;                       // its own free, probed whatever its code ("": none)
  std::span<const AllocFunction> functions;
};

namespace families_detail {

using enum AllocShape;

// The C allocator API: glibc's, musl's, and every allocator that replaces
// malloc. Order matters where symbols share an address: glibc's memalign is
// its aligned_alloc, probed once, as aligned_alloc.
inline constexpr AllocFunction kMalloc[] = {
    {"malloc", Malloc, "malloc"},
    {"calloc", Calloc, "calloc"},
    {"realloc", Realloc, "realloc"},
    {"reallocarray", Reallocarray, "reallocarray"},
    {"posix_memalign", PosixMemalign, "posix_memalign"},
    {"aligned_alloc", AlignedAlloc, "aligned_alloc"},
    {"memalign", AlignedAlloc, "memalign"},
    {"valloc", Malloc, "valloc"},
    {"pvalloc", Pvalloc, "pvalloc"},
    {"free", Free, "free"},
};

// C++'s operator new and delete, plain, nothrow, sized and aligned: in
// libstdc++ (whose deletes tail-jump to free) and in every allocator that
// replaces them (jemalloc, tcmalloc, mimalloc). Aligned new takes the size
// first, so it is malloc-shaped too.
inline constexpr AllocFunction kOperatorNew[] = {
    {"operator new", Malloc,
     "_Znwm _Znam _ZnwmRKSt9nothrow_t _ZnamRKSt9nothrow_t _ZnwmSt11align_val_t "
     "_ZnwmSt11align_val_tRKSt9nothrow_t _ZnamSt11align_val_t _ZnamSt11align_val_tRKSt9nothrow_t"},
    {"operator delete", Free,
     "_ZdlPv _ZdaPv _ZdlPvRKSt9nothrow_t _ZdaPvRKSt9nothrow_t _ZdlPvm _ZdaPvm "
     "_ZdlPvSt11align_val_t _ZdaPvSt11align_val_t _ZdlPvSt11align_val_tRKSt9nothrow_t "
     "_ZdaPvSt11align_val_tRKSt9nothrow_t _ZdlPvmSt11align_val_t _ZdaPvmSt11align_val_t"},
};

// jemalloc's own API besides the C one (whose symbols it also exports with
// its prefix: je_malloc, _rjem_malloc).
inline constexpr AllocFunction kJemalloc[] = {
    {"malloc", Malloc, "malloc"},
    {"calloc", Calloc, "calloc"},
    {"realloc", Realloc, "realloc"},
    {"posix_memalign", PosixMemalign, "posix_memalign"},
    {"aligned_alloc", AlignedAlloc, "aligned_alloc"},
    {"memalign", AlignedAlloc, "memalign"},
    {"valloc", Malloc, "valloc"},
    {"free", Free, "free"},
    {"mallocx", Malloc, "mallocx"},        // (size, flags)
    {"rallocx", Realloc, "rallocx"},       // (ptr, size, flags)
    {"sdallocx", Free, "sdallocx"},        // (ptr, size, flags)
    {"dallocx", Free, "dallocx"},          // (ptr, flags)
};

// gperftools' tcmalloc: the tc_ names (most are aliases of the C and C++
// ones, probed once).
inline constexpr AllocFunction kTcmalloc[] = {
    {"tc_malloc", Malloc, "tc_malloc tc_malloc_skip_new_handler"},
    {"tc_calloc", Calloc, "tc_calloc"},
    {"tc_realloc", Realloc, "tc_realloc"},
    {"tc_posix_memalign", PosixMemalign, "tc_posix_memalign"},
    {"tc_memalign", AlignedAlloc, "tc_memalign"},
    {"tc_valloc", Malloc, "tc_valloc"},
    {"tc_pvalloc", Pvalloc, "tc_pvalloc"},
    {"tc_free", Free, "tc_free tc_cfree"},
    {"tc_free_sized", Free, "tc_free_sized"},  // (ptr, size)
    {"tc_new", Malloc,
     "tc_new tc_newarray tc_new_nothrow tc_newarray_nothrow tc_new_aligned tc_newarray_aligned "
     "tc_new_aligned_nothrow tc_newarray_aligned_nothrow"},
    {"tc_delete", Free,
     "tc_delete tc_deletearray tc_delete_nothrow tc_deletearray_nothrow tc_delete_sized "
     "tc_deletearray_sized tc_delete_aligned tc_deletearray_aligned tc_delete_sized_aligned "
     "tc_deletearray_sized_aligned tc_delete_aligned_nothrow tc_deletearray_aligned_nothrow"},
};

// mimalloc's mi_ API (mi_malloc is its malloc, mi_free its free).
inline constexpr AllocFunction kMimalloc[] = {
    {"mi_malloc", Malloc,
     "mi_malloc mi_zalloc mi_malloc_small mi_zalloc_small mi_malloc_aligned mi_malloc_aligned_at "
     "mi_zalloc_aligned mi_zalloc_aligned_at mi_valloc"},  // (size, ...)
    {"mi_calloc", Calloc, "mi_calloc mi_mallocn mi_calloc_aligned mi_calloc_aligned_at"},  // (n, size, ...)
    {"mi_realloc", Realloc,
     "mi_realloc mi_rezalloc mi_realloc_aligned mi_realloc_aligned_at mi_rezalloc_aligned "
     "mi_rezalloc_aligned_at"},  // (ptr, size, ...)
    {"mi_reallocn", Reallocarray,
     "mi_reallocn mi_reallocarray mi_recalloc mi_recalloc_aligned mi_recalloc_aligned_at"},  // (ptr, n, size, ...)
    {"mi_posix_memalign", PosixMemalign, "mi_posix_memalign"},
    {"mi_aligned_alloc", AlignedAlloc, "mi_aligned_alloc mi_memalign"},  // (align, size)
    {"mi_pvalloc", Pvalloc, "mi_pvalloc"},
    {"mi_new", Malloc, "mi_new mi_new_nothrow mi_new_aligned mi_new_aligned_nothrow"},
    {"mi_new_n", Calloc, "mi_new_n"},
    {"mi_new_realloc", Realloc, "mi_new_realloc"},
    {"mi_new_reallocn", Reallocarray, "mi_new_reallocn"},
    {"mi_free", Free, "mi_free mi_cfree mi_free_size mi_free_aligned mi_free_size_aligned"},
};

}  // namespace families_detail

// Every family, in the order the planner probes them (the first to probe
// an address names it). Its index is the family's number in function ids.
inline constexpr AllocFamily kAllocFamilies[] = {
    {"malloc", "", "malloc free", "free", families_detail::kMalloc},
    {"operator new", "", "_Znwm", "", families_detail::kOperatorNew},
    {"jemalloc", "je_ _rjem_", "mallocx sdallocx", "free", families_detail::kJemalloc},
    {"tcmalloc", "", "tc_malloc tc_free", "tc_free", families_detail::kTcmalloc},
    {"mimalloc", "", "mi_malloc mi_free", "mi_free", families_detail::kMimalloc},
};

static_assert(
    [] {
      for (const AllocFamily& f : kAllocFamilies)
        if (f.functions.size() > 0xff) return false;
      return std::size(kAllocFamilies) < 0xff;
    }(),
    "function ids are family << 8 | index, below LS_FN_FP_WALKED; family 0xff is LS_FN_OTEL_MEMORY's");

// The id the BPF side keeps for a family's function (bpf/leakscope.h).
constexpr uint32_t alloc_fn_id(size_t family, size_t index) {
  return LS_FN_ID(static_cast<uint32_t>(family), static_cast<uint32_t>(index));
}

// The function an id names; null for an id no table has.
constexpr const AllocFunction* alloc_function(uint32_t id) {
  const size_t family = id >> 8, index = id & 0xff;
  if (id >= LS_FN_ID_LIMIT || family >= std::size(kAllocFamilies)) return nullptr;
  const auto& functions = kAllocFamilies[family].functions;
  return index < functions.size() ? &functions[index] : nullptr;
}

constexpr const AllocFamily* alloc_family(uint32_t id) {
  return alloc_function(id) ? &kAllocFamilies[id >> 8] : nullptr;
}

// Calls F(word) for each space-separated word of LIST.
template <typename F>
constexpr void for_each_word(std::string_view list, F&& f) {
  while (!list.empty()) {
    size_t space = list.find(' ');
    std::string_view word = list.substr(0, space);
    if (!word.empty()) f(word);
    if (space == std::string_view::npos) break;
    list.remove_prefix(space + 1);
  }
}

}  // namespace leakscope
