// The BPF/userspace contract as the C++ side reads it. The lists live once,
// in bpf/leakscope.h: LS_ALLOC_SHAPES (the allocator functions' shapes, one
// entry program each), LS_SYSCALLS (the traced syscalls). The tables here
// are generated from them, so a shape or syscall is added there and nowhere
// else; the static_asserts below hold what the code that indexes them
// relies on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "leakscope.h"

namespace leakscope {

// The shape of an allocator function (bpf/leakscope.h): where its size and
// block are, so which BPF entry program serves it. The functions themselves
// are the families' tables (core/alloc_families.h).
enum class AllocShape : uint32_t {
#define LS_ALLOC_SHAPE_ENUMERATOR_(e, cxx, program) cxx = LS_SHAPE_##e,
  LS_ALLOC_SHAPES(LS_ALLOC_SHAPE_ENUMERATOR_)
#undef LS_ALLOC_SHAPE_ENUMERATOR_
};

struct AllocShapeInfo {
  AllocShape shape;
  std::string_view program;  // its BPF entry program (heap.bpf.c)
};

// Every shape, indexed by AllocShape.
inline constexpr AllocShapeInfo kAllocShapes[] = {
#define LS_ALLOC_SHAPE_INFO_(e, cxx, program) {AllocShape::cxx, #program},
    LS_ALLOC_SHAPES(LS_ALLOC_SHAPE_INFO_)
#undef LS_ALLOC_SHAPE_INFO_
};

static_assert(std::size(kAllocShapes) == LS_SHAPE__COUNT, "every ls_alloc_shape");
static_assert(
    [] {
      for (size_t i = 0; i < std::size(kAllocShapes); ++i)
        if (static_cast<size_t>(kAllocShapes[i].shape) != i) return false;
      return true;
    }(),
    "kAllocShapes is indexed by AllocShape");

constexpr const AllocShapeInfo& alloc_shape_info(AllocShape shape) {
  return kAllocShapes[static_cast<size_t>(shape)];
}

// What a function of the shape does to blocks.
enum class AllocRole { Allocates, Resizes, Frees };
constexpr AllocRole alloc_role(AllocShape shape) {
  switch (shape) {
    case AllocShape::Realloc:
    case AllocShape::Reallocarray: return AllocRole::Resizes;
    case AllocShape::Free: return AllocRole::Frees;
    default: return AllocRole::Allocates;
  }
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
