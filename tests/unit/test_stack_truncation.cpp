// No garbage frames: a stack ends at its first address that is not code of
// the process, and is then marked truncated (tracer/stack_store.h). On this
// test process's own code and maps, with a fake kernel handing out the
// stacks a frame-pointer walk through code without frame pointers gives.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fake_kernel.h"
#include "tracer/stack_store.h"

namespace leakscope {
namespace {

namespace fs = std::filesystem;
using testing::FakeKernel;

extern "C" __attribute__((noinline)) int truncation_leak_site(int x) { return x * 5 + 1; }
extern "C" __attribute__((noinline)) int truncation_caller(int x) {
  return truncation_leak_site(x) + 2;
}
extern "C" __attribute__((noinline)) int truncation_outer(int x) {
  return truncation_caller(x) * 7;
}

// A return address into the function: where a call in it returns to.
uint64_t inside(int (*fn)(int)) { return reinterpret_cast<uint64_t>(fn) + 4; }

// Eight ASCII bytes ("lbuild/n") read from the stack as if they were a
// return address, as seen in redis and perl stacks.
constexpr uint64_t kAscii = 0x6e2f646c6975626cull;

// A mapping made before the test's maps are read, unmapped on scope exit.
class Mapped {
 public:
  Mapped(int prot, int flags, int fd, size_t size = 4096)
      : size_(size), addr_(::mmap(nullptr, size, prot, flags, fd, 0)) {}
  Mapped(const Mapped&) = delete;
  Mapped& operator=(const Mapped&) = delete;
  ~Mapped() {
    if (addr_ != MAP_FAILED) ::munmap(addr_, size_);
  }
  bool ok() const { return addr_ != MAP_FAILED; }
  uint64_t address() const { return reinterpret_cast<uint64_t>(addr_); }

 private:
  size_t size_;
  void* addr_;
};

// A file with a page of data in it, removed on scope exit: what a locale
// archive or any other data file mapped read-only looks like.
struct DataFile {
  std::string path;
  int fd = -1;
  DataFile() {
    path = (fs::temp_directory_path() / ("leakscope-truncation-" + std::to_string(::getpid())))
               .string();
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    std::string page(4096, 'x');
    if (fd >= 0 && ::write(fd, page.data(), page.size()) != static_cast<ssize_t>(page.size())) {
      ::close(fd);
      fd = -1;
    }
  }
  ~DataFile() {
    if (fd >= 0) ::close(fd);
    ::unlink(path.c_str());
  }
};

struct Store {
  FakeKernel kernel;
  AddressSpaces spaces;
  Symbolizer symbolizer{spaces};
  StackStore stacks{kernel, symbolizer, spaces, 16};
  const pid_t pid = ::getpid();

