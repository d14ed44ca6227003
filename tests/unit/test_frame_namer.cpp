// The frame namer: lookups done on its thread, once each, memoized in the
// module for Module::lookup_ready; bounded; waited for with a deadline.
#include "symbols/frame_namer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "target/elf_file.h"

extern "C" __attribute__((noinline, used)) int frame_namer_target(int x) {
  asm volatile("" ::: "memory");
  return x + 7;
}

namespace leakscope {
namespace {

// This test binary as a Module, and the ELF address of frame_namer_target.
struct Self {
  std::shared_ptr<Module> module;
  uint64_t vaddr = 0;
};

Self open_self() {
  Self s;
  std::optional<Module> m = Module::open("/proc/self/exe");
  if (!m) return s;
  std::optional<ElfFile> elf = ElfFile::open("/proc/self/exe", nullptr);
  if (!elf) return s;
  auto sym = elf->find_function("frame_namer_target");
  if (!sym) return s;
  s.vaddr = sym->vaddr;
  s.module = std::make_shared<Module>(std::move(*m));
  return s;
}

TEST(FrameNamer, NamesOnItsThreadForLookupReady) {
  Self self = open_self();
  ASSERT_TRUE(self.module) << "this test binary's own symbol";
  EXPECT_FALSE(self.module->lookup_ready(self.vaddr).has_value()) << "nothing memoized yet";
  FrameNamer namer;
  ASSERT_TRUE(namer.submit(self.module, self.vaddr));
  ASSERT_TRUE(namer.submit(self.module, self.vaddr)) << "one queued is not queued twice";
  ASSERT_TRUE(namer.wait_idle(std::chrono::steady_clock::now() + std::chrono::seconds(30)));
  EXPECT_EQ(namer.pending(), 0u);
  std::optional<ModuleSymbol> sym = self.module->lookup_ready(self.vaddr);
  ASSERT_TRUE(sym.has_value());
  EXPECT_EQ(sym->function, "frame_namer_target");
}

TEST(FrameNamer, RefusesPastItsBound) {
  Self self = open_self();
  ASSERT_TRUE(self.module);
  FrameNamer namer(2);
  // The worker may take the first at once; of many distinct lookups, some
  // are refused while the queue is full, and everything queued gets done.
  size_t refused = 0;
  for (uint64_t i = 0; i < 64; ++i)
    if (!namer.submit(self.module, self.vaddr + i)) ++refused;
  EXPECT_GT(refused, 0u);
  EXPECT_TRUE(namer.wait_idle(std::chrono::steady_clock::now() + std::chrono::seconds(30)));
  EXPECT_FALSE(namer.submit(nullptr, 1));
}

}  // namespace
}  // namespace leakscope
