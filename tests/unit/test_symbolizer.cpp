#include <dlfcn.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "symbols/module.h"
#include "symbols/symbolizer.h"
#include "target/address_space.h"
#include "target/elf_file.h"
#include "target/proc_maps.h"

namespace leakscope_test_symbols {

__attribute__((noinline)) int symbolizer_target_function(int x) {
  asm volatile("" ::: "memory");
  return x * 3 + 1;
}

}  // namespace leakscope_test_symbols

namespace leakscope {
namespace {

namespace fs = std::filesystem;

uint64_t target_address() {
  return reinterpret_cast<uint64_t>(&leakscope_test_symbols::symbolizer_target_function);
}

std::string perf_map_path(pid_t pid) { return "/tmp/perf-" + std::to_string(pid) + ".map"; }

std::string hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(v));
  return buf;
}

// An anonymous page, unmapped on scope exit.
class AnonPage {
 public:
  explicit AnonPage(int prot)
      : addr_(::mmap(nullptr, kSize, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) {}
  AnonPage(const AnonPage&) = delete;
  AnonPage& operator=(const AnonPage&) = delete;
  ~AnonPage() {
    if (addr_ != MAP_FAILED) ::munmap(addr_, kSize);
  }
  bool ok() const { return addr_ != MAP_FAILED; }
  uint64_t address() const { return reinterpret_cast<uint64_t>(addr_); }
  static constexpr size_t kSize = 4096;

 private:
  void* addr_;
};

// Removes a file on scope exit.
struct RemoveOnExit {
  std::string path;
  ~RemoveOnExit() {
    std::error_code ec;
    fs::remove(path, ec);
  }
};

// Kills and reaps a child left behind by a failed assertion.
struct ChildGuard {
  pid_t pid = -1;
  void kill_and_reap() {
    if (pid <= 0) return;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    pid = -1;
  }
  ~ChildGuard() { kill_and_reap(); }
};

TEST(Symbolizer, ResolvesFunctionInThisExecutable) {
  AddressSpaces spaces;
  Symbolizer sym(spaces);
  spaces.observe(getpid());
  // Frames are return addresses: resolve looks up address - 1.
  const Frame f = sym.resolve(getpid(), target_address() + 1);
  EXPECT_EQ(f.address, target_address() + 1);
  EXPECT_EQ(f.function, "leakscope_test_symbols::symbolizer_target_function(int)");
  EXPECT_TRUE(f.file.ends_with("test_symbolizer.cpp")) << f.file;
  EXPECT_GT(f.line, 0);
  EXPECT_FALSE(f.module.empty());
  EXPECT_EQ(f.module.find(" (deleted)"), std::string::npos);
  EXPECT_EQ(f.display_name(), f.function);
}

TEST(Symbolizer, BackgroundNamingHandsOutATicketThenTheName) {
  AddressSpaces spaces;
  Symbolizer sym(spaces, 256, Naming::Background);
  spaces.observe(getpid());
  std::optional<NameTicket> later;
  Frame f = sym.resolve(getpid(), target_address() + 1, &later);
  EXPECT_FALSE(f.module.empty());
  EXPECT_FALSE(f.build_id.empty());
  ASSERT_TRUE(later.has_value()) << "a module's first lookup is never ready at once";
  EXPECT_TRUE(f.function.empty());
  ASSERT_TRUE(sym.wait_named(std::chrono::steady_clock::now() + std::chrono::seconds(30)));
  EXPECT_EQ(sym.stats().names_pending, 0u);
  ASSERT_TRUE(sym.name_later(f, *later));
  EXPECT_EQ(f.function, "leakscope_test_symbols::symbolizer_target_function(int)");
  EXPECT_GT(f.line, 0);

  // Memoized now: named at once, no ticket.
  Frame again = sym.resolve(getpid(), target_address() + 1, &later);
  EXPECT_FALSE(later.has_value());
  EXPECT_EQ(again.function, f.function);
  // A caller that passes no ticket is named inline, whatever the mode.
  Frame libc = sym.resolve(getpid(), reinterpret_cast<uint64_t>(&::getpid) + 1);
  EXPECT_FALSE(libc.function.empty());
}

TEST(Symbolizer, BackgroundNamingOfAModuleLetGoNamesNothing) {
  // A ticket does not keep its module open: once the symbolizer lets the
  // module go, the frame stays module+offset, and nothing dangles.
  std::optional<NameTicket> later;
  Frame f;
  {
    AddressSpaces spaces;
    Symbolizer sym(spaces, 256, Naming::Background);
    spaces.observe(getpid());
    f = sym.resolve(getpid(), target_address() + 1, &later);
    ASSERT_TRUE(later.has_value());
  }
  AddressSpaces spaces;
  Symbolizer other(spaces, 256, Naming::Background);
  EXPECT_TRUE(other.name_later(f, *later)) << "nothing more to learn";
  EXPECT_TRUE(f.function.empty());
  EXPECT_FALSE(f.module.empty());
}

TEST(Symbolizer, ObservesOnFirstResolve) {
  AddressSpaces spaces;
  Symbolizer sym(spaces);
  EXPECT_EQ(sym.stats().processes, 0u);
  const Frame f = sym.resolve(getpid(), target_address() + 1);
  EXPECT_EQ(f.function, "leakscope_test_symbols::symbolizer_target_function(int)");
  const SymbolizerStats s = sym.stats();
  EXPECT_EQ(s.processes, 1u);
  EXPECT_GT(s.modules_cached, 0u);
  EXPECT_EQ(s.frames_resolved, 1u);
  EXPECT_EQ(s.frames_unknown, 0u);
}

TEST(Symbolizer, ResolvesLibc) {
  // libc's own malloc, not a sanitizer's interposed one, and not a PLT stub.
  void* libc = ::dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(libc, nullptr);
  void* malloc_addr = ::dlsym(libc, "malloc");
  ::dlclose(libc);
  ASSERT_NE(malloc_addr, nullptr);
  AddressSpaces spaces;
  Symbolizer sym(spaces);
  spaces.observe(getpid());
  const Frame f = sym.resolve(getpid(), reinterpret_cast<uint64_t>(malloc_addr) + 1);
  EXPECT_NE(f.module.find("libc.so"), std::string::npos) << f.module;
  EXPECT_FALSE(f.function.empty());
  EXPECT_GT(f.module_offset, 0u);
}

TEST(Symbolizer, ResolvesStack) {
  AddressSpaces spaces;
  Symbolizer sym(spaces);
  spaces.observe(getpid());
  const uint64_t stack[] = {target_address() + 1, reinterpret_cast<uint64_t>(&::free) + 1, 0};
  const std::vector<Frame> frames = sym.resolve_stack(getpid(), stack);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0].function, "leakscope_test_symbols::symbolizer_target_function(int)");
  EXPECT_EQ(frames[2].function, "");
  EXPECT_EQ(frames[2].module, "[unknown]");
}

