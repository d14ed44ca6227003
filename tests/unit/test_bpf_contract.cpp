// The lists of bpf/leakscope.h as userspace reads them (core/bpf_contract.h):
// what the tracer relies on that a wrong edit of a list would break.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "core/alloc_families.h"
#include "core/bpf_contract.h"
#include "core/types.h"
#include "leakscope.h"

namespace leakscope {
namespace {

TEST(BpfContractTest, EveryAllocatorShapeHasItsOwnEntryProgram) {
  std::set<std::string_view> programs;
  for (const AllocShapeInfo& s : kAllocShapes) {
    // heap.bpf.c's entry programs, one per shape.
    EXPECT_TRUE(s.program.ends_with("_enter")) << s.program;
    EXPECT_TRUE(programs.insert(s.program).second) << "program twice: " << s.program;
  }
  EXPECT_EQ(programs.size(), static_cast<size_t>(LS_SHAPE__COUNT));
  EXPECT_EQ(alloc_shape_info(AllocShape::Free).program, "free_enter");
  EXPECT_EQ(alloc_role(AllocShape::Free), AllocRole::Frees);
  EXPECT_EQ(alloc_role(AllocShape::Reallocarray), AllocRole::Resizes);
  EXPECT_EQ(alloc_role(AllocShape::PosixMemalign), AllocRole::Allocates);
}

TEST(BpfContractTest, EveryFamilyHasMarkersFunctionsAndSymbolsOfItsOwn) {
  std::set<std::string_view> families;
  for (const AllocFamily& family : kAllocFamilies) {
    SCOPED_TRACE(std::string(family.name));
    EXPECT_TRUE(families.insert(family.name).second) << "family twice";
    EXPECT_FALSE(family.markers.empty());
    EXPECT_FALSE(family.functions.empty());
    std::set<std::string_view> names, symbols, free_shaped;
    for (const AllocFunction& f : family.functions) {
      EXPECT_FALSE(f.name.empty());
      EXPECT_TRUE(names.insert(f.name).second) << "function twice: " << f.name;
      size_t n = 0;
      for_each_word(f.symbols, [&](std::string_view symbol) {
        ++n;
        // A symbol of two functions would be probed as whichever came first.
        EXPECT_TRUE(symbols.insert(symbol).second) << "symbol twice: " << symbol;
        if (f.shape == AllocShape::Free) free_shaped.insert(symbol);
      });
      EXPECT_GT(n, 0u) << f.name;
    }
    // Its markers are its own symbols, and its own free is one of its frees.
    for_each_word(family.markers, [&](std::string_view m) { EXPECT_TRUE(symbols.count(m)) << m; });
    if (!family.free.empty()) {
      EXPECT_TRUE(free_shaped.count(family.free)) << family.free;
    }
  }
}

TEST(BpfContractTest, FunctionIdsNameTheirFunctionAndNothingElse) {
  std::set<uint32_t> ids;
  for (size_t family = 0; family < std::size(kAllocFamilies); ++family) {
    const auto& functions = kAllocFamilies[family].functions;
    for (size_t i = 0; i < functions.size(); ++i) {
      uint32_t id = alloc_fn_id(family, i);
      EXPECT_TRUE(ids.insert(id).second);
      // The kernel keeps flags above the id in a row's fn.
      EXPECT_EQ(id & ~(LS_FN_ID_LIMIT - 1), 0u);
      EXPECT_EQ(id & LS_FN_FP_WALKED, 0u);
      EXPECT_EQ(alloc_function(id), &functions[i]);
      EXPECT_EQ(alloc_family(id), &kAllocFamilies[family]);
      EXPECT_EQ(alloc_fn_name(id), functions[i].name);
      EXPECT_EQ(origin_name(Kind::Heap, id), functions[i].name);
    }
  }
  // An id no table has (a row from another build, garbage) is named as such.
  EXPECT_EQ(alloc_fn_name(alloc_fn_id(std::size(kAllocFamilies), 0)), "unknown");
  EXPECT_EQ(alloc_fn_name(alloc_fn_id(0, kAllocFamilies[0].functions.size())), "unknown");
  EXPECT_EQ(alloc_fn_name(LS_FN_ID_LIMIT), "unknown");
  EXPECT_EQ(alloc_function(LS_FN_ID_LIMIT + 1), nullptr);
}

TEST(BpfContractTest, TheFamiliesThePlannerRequiresAreThere) {
  // The first family is the C API: malloc and free decide which module
  // serves malloc.
  EXPECT_EQ(kAllocFamilies[0].name, "malloc");
  EXPECT_EQ(kAllocFamilies[0].markers, "malloc free");
  EXPECT_EQ(alloc_fn_name(alloc_fn_id(0, 0)), "malloc");
  std::set<std::string_view> names;
  for (const AllocFamily& f : kAllocFamilies) names.insert(f.name);
  for (std::string_view name : {"operator new", "jemalloc", "tcmalloc", "mimalloc"})
    EXPECT_TRUE(names.count(name)) << name;
}

TEST(BpfContractTest, EveryTracedSyscallHasItsOwnTracepointsAndASyscallOp) {
  std::set<std::string_view> names;
  std::set<uint32_t> ops;
  for (const TracedSyscall& s : kTracedSyscalls) {
    SCOPED_TRACE(std::string(s.name));
    EXPECT_TRUE(names.insert(s.name).second) << "attached twice";
    EXPECT_GE(s.op, uint32_t{LS_SYS_MMAP});
    EXPECT_LT(s.op, uint32_t{LS_SYS__END});
    EXPECT_TRUE(s.op < uint32_t{LS_LIFE_FORK} || s.op >= uint32_t{LS_LIFE__END})
        << "a lifecycle op";
    EXPECT_NE(s.kinds, 0u);
    ops.insert(s.op);
  }
  // Every op an event can carry comes from some syscall: an op nobody sends
  // is dead code in the ledger, or a syscall dropped from the list.
  for (uint32_t op = LS_SYS_MMAP; op < uint32_t{LS_SYS__END}; ++op)
    EXPECT_TRUE(ops.count(op)) << "op " << op;
}

TEST(BpfContractTest, SyscallKindsAreMmapBrkTimerfdAndEpoll) {
  EXPECT_EQ(syscall_kinds(), LS_KIND_BIT(LS_KIND_MMAP) | LS_KIND_BIT(LS_KIND_BRK) |
                                 LS_KIND_BIT(LS_KIND_TIMERFD) | LS_KIND_BIT(LS_KIND_EPOLL));
}

TEST(BpfContractTest, LifecycleAndSyscallOpsAreApart) {
  for (uint32_t op = LS_LIFE_FORK; op < uint32_t{LS_LIFE__END}; ++op) {
    EXPECT_GE(op, uint32_t{LS_SYS__END}) << op;
    for (const TracedSyscall& s : kTracedSyscalls) EXPECT_NE(s.op, op) << s.name;
  }
}

TEST(BpfContractTest, KindNumbersAreTheKernels) {
  // Rows the kernel counted are named by these: a kind shifted by one would
  // report mmap as heap.
  EXPECT_EQ(kind_name(static_cast<Kind>(LS_KIND_HEAP)), "heap");
  EXPECT_EQ(kind_name(static_cast<Kind>(LS_KIND_MMAP)), "mmap");
  EXPECT_EQ(kind_name(static_cast<Kind>(LS_KIND_BRK)), "brk");
  EXPECT_EQ(kind_name(static_cast<Kind>(LS_KIND_TIMERFD)), "timerfd");
  EXPECT_EQ(kind_name(static_cast<Kind>(LS_KIND_EPOLL)), "epoll");
  EXPECT_EQ(kind_name(static_cast<Kind>(LS_KIND_RSS_USERSPACE)), "rss");
  EXPECT_EQ(kind_name(static_cast<Kind>(LS_KIND_FAULT)), "fault");
  EXPECT_EQ(kind_name(static_cast<Kind>(LS_KIND__COUNT)), "unknown");
}

}  // namespace
}  // namespace leakscope