  // Stack `id` as the kernel's stack map would give it, resolved.
  const StackStore::Resolved& walk(int32_t id, std::vector<uint64_t> addresses) {
    kernel.stacks[id] = std::move(addresses);
    return stacks.resolved(1, pid, id);
  }
};

std::vector<std::string> names(const StackStore::Resolved& r) {
  std::vector<std::string> out;
  for (const Frame& f : r.frames) out.push_back(f.function);
  return out;
}

const std::vector<std::string> kTwo = {"truncation_leak_site", "truncation_caller"};

TEST(StackTruncation, ACleanStackIsWholeAndNotTruncated) {
  Store s;
  const auto& r = s.walk(
      1, {inside(truncation_leak_site), inside(truncation_caller), inside(truncation_outer)});
  EXPECT_EQ(names(r), (std::vector<std::string>{"truncation_leak_site", "truncation_caller",
                                                "truncation_outer"}));
  EXPECT_FALSE(r.truncated) << "a stack that simply ends is not truncated";
  const auto& one = s.walk(2, {inside(truncation_leak_site)});
  EXPECT_EQ(one.frames.size(), 1u);
  EXPECT_FALSE(one.truncated) << "nor is a short one";
}

TEST(StackTruncation, AWordIntoTheStackEndsTheWalk) {
  Store s;
  uint64_t local = 42;
  const uint64_t on_stack = reinterpret_cast<uint64_t>(&local);
  // Real code after the garbage is dropped too: nothing past the first bad
  // word can be trusted.
  const auto& r = s.walk(1, {inside(truncation_leak_site), inside(truncation_caller), on_stack,
                             inside(truncation_outer)});
  EXPECT_EQ(names(r), kTwo);
  EXPECT_TRUE(r.truncated);
  asm volatile("" : : "r"(&local) : "memory");
}

TEST(StackTruncation, AWordIntoTheHeapEndsTheWalk) {
  Store s;
  std::vector<char> block(1 << 20);  // large enough to come from its own mmap or the heap
  const auto& r = s.walk(1, {inside(truncation_leak_site), inside(truncation_caller),
                             reinterpret_cast<uint64_t>(block.data()) + 64});
  EXPECT_EQ(names(r), kTwo);
  EXPECT_TRUE(r.truncated);
}

TEST(StackTruncation, AWordIntoADataFileEndsTheWalk) {
  DataFile file;
  ASSERT_GE(file.fd, 0) << file.path;
  Mapped data(PROT_READ, MAP_PRIVATE, file.fd);
  ASSERT_TRUE(data.ok());
  Store s;
  const auto& r = s.walk(1, {inside(truncation_leak_site), inside(truncation_caller),
                             data.address() + 0xc6c, inside(truncation_outer)});
  EXPECT_EQ(names(r), kTwo);
  EXPECT_TRUE(r.truncated);
}

TEST(StackTruncation, ANonExecutableMappingOfACodeFileEndsTheWalk) {
  // The test's own executable mapped again, readable only: its symbols
  // would name the address, yet no return address can point there.
  const int fd = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  Mapped rodata(PROT_READ, MAP_PRIVATE, fd);
  ::close(fd);
  ASSERT_TRUE(rodata.ok());
  Store s;
  const auto& r =
      s.walk(1, {inside(truncation_leak_site), inside(truncation_caller), rodata.address() + 0x40});
  EXPECT_EQ(names(r), kTwo);
  EXPECT_TRUE(r.truncated);
}

TEST(StackTruncation, AsciiAndZeroEndTheWalk) {
  Store s;
  const auto& ascii = s.walk(1, {inside(truncation_leak_site), inside(truncation_caller), kAscii});
  EXPECT_EQ(names(ascii), kTwo);
  EXPECT_TRUE(ascii.truncated);
  const auto& zero = s.walk(
      2, {inside(truncation_leak_site), inside(truncation_caller), 0, inside(truncation_outer)});
  EXPECT_EQ(names(zero), kTwo);
  EXPECT_TRUE(zero.truncated);
  const auto& canonical =
      s.walk(3, {inside(truncation_leak_site), inside(truncation_caller), 0x3139333035383139});
  EXPECT_EQ(names(canonical), kTwo);
  EXPECT_TRUE(canonical.truncated);
}

TEST(StackTruncation, TheLeakSiteFollowsTheSameRule) {
  Store s;
  const auto& r = s.walk(1, {kAscii, inside(truncation_caller)});
  EXPECT_TRUE(r.frames.empty());
  EXPECT_TRUE(r.truncated) << "captured, but nothing of it is code";
}

TEST(StackTruncation, ComposedStacksFollowTheSameRule) {
  // Syscall and page-fault stacks are composed in userspace; they become
  // frames the same way.
  Store s;
  ASSERT_NE(s.spaces.observe(s.pid), nullptr);
  SyscallEvent e;
  e.tgid = static_cast<uint32_t>(s.pid);
  e.frames = {0x1111, inside(truncation_caller), kAscii, inside(truncation_outer)};
  e.stack_top = {7, inside(truncation_leak_site)};
  const int32_t id = s.stacks.syscall_stack(s.pid, e);
  const auto& sys = s.stacks.resolved(1, s.pid, id);
  EXPECT_EQ(names(sys), kTwo);
  EXPECT_TRUE(sys.truncated);

  const int32_t fault = s.stacks.intern({inside(truncation_leak_site), 0x20000});
  const auto& f = s.stacks.resolved(1, s.pid, fault);
  EXPECT_EQ(names(f), std::vector<std::string>{"truncation_leak_site"});
  EXPECT_TRUE(f.truncated);
}

TEST(StackTruncation, CodeMappedSinceTheLastReadIsCode) {
  // A dlopen between the read of the maps and the stack's resolution: the
  // rule must not take the new code for garbage.
  Store s;
  ASSERT_NE(s.spaces.observe(s.pid), nullptr);
  const int fd = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  Mapped code(PROT_READ | PROT_EXEC, MAP_PRIVATE, fd);
  ::close(fd);
  ASSERT_TRUE(code.ok());
  const auto& r =
      s.walk(1, {inside(truncation_leak_site), inside(truncation_caller), code.address() + 0x10});
  EXPECT_EQ(r.frames.size(), 3u);
  EXPECT_FALSE(r.truncated);
}

TEST(StackTruncation, JitCodeNamedByThePerfMapIsKept) {
  // Node keeps frame pointers in its JIT code, which lives in anonymous
  // memory: a walk through it is sound where the perf map names the code.
  Mapped jit(PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 8192);
  ASSERT_TRUE(jit.ok());
  Mapped unnamed(PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1);
  ASSERT_TRUE(unnamed.ok());
  const std::string path = "/tmp/perf-" + std::to_string(::getpid()) + ".map";
  struct Remove {
    std::string path;
    ~Remove() { ::unlink(path.c_str()); }
  } cleanup{path};
  {
    std::ofstream out(path);
    char line[128];
    std::snprintf(line, sizeof line, "%llx 100 LazyCompile:*handler /srv/app.js:12\n",
                  static_cast<unsigned long long>(jit.address()));
    out << line;
    std::snprintf(line, sizeof line, "%llx 80 LazyCompile:*onRequest /srv/app.js:40\n",
                  static_cast<unsigned long long>(jit.address() + 0x1000));
    out << line;
  }
  Store s;
  const auto& r = s.walk(1, {inside(truncation_leak_site), jit.address() + 0x20,
                             jit.address() + 0x1010, inside(truncation_outer)});
  ASSERT_EQ(r.frames.size(), 4u);
  EXPECT_NE(r.frames[1].function.find("handler"), std::string::npos) << r.frames[1].function;
  EXPECT_NE(r.frames[2].function.find("onRequest"), std::string::npos) << r.frames[2].function;
  EXPECT_FALSE(r.truncated);

  // Executable anonymous memory the perf map does not name is not code.
  const auto& cut = s.walk(2, {inside(truncation_leak_site), jit.address() + 0x20,
                               unnamed.address() + 0x20, inside(truncation_outer)});
  EXPECT_EQ(cut.frames.size(), 2u);
  EXPECT_TRUE(cut.truncated);

  // Until the JIT names it: code compiled since the perf map was last read
  // is not cut (its line is read when the walk meets it).
  {
    std::ofstream out(path, std::ios::app);
    char line[128];
    std::snprintf(line, sizeof line, "%llx 40 LazyCompile:*fresh /srv/app.js:60\n",
                  static_cast<unsigned long long>(unnamed.address()));
    out << line;
  }
  const auto& fresh = s.walk(3, {inside(truncation_leak_site), jit.address() + 0x20,
                                 unnamed.address() + 0x20, inside(truncation_outer)});
  ASSERT_EQ(fresh.frames.size(), 4u);
  EXPECT_NE(fresh.frames[2].function.find("fresh"), std::string::npos) << fresh.frames[2].function;
  EXPECT_FALSE(fresh.truncated);
}

TEST(StackTruncation, EachImageKeepsItsOwnMark) {
  Store s;
  s.kernel.stacks[5] = {inside(truncation_leak_site), kAscii};
  EXPECT_TRUE(s.stacks.resolved(1, s.pid, 5).truncated);
  s.kernel.stacks[5] = {inside(truncation_leak_site)};  // the id reused in another image
  EXPECT_TRUE(s.stacks.resolved(1, s.pid, 5).truncated) << "resolved once per image";
  EXPECT_FALSE(s.stacks.resolved(2, s.pid, 5).truncated);
  s.stacks.forget(1);
  EXPECT_FALSE(s.stacks.resolved(1, s.pid, 5).truncated);
}

}  // namespace
}  // namespace leakscope
