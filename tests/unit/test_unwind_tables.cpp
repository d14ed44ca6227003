// Which unwind tables the kernel holds and which process uses which: one
// table per module shared by the processes that map it, a space per process
// with each executable mapping's table and bias, tables dropped with their
// last user, modules without a table walked by frame pointer.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "fake_kernel.h"
#include "target/address_space.h"
#include "target/elf_file.h"
#include "tracer/unwind_tables.h"

namespace leakscope {
namespace {

using testing::FakeKernel;

constexpr char kLibc[] = "/lib/x86_64-linux-gnu/libc.so.6";

// A real file's executable segment, so that the tables' biases are real.
struct Text {
  std::string path;
  ElfFile::Segment segment;
};

Text text_of(const std::string& path) {
  std::string error;
  auto elf = ElfFile::open(path, &error);
  EXPECT_TRUE(elf) << error;
  for (const ElfFile::Segment& s : elf->load_segments())
    if (s.executable) return {path, s};
  ADD_FAILURE() << path << " has no executable segment";
  return {path, {}};
}

// A maps line mapping `text` at `start`, the way the loader does: the
// segment's page-aligned file offset at a page-aligned address.
std::string map_line(const Text& text, uint64_t start, int inode) {
  const uint64_t offset = text.segment.offset & ~uint64_t{0xfff};
  char line[512];
  std::snprintf(line, sizeof line, "%lx-%lx r-xp %08lx 08:01 %d %s\n", static_cast<unsigned long>(start),
                static_cast<unsigned long>(start + 0x10000), static_cast<unsigned long>(offset), inode,
                text.path.c_str());
  return line;
}

// Reads the maps of `pid` again, as the next tick does.
void reread(AddressSpaces& spaces, pid_t pid) {
  spaces.begin_tick();
  spaces.observe(pid);
}

struct UnwindTablesTest : ::testing::Test {
  FakeKernel kernel;
  std::map<pid_t, std::string> maps;
  AddressSpaces spaces{[this](pid_t pid) -> std::optional<std::string> {
    auto it = maps.find(pid);
    return it == maps.end() ? std::nullopt : std::optional<std::string>(it->second);
  }};
  std::map<std::string, int> compiled;  // path -> compiles
  std::set<std::string> uncompilable;
  UnwindTables tables{kernel, spaces,
                      [this](const std::string& path, std::string* error) -> std::optional<std::vector<uint64_t>> {
                        ++compiled[path];
                        if (uncompilable.contains(path)) {
                          *error = "no CFI";
                          return std::nullopt;
                        }
                        return std::vector<uint64_t>{0x1000, 0, 0};
                      },
                      [](pid_t, const MapEntry& e) { return e.path; }};
  Text libc = text_of(kLibc);
  Text self = text_of("/proc/self/exe");

