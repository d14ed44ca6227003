// Growth inside the allocator is the caller's (issue 12). glibc's malloc
// takes memory from the OS with brk (sysmalloc -> __sbrk) and mmap/mremap
// (sysmalloc, _int_realloc); jemalloc maps extents. Judged as stacks of
// their own, those syscalls reported every heap leak twice. This is the one
// place that decides which brk/mmap stacks are the allocator's growth.
//
// The rule. Nothing is growth when the heap kind is off for the image
// (--kinds without heap, --all before a drill-down, no allocator found):
// brk/mmap is then the only signal and is judged as before. When it is on,
// a stack of a syscall kind that moves memory (brk; mmap, which also
// accounts mremap) is the allocator's growth when
//   1. one of its frames is a return address inside a function the heap
//      kind probes in that image (malloc, calloc, realloc, ..., operator
//      new, free: the probed symbols' address ranges, as file offsets in
//      their module). Ranges, not names: glibc's malloc has several names
//      at one address (malloc, __libc_malloc) and the symbolizer may give
//      any. The caller's stack is the frames after the outermost such
//      frame; or
//   2. none of its frames lies outside the C allocator's module, and that
//      module is a library (libc for glibc, libjemalloc), not the program.
//      Its caller is unknown; or
//   3. the C allocator is a library of its own family (jemalloc, mimalloc:
//      one that maps memory for nothing but its heap) that does not define
//      the OS's memory calls itself, and the stack begins in it: the
//      syscall is that library's own. (gperftools' tcmalloc defines mmap,
//      mremap and sbrk to run its hooks, so every mmap of its process
//      begins in it: rule 3 is not for it.) The caller's
//      stack is the frames after that first run. This is what meets
//      jemalloc's growth: its malloc tail-jumps to its slow path, which
//      leaves no return address in malloc (rule 1's gap below), and Debian's
//      libjemalloc is stripped, so the run is unnamed offsets. Not for
//      glibc: libc maps memory for more than its heap (pthread_create's
//      thread stacks), and those stacks begin in libc too.
//   A known gap of rule 1: an entry point that tail-calls its worker
//   leaves no return address of its own. glibc's memalign/aligned_alloc
//   end in `jmp _mid_memalign`, so on a complete stack their growth shows
//   _mid_memalign and then the caller, no probed function, and is judged.
//   (malloc, calloc, realloc, posix_memalign and free call their workers.)
//
// Rule 2 is there for frame-pointer stacks, which stop inside libc:
// glibc's __sbrk keeps the break in %rbp, so sysmalloc's brk reads
// `__sbrk` and nothing more (not even marked truncated: the walk in BPF
// stops at the bad frame pointer). A complete stack always reaches the
// program's code (main, a thread's start function), so rule 2 only ever
// meets stacks whose walk stopped early; an allocator linked into the
// program is left out because every stack of the program lies in its
// module. Rule 2 is sound where the program's own frame is kept: a
// program calling mmap() or brk() gets the return address into its own
// code as its first frame (StackStore::syscall_stack), which is outside
// libc. It is NOT sound where libc hides that frame the same way: a
// program calling sbrk() itself reads `__sbrk` just like sysmalloc, and a
// mapping libc makes for itself (pthread_create's thread stacks) reads the
// same when that code uses %rbp as a register. With the heap kind on those
// are taken for the allocator's growth (with --kinds brk or mmap alone
// they are judged). Stacks walked by CFI reach the program, and rule 1
// decides; rule 2 still meets the stacks walked by frame pointer (a
// process before its unwind tables load) and CFI walks cut inside libc.
// Under --sample N nothing is growth (the judge's call): the heap kind may
// have sampled none of the blocks a growth was for.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/types.h"

namespace leakscope {

struct AllocatorPlan;
struct TracedImage;
class StackStore;

// Where an image's probed allocator code lies.
struct AllocatorCode {
  struct Function {
    std::string module;  // path as in the maps (Frame::module)
    uint64_t begin = 0;  // file offsets: [begin, end)
    uint64_t end = 0;
  };
  std::string module;  // the C allocator's module
  bool module_is_program = false;  // it is the main executable
  // ... a library of a family with an API of its own (jemalloc, not glibc)
  // that leaves the OS's memory calls to libc (not tcmalloc)
  bool module_maps_only_for_its_heap = false;
  std::vector<Function> functions;

  static AllocatorCode of(const AllocatorPlan& plan);
  bool empty() const { return functions.empty(); }
  // The frame's return address lies inside (or just after a call that
  // ends) one of the functions.
  bool in_function(const Frame& frame) const;
  // The frame lies in the C allocator's module, a library.
  bool in_library(const Frame& frame) const {
    return !module_is_program && !module.empty() && frame.module == module;
  }
  // The same, for an allocator library that maps memory only for its heap.
  bool in_own_library(const Frame& frame) const { return module_maps_only_for_its_heap && in_library(frame); }
};

// A brk/mmap stack that is the allocator's growth.
struct AllocatorGrowth {
  // The caller's stack is frames[caller_from..]; caller_from == frames.size()
  // when it is unknown.
  size_t caller_from = 0;
};

// The rule above on a stack's frames (leak site first). `heap_allocator`:
// the image's probed allocator; null when the heap kind is off for it.
std::optional<AllocatorGrowth> allocator_growth(Kind kind, const std::vector<Frame>& frames,
                                                const AllocatorCode* heap_allocator);

// The same for a ledger row of a traced image (its stack resolved in
// `stacks` only when the kind and the image can make it growth).
std::optional<AllocatorGrowth> allocator_growth(const LedgerRow& row, const TracedImage& image, StackStore& stacks);

}  // namespace leakscope