TEST(Symbolizer, AnonymousMemoryWithoutPerfMapIsUnknown) {
  ::unlink(perf_map_path(getpid()).c_str());
  AnonPage page(PROT_READ | PROT_WRITE);
  ASSERT_TRUE(page.ok());
  AddressSpaces spaces;
  Symbolizer sym(spaces);
  spaces.observe(getpid());
  const Frame f = sym.resolve(getpid(), page.address() + 0x11);
  EXPECT_TRUE(f.function.empty());
  EXPECT_EQ(f.file, "");
  EXPECT_EQ(f.line, 0);
  EXPECT_TRUE(f.display_name().starts_with("[unknown]")) << f.display_name();
  EXPECT_EQ(sym.stats().frames_unknown, 1u);
}

TEST(Symbolizer, UnknownProcessNeverThrows) {
  AddressSpaces spaces;
  Symbolizer sym(spaces);
  const Frame f = sym.resolve(0x3ffffff0, 0x1234);
  EXPECT_TRUE(f.function.empty());
  EXPECT_EQ(f.module, "[unknown]");
  EXPECT_EQ(f.display_name(), "[unknown]+0x1234");
  EXPECT_EQ(sym.stats().processes, 0u);
}

TEST(Symbolizer, JitFramesFromPerfMap) {
  AnonPage page(PROT_READ | PROT_EXEC);
  ASSERT_TRUE(page.ok());
  const std::string path = perf_map_path(getpid());
  RemoveOnExit cleanup{path};
  {
    std::ofstream out(path);
    out << hex(page.address()) << " 100 LazyCompile:*handler /srv/app.js:12\n";
  }
  AddressSpaces spaces;
  Symbolizer sym(spaces);
  spaces.observe(getpid());
  Frame f = sym.resolve(getpid(), page.address() + 0x20);
  EXPECT_NE(f.function.find("handler"), std::string::npos) << f.function;
  EXPECT_EQ(f.module, "[jit]");
  EXPECT_EQ(f.module_offset, 0x20u);

  // The JIT appends more code: picked up on the next tick's read.
  {
    std::ofstream out(path, std::ios::app);
    out << hex(page.address() + 0x200) << " 80 LazyCompile:*onTimeout /srv/app.js:40\n";
  }
  spaces.begin_tick();
  spaces.observe(getpid());
  f = sym.resolve(getpid(), page.address() + 0x210);
  EXPECT_NE(f.function.find("onTimeout"), std::string::npos) << f.function;
  EXPECT_EQ(f.module, "[jit]");
  // The first symbol is still there.
  EXPECT_NE(sym.resolve(getpid(), page.address() + 0x20).function.find("handler"),
            std::string::npos);
}