  const ls_unwind_space& space(pid_t pid) {
    EXPECT_TRUE(kernel.unwind_spaces.contains(pid)) << "PID " << pid << " has no unwind space";
    return kernel.unwind_spaces[pid];
  }
};

// The ELF virtual address the mapping line's start stands for.
uint64_t start_vaddr(const Text& t) {
  return t.segment.vaddr - (t.segment.offset - (t.segment.offset & ~uint64_t{0xfff}));
}

TEST_F(UnwindTablesTest, EachExecutableMappingGetsItsModulesTableAndBias) {
  maps[10] = "555500000000-555500001000 r--p 00000000 08:01 7 /usr/bin/app\n" +
             map_line(self, 0x555500010000, 7) +
             "555600000000-555600100000 rw-p 00000000 00:00 0 [heap]\n"
             "7f0000400000-7f0000401000 rwxp 00000000 00:00 0 \n" +
             map_line(libc, 0x7f1000028000, 200) +
             "7ffd10004000-7ffd10006000 r-xp 00000000 00:00 0 [vdso]\n"
             "7fffff000000-7fffff001000 --xp 00000000 00:00 0 [uprobes]\n";
  spaces.observe(10);
  const ls_unwind_space& s = space(10);
  ASSERT_EQ(s.count, 5u);  // app text, JIT, libc text, vdso, uprobes; no data
  EXPECT_EQ(s.mappings[0].start, 0x555500010000u);
  EXPECT_NE(s.mappings[0].table, LS_UNWIND_NO_TABLE);
  EXPECT_EQ(s.mappings[0].bias, 0x555500010000u - start_vaddr(self));
  EXPECT_EQ(s.mappings[1].table, LS_UNWIND_NO_TABLE);  // JIT: frame pointers
  EXPECT_EQ(s.mappings[2].bias, 0x7f1000028000u - start_vaddr(libc));
  EXPECT_NE(s.mappings[2].table, LS_UNWIND_NO_TABLE);
  EXPECT_NE(s.mappings[2].table, s.mappings[0].table);
  EXPECT_EQ(s.mappings[3].table, LS_UNWIND_NO_TABLE);  // vdso
  EXPECT_EQ(s.mappings[4].table, LS_UNWIND_TRAMPOLINE);
  for (uint32_t i = 1; i < s.count; ++i) EXPECT_LT(s.mappings[i - 1].start, s.mappings[i].start);
  EXPECT_EQ(kernel.unwind_tables.size(), 2u);
  EXPECT_EQ(tables.stats().modules, 2u);
  EXPECT_EQ(tables.stats().table_bytes, 2 * 3 * sizeof(uint64_t));
}

TEST_F(UnwindTablesTest, AModuleIsCompiledOnceAndDroppedWithItsLastUser) {
  maps[10] = map_line(libc, 0x7f1000028000, 200) + map_line(self, 0x555500010000, 7);
  maps[11] = map_line(libc, 0x7f2000028000, 200);
  spaces.observe(10);
  spaces.observe(11);
  EXPECT_EQ(compiled[kLibc], 1);
  EXPECT_EQ(space(10).mappings[1].table, space(11).mappings[0].table);
  EXPECT_NE(space(10).mappings[1].bias, space(11).mappings[0].bias);
  const uint32_t libc_table = space(11).mappings[0].table;

  tables.forget(10);
  EXPECT_FALSE(kernel.unwind_spaces.contains(10));
  EXPECT_TRUE(kernel.unwind_tables.contains(libc_table)) << "PID 11 still maps libc";
  EXPECT_EQ(kernel.unwind_tables.size(), 1u) << "the executable's table goes with its only user";
  tables.forget(11);
  EXPECT_TRUE(kernel.unwind_tables.empty());
  EXPECT_EQ(tables.stats().processes, 0u);
}

TEST_F(UnwindTablesTest, NewCodeGetsANewSpaceAndUnmappedCodeLosesItsTable) {
  maps[10] = map_line(self, 0x555500010000, 7);
  spaces.observe(10);
  ASSERT_EQ(space(10).count, 1u);
  // A dlopen: the next read of the maps brings the library in.
  maps[10] += map_line(libc, 0x7f1000028000, 200);
  reread(spaces, 10);
  ASSERT_EQ(space(10).count, 2u);
  EXPECT_EQ(kernel.unwind_tables.size(), 2u);
  // A dlclose.
  maps[10] = map_line(self, 0x555500010000, 7);
  reread(spaces, 10);
  EXPECT_EQ(space(10).count, 1u);
  EXPECT_EQ(kernel.unwind_tables.size(), 1u);
  EXPECT_EQ(compiled[kLibc], 1);
}

TEST_F(UnwindTablesTest, AModuleWithoutTableIsWalkedByFramePointerAndNotCompiledAgain) {
  uncompilable.insert(kLibc);
  maps[10] = map_line(libc, 0x7f1000028000, 200);
  maps[11] = map_line(libc, 0x7f2000028000, 200);
  spaces.observe(10);
  spaces.observe(11);
  EXPECT_EQ(space(10).mappings[0].table, LS_UNWIND_NO_TABLE);
  EXPECT_EQ(space(11).mappings[0].table, LS_UNWIND_NO_TABLE);
  EXPECT_EQ(compiled[kLibc], 1);
  EXPECT_EQ(tables.stats().failed_modules, 1u);
  EXPECT_TRUE(kernel.unwind_tables.empty());
}

TEST_F(UnwindTablesTest, ATableTheKernelRefusesLeavesTheModuleToFramePointers) {
  kernel.refuse_tables = true;
  maps[10] = map_line(libc, 0x7f1000028000, 200);
  spaces.observe(10);
  EXPECT_EQ(space(10).mappings[0].table, LS_UNWIND_NO_TABLE);
  EXPECT_EQ(tables.stats().modules, 0u);
}

TEST_F(UnwindTablesTest, PastTheLimitCodeWithoutTableGoesFirst) {
  // Anonymous executable mappings low, libc at the top (as mmap places
  // it): libc, where walks start, stays.
  std::string text;
  for (int i = 0; i < LS_MAX_UNWIND_MAPPINGS + 5; ++i) {
    char line[128];
    std::snprintf(line, sizeof line, "%lx-%lx r-xp 00000000 00:00 0 \n",
                  static_cast<unsigned long>(0x7f0000000000 + i * 0x2000),
                  static_cast<unsigned long>(0x7f0000001000 + i * 0x2000));
    text += line;
  }
  maps[10] = text + map_line(libc, 0x7f1000028000, 200);
  spaces.observe(10);
  const ls_unwind_space& s = space(10);
  ASSERT_EQ(s.count, static_cast<uint32_t>(LS_MAX_UNWIND_MAPPINGS));
  EXPECT_EQ(s.mappings[s.count - 1].start, 0x7f1000028000u);
  EXPECT_NE(s.mappings[s.count - 1].table, LS_UNWIND_NO_TABLE);
  for (uint32_t i = 1; i < s.count; ++i) EXPECT_LT(s.mappings[i - 1].start, s.mappings[i].start);
}

TEST_F(UnwindTablesTest, NewAnonymousCodeGetsANewSpace) {
  // JIT code mapped after the first read changes no file mapping (the
  // address space's code generation stays), but return addresses into it
  // must be known as code.
  maps[10] = map_line(self, 0x555500010000, 7);
  spaces.observe(10);
  ASSERT_EQ(space(10).count, 1u);
  maps[10] += "7f0000400000-7f0000401000 r-xp 00000000 00:00 0 \n";
  reread(spaces, 10);
  ASSERT_EQ(space(10).count, 2u);
  EXPECT_EQ(space(10).mappings[1].table, LS_UNWIND_NO_TABLE);
  EXPECT_EQ(compiled["/proc/self/exe"], 1);
}

// The background mode, with a compiler the test holds back (`gate`) or
// makes fail (`fail`).
struct UnwindTablesBackground : ::testing::Test {
  FakeKernel kernel;
  std::map<pid_t, std::string> maps;
  AddressSpaces spaces{[this](pid_t pid) -> std::optional<std::string> {
    auto it = maps.find(pid);
    return it == maps.end() ? std::nullopt : std::optional<std::string>(it->second);
  }};
  std::mutex gate;  // held: the worker cannot finish a compile
  std::atomic<bool> fail = false;
  std::atomic<int> compiles = 0;
  std::string compiled_path;  // the last one (under gate)
  UnwindTables tables{kernel, spaces,
                      [this](const std::string& path, std::string* error) -> std::optional<std::vector<uint64_t>> {
                        std::lock_guard wait(gate);
                        compiled_path = path;
                        ++compiles;
                        if (fail) {
                          *error = "no CFI";
                          return std::nullopt;
                        }
                        return std::vector<uint64_t>{0x1000, 0, 0};
                      },
                      [](pid_t, const MapEntry& e) { return e.path; }, UnwindTables::Mode::Background};

