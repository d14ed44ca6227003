// The lists of bpf/leakscope.h as userspace reads them (core/bpf_contract.h):
// what the tracer relies on that a wrong edit of a list would break.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "core/bpf_contract.h"
#include "core/types.h"
#include "leakscope.h"

namespace leakscope {
namespace {

TEST(BpfContractTest, EveryAllocatorFunctionHasANameAProgramAndSymbols) {
  std::set<std::string_view> names, programs, symbols;
  for (const AllocFnInfo& f : kAllocFns) {
    SCOPED_TRACE(std::string(f.name));
    EXPECT_FALSE(f.name.empty());
    EXPECT_TRUE(names.insert(f.name).second) << "name twice";
    // heap.bpf.c's entry programs, one per function.
    EXPECT_TRUE(f.program.ends_with("_enter")) << f.program;
    EXPECT_TRUE(programs.insert(f.program).second) << "program twice: " << f.program;
    EXPECT_FALSE(f.symbols.empty());
    for (std::string_view symbol : f.symbols) {
      EXPECT_FALSE(symbol.empty());
      // A symbol of two functions would be probed as whichever came first.
      EXPECT_TRUE(symbols.insert(symbol).second) << "symbol twice: " << symbol;
    }
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(LS_FN__COUNT) + 1);
}

TEST(BpfContractTest, TheNameOfEachLsAllocFnIsTheTables) {
  for (uint32_t fn = 0; fn < LS_FN__COUNT; ++fn) {
    EXPECT_EQ(alloc_fn_name(fn), kAllocFns[fn].name) << fn;
    EXPECT_EQ(alloc_fn_name(static_cast<AllocFn>(fn)), kAllocFns[fn].name) << fn;
    EXPECT_EQ(origin_name(Kind::Heap, fn), kAllocFns[fn].name) << fn;
  }
  EXPECT_EQ(alloc_fn_name(uint32_t{LS_FN_MALLOC}), "malloc");
  EXPECT_EQ(alloc_fn_name(uint32_t{LS_FN_OPERATOR_NEW}), "operator new");
  // free is probed but is no ls_alloc_fn: no heap row can name it.
  EXPECT_EQ(alloc_fn_name(AllocFn::Free), "free");
  EXPECT_EQ(alloc_fn_name(uint32_t{LS_FN__COUNT}), "unknown");
  EXPECT_EQ(alloc_fn_name(uint32_t{LS_FN__COUNT + 1}), "unknown");
  EXPECT_EQ(alloc_fn_name(static_cast<AllocFn>(LS_FN__COUNT + 1)), "?");
}

TEST(BpfContractTest, TheAllocatorFunctionsThePlannerRequiresAreThere) {
  // malloc and free decide which module is the C allocator; the planner
  // takes operator new's symbols from any module.
  EXPECT_EQ(alloc_fn_info(AllocFn::Malloc).symbols.front(), "malloc");
  EXPECT_EQ(alloc_fn_info(AllocFn::Free).symbols.front(), "free");
  EXPECT_EQ(alloc_fn_info(AllocFn::Free).program, "free_enter");
  for (std::string_view symbol : alloc_fn_info(AllocFn::OperatorNew).symbols)
    EXPECT_TRUE(symbol.starts_with("_Zn")) << symbol;
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