// Read a chunk at a time: a line longer than a chunk (1 MiB) is skipped,
// the lines around it and across chunk boundaries are not lost.
TEST(Symbolizer, PerfMapLinesAcrossChunksAndOverlongLines) {
  AnonPage page(PROT_READ | PROT_EXEC);
  ASSERT_TRUE(page.ok());
  const std::string path = perf_map_path(getpid());
  RemoveOnExit cleanup{path};
  {
    std::ofstream out(path);
    out << hex(page.address()) << " 10 first_symbol\n";
    out << "1000 10 " << std::string(size_t{3} << 20, 'x') << "\n";  // 3 MiB: skipped
    // Filler to put the next line across the boundary of a chunk.
    std::string filler;
    for (uint64_t a = 0x10000; filler.size() < (size_t{1} << 20); a += 0x10)
      filler += hex(a) + " 10 filler\n";
    out << filler;
    out << hex(page.address() + 0x100) << " 10 after_the_long_line\n";
  }
  AddressSpaces spaces;
  Symbolizer sym(spaces);
  spaces.observe(getpid());
  EXPECT_EQ(sym.resolve(getpid(), page.address() + 1).function, "first_symbol");
  EXPECT_EQ(sym.resolve(getpid(), page.address() + 0x101).function, "after_the_long_line");
  // Addresses no mapping holds are looked up in the perf map too.
  EXPECT_EQ(sym.resolve(getpid(), 0x10001 + 0x10 * 1000).function, "filler");
}

TEST(Symbolizer, ResolvesAfterChildExits) {
  ChildGuard child;
  child.pid = ::fork();
  ASSERT_GE(child.pid, 0);
  if (child.pid == 0) {
    for (;;) ::pause();
  }
  const pid_t pid = child.pid;
  AddressSpaces spaces;
  Symbolizer sym(spaces);
  spaces.observe(pid);
  child.kill_and_reap();
  spaces.begin_tick();
  spaces.observe(pid);  // gone now: the last view is kept
  ASSERT_NE(spaces.find(pid), nullptr);
  EXPECT_FALSE(spaces.find(pid)->alive());

  // The child is a fork of this process: same executable at the same address.
  const Frame f = sym.resolve(pid, target_address() + 1);
  EXPECT_EQ(f.function, "leakscope_test_symbols::symbolizer_target_function(int)");
  EXPECT_TRUE(f.file.ends_with("test_symbolizer.cpp")) << f.file;
  EXPECT_GT(f.line, 0);
  EXPECT_EQ(sym.stats().processes, 1u);

  sym.forget(pid);
  EXPECT_EQ(sym.stats().processes, 0u);
}