  static std::chrono::steady_clock::time_point soon() {
    return std::chrono::steady_clock::now() + std::chrono::seconds(30);
  }
  // `pid` maps libc, its table compiled and in its space: the table.
  uint32_t libc_in_place(pid_t pid) {
    maps[pid] = map_line(text_of(kLibc), 0x7f1000028000, 200);
    spaces.observe(pid);
    EXPECT_TRUE(tables.wait_idle(soon()));
    tables.collect();
    EXPECT_TRUE(kernel.unwind_spaces.contains(pid));
    return kernel.unwind_spaces[pid].mappings[0].table;
  }
};

TEST_F(UnwindTablesBackground, CodeIsWalkedByFramePointerUntilItsTableIsReady) {
  std::unique_lock hold(gate);
  Text libc = text_of(kLibc);
  maps[10] = map_line(libc, 0x7f1000028000, 200);
  maps[11] = map_line(libc, 0x7f2000028000, 200);
  spaces.observe(10);
  spaces.observe(11);
  // No space while its table compiles: the kernel's frame-pointer walk,
  // whose stacks are marked and fold into the complete ones.
  EXPECT_FALSE(kernel.unwind_spaces.contains(10)) << "a space was given before its table was ready";
  EXPECT_EQ(tables.stats().pending_modules, 1u);
  EXPECT_EQ(tables.stats().held_back_processes, 2u);
  EXPECT_EQ(tables.collect(), 0u);

  hold.unlock();
  ASSERT_TRUE(tables.wait_idle(soon()));
  EXPECT_EQ(tables.collect(), 1u);
  ASSERT_TRUE(kernel.unwind_spaces.contains(10));
  ASSERT_TRUE(kernel.unwind_spaces.contains(11));
  EXPECT_EQ(tables.stats().held_back_processes, 0u);
  EXPECT_EQ(tables.stats().processes, 2u);
  EXPECT_EQ(compiles.load(), 1) << "one module, one compile, for both processes";
  EXPECT_EQ(compiled_path.rfind("/proc/self/fd/", 0), 0u) << "the worker reads a file held open: " << compiled_path;
  EXPECT_NE(kernel.unwind_spaces[10].mappings[0].table, LS_UNWIND_NO_TABLE);
  EXPECT_EQ(kernel.unwind_spaces[10].mappings[0].table, kernel.unwind_spaces[11].mappings[0].table);
  EXPECT_EQ(kernel.unwind_spaces[10].mappings[0].bias, 0x7f1000028000u - start_vaddr(libc));
  EXPECT_EQ(tables.stats().pending_modules, 0u);
  EXPECT_EQ(tables.stats().modules, 1u);
}

TEST_F(UnwindTablesBackground, AModuleWhoseUsersWentBeforeItsTableIsNotLoaded) {
  maps[10] = map_line(text_of(kLibc), 0x7f1000028000, 200);
  spaces.observe(10);
  tables.forget(10);
  ASSERT_TRUE(tables.wait_idle(soon()));
  EXPECT_EQ(tables.collect(), 0u);
  EXPECT_TRUE(kernel.unwind_tables.empty());
}

// A dlopen: the new library's table compiles while the process keeps the
// space it had (old code still walked by its tables); the new space comes
// whole. A library that cannot be compiled holds nothing back once it failed.
TEST_F(UnwindTablesBackground, AProcessKeepsItsSpaceUntilANewLibrarysTableIsReady) {
  std::unique_lock hold(gate, std::defer_lock);
  const uint32_t libc_table = libc_in_place(10);
  ASSERT_NE(libc_table, LS_UNWIND_NO_TABLE);

  hold.lock();  // the new library's compile waits
  maps[10] += map_line(text_of("/proc/self/exe"), 0x7f3000010000, 7);
  reread(spaces, 10);
  EXPECT_EQ(kernel.unwind_spaces[10].count, 1u) << "the old space stays while the new table compiles";
  EXPECT_EQ(kernel.unwind_spaces[10].mappings[0].table, libc_table);
  EXPECT_EQ(tables.stats().held_back_processes, 1u);
  hold.unlock();
  ASSERT_TRUE(tables.wait_idle(soon()));
  EXPECT_EQ(tables.collect(), 1u);
  ASSERT_EQ(kernel.unwind_spaces[10].count, 2u);
  EXPECT_EQ(kernel.unwind_spaces[10].mappings[0].table, libc_table) << "libc's table kept, not compiled again";
  EXPECT_NE(kernel.unwind_spaces[10].mappings[1].table, LS_UNWIND_NO_TABLE);
  EXPECT_EQ(tables.stats().held_back_processes, 0u);

  fail = true;  // a third library without usable CFI
  maps[10] += map_line(text_of("/lib/x86_64-linux-gnu/libm.so.6"), 0x7f5000010000, 300);
  reread(spaces, 10);
  EXPECT_EQ(kernel.unwind_spaces[10].count, 2u);
  ASSERT_TRUE(tables.wait_idle(soon()));
  EXPECT_EQ(tables.collect(), 0u);
  ASSERT_EQ(kernel.unwind_spaces[10].count, 3u) << "a failed compile must not hold the space back";
  EXPECT_EQ(kernel.unwind_spaces[10].mappings[2].table, LS_UNWIND_NO_TABLE);
  EXPECT_EQ(tables.stats().failed_modules, 1u);
}

// A dlclose, then a dlopen that maps a library where the old one was: the
// space kept while its table compiles would walk the new code with the old
// table. It goes instead (frame-pointer walks, marked), until the new one.
TEST_F(UnwindTablesBackground, ASpaceThatNoLongerDescribesTheMappingsIsNotKept) {
  std::unique_lock hold(gate, std::defer_lock);
  ASSERT_NE(libc_in_place(10), LS_UNWIND_NO_TABLE);

  hold.lock();
  maps[10] = map_line(text_of("/proc/self/exe"), 0x7f1000028000, 7);  // where libc was
  reread(spaces, 10);
  EXPECT_FALSE(kernel.unwind_spaces.contains(10)) << "a space naming libc's table over other code was kept";
  hold.unlock();
  ASSERT_TRUE(tables.wait_idle(soon()));
  EXPECT_EQ(tables.collect(), 1u);
  ASSERT_TRUE(kernel.unwind_spaces.contains(10));
  EXPECT_EQ(kernel.unwind_spaces[10].count, 1u);
  EXPECT_EQ(tables.stats().modules, 1u) << "libc's table dropped with its last user";
}

}  // namespace
}  // namespace leakscope