// A fixture run from a copy of its binary that is deleted after the process
// exits: the module opened while it ran still resolves.
TEST(Symbolizer, ResolvesDeletedExecutableAfterExit) {
  const fs::path original = fs::path(LEAKSCOPE_FIXTURE_DIR) / "fixture_leaky";
  ASSERT_TRUE(fs::exists(original)) << original;
  const std::string copy =
      (fs::temp_directory_path() / ("leakscope-symbolizer-" + std::to_string(getpid()))).string();
  RemoveOnExit cleanup{copy};
  fs::copy_file(original, copy, fs::copy_options::overwrite_existing);
  fs::permissions(copy, fs::perms::owner_all);

  int to_child[2];
  int from_child[2];
  ASSERT_EQ(::pipe2(to_child, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(from_child, O_CLOEXEC), 0);
  ChildGuard child;
  child.pid = ::fork();
  ASSERT_GE(child.pid, 0);
  if (child.pid == 0) {
    ::dup2(to_child[0], 0);
    ::dup2(from_child[1], 1);
    ::execl(copy.c_str(), copy.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  // "ready PID\n" once it runs the copy.
  char buf[64] = {};
  const ssize_t n = ::read(from_child[0], buf, sizeof buf - 1);
  ::close(from_child[0]);
  ASSERT_GT(n, 0);
  ASSERT_EQ(std::string(buf).rfind("ready", 0), 0u) << buf;

  const pid_t pid = child.pid;
  AddressSpaces spaces;
  Symbolizer sym(spaces);
  spaces.observe(pid);
  const auto maps = read_maps(pid);
  ASSERT_TRUE(maps.has_value());
  std::vector<MapEntry> text;
  for (const MapEntry& e : *maps)
    if (e.executable() && e.path == copy) text.push_back(e);
  ASSERT_FALSE(text.empty());

  child.kill_and_reap();
  ::close(to_child[1]);
  fs::remove(copy);
  spaces.begin_tick();
  spaces.observe(pid);
  ASSERT_NE(spaces.find(pid), nullptr);
  EXPECT_FALSE(spaces.find(pid)->alive());

  // Somewhere in its code is cache_put().
  bool found = false;
  for (const MapEntry& e : text) {
    for (uint64_t addr = e.start; addr < e.end && !found; addr += 4) {
      const Frame f = sym.resolve(pid, addr + 1);
      EXPECT_EQ(f.module, copy);
      EXPECT_EQ(f.module_offset, addr + 1 - e.start + e.offset);
      if (f.function == "cache_put") {
        found = true;
        EXPECT_TRUE(f.file.ends_with("leaky.c")) << f.file;
        EXPECT_GT(f.line, 0);
      }
      if (::testing::Test::HasFailure()) return;
    }
  }
  EXPECT_TRUE(found);
}

TEST(Symbolizer, EvictsOnlyUnmappedModules) {
  AddressSpaces spaces;
  Symbolizer sym(spaces, 1);
  spaces.observe(getpid());
  // Everything this process maps stays open despite the bound of 1.
  EXPECT_GT(sym.stats().modules_cached, 1u);
  EXPECT_EQ(sym.resolve(getpid(), target_address() + 1).function,
            "leakscope_test_symbols::symbolizer_target_function(int)");
  sym.forget(getpid());
  EXPECT_LE(sym.stats().modules_cached, 1u);
  // Forgotten processes are observed again on demand.
  EXPECT_EQ(sym.resolve(getpid(), target_address() + 1).function,
            "leakscope_test_symbols::symbolizer_target_function(int)");
}

TEST(Symbolizer, BuildIdAgreesWithElfFile) {
  std::string error;
  const auto elf = ElfFile::open("/proc/self/exe", &error);
  ASSERT_TRUE(elf.has_value()) << error;
  ASSERT_EQ(elf->build_id().size(), 40u) << elf->build_id();
  AddressSpaces spaces;
  Symbolizer sym(spaces);
  const Frame f = sym.resolve(getpid(), target_address() + 1);
  EXPECT_EQ(f.function, "leakscope_test_symbols::symbolizer_target_function(int)");
  EXPECT_EQ(f.build_id, elf->build_id());
  const auto module = Module::open("/proc/self/exe");
  ASSERT_TRUE(module.has_value());
  EXPECT_EQ(module->build_id(), elf->build_id());
}

TEST(SymbolizerModule, FileOffsetToVaddrAndBuildId) {
  auto module = Module::open("/proc/self/exe");
  ASSERT_TRUE(module.has_value());
  EXPECT_FALSE(module->build_id().empty());
  const auto maps = read_maps(getpid());
  ASSERT_TRUE(maps.has_value());
  const uint64_t addr = target_address();
  for (const MapEntry& e : *maps) {
    if (!e.contains(addr)) continue;
    const auto vaddr = module->file_offset_to_vaddr(addr - e.start + e.offset);
    ASSERT_TRUE(vaddr.has_value());
    const ModuleSymbol s = module->lookup(*vaddr);
    EXPECT_EQ(s.function, "leakscope_test_symbols::symbolizer_target_function(int)");
    return;
  }
  FAIL() << "no mapping contains the test function";
}

TEST(SymbolizerModule, RejectsNonElf) {
  std::string error;
  EXPECT_FALSE(Module::open("/proc/self/status", &error).has_value());
  EXPECT_FALSE(error.empty());
  EXPECT_FALSE(Module::open("/nonexistent/leakscope", &error).has_value());
}

}  // namespace
}  // namespace leakscope
