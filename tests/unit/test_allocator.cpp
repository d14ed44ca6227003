#include <algorithm>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "core/errors.h"
#include "target/allocator.h"
#include "target/elf_file.h"
#include "target/proc_maps.h"

namespace leakscope {
namespace {

namespace fs = std::filesystem;

// A C program that allocates, and waits when given an argument.
constexpr const char* kStaticProgram = R"(#include <stdlib.h>
#include <unistd.h>
int main(int argc, char** argv) {
  (void)argv;
  void* volatile p = malloc((size_t)argc * 16);
  free(p);
  if (argc > 1) pause();
  return 0;
}
)";

// A library that exports its own allocator (jemalloc style), and one that
// exports malloc only. They are only parsed, never loaded.
constexpr const char* kInterposer = R"(#include <stddef.h>
static char arena[1 << 16];
static size_t used;
void* malloc(size_t n) { void* p = arena + used; used += (n + 15) & ~(size_t)15; return p; }
void free(void* p) { (void)p; }
void* calloc(size_t a, size_t b) { return malloc(a * b); }
)";
constexpr const char* kHalfInterposer = R"(#include <stddef.h>
void* malloc(size_t n) { (void)n; return NULL; }
)";

// A program with an allocator of its own linked in under jemalloc's Rust
// prefix (tikv-jemallocator's _rjem_), beside libc's malloc.
constexpr const char* kPrefixed = R"(#include <stddef.h>
static char arena[1 << 16];
static size_t used;
void* _rjem_mallocx(size_t n, int flags) { (void)flags; void* p = arena + used; used += (n + 15) & ~(size_t)15; return p; }
void* _rjem_malloc(size_t n) { return _rjem_mallocx(n, 0); }
void _rjem_sdallocx(void* p, size_t n, int flags) { (void)p; (void)n; (void)flags; }
void _rjem_free(void* p) { (void)p; }
int main(void) { _rjem_sdallocx(_rjem_malloc(16), 16, 0); return 0; }
)";

std::string fn_name(uint32_t fn) { return std::string(alloc_fn_name(fn)); }

const ProbeSite* find_site(const AllocatorPlan& plan, const std::string& symbol) {
  for (const ProbeSite& site : plan.sites)
    if (site.symbol == symbol) return &site;
  return nullptr;
}

std::string file_name(const std::string& path) { return fs::path(path).filename(); }

// Binaries built once for the suite in a temporary directory.
class AllocatorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(fs::temp_directory_path() / "leakscope-alloc-XXXXXX");
    if (::mkdtemp(dir_->data()) == nullptr) return;
    std::ofstream(*dir_ + "/x.c") << kStaticProgram;
    std::ofstream(*dir_ + "/interposer.c") << kInterposer;
    std::ofstream(*dir_ + "/half.c") << kHalfInterposer;
    std::ofstream(*dir_ + "/prefixed.c") << kPrefixed;
    const std::string d = *dir_;
    built_ = std::system(("cc -static -O1 -o " + d + "/static " + d + "/x.c && strip -o " + d +
                          "/static-stripped " + d + "/static && cc -shared -fPIC -O1 -o " + d +
                          "/libinterposer.so " + d + "/interposer.c && cc -shared -fPIC -O1 -o " +
                          d + "/libhalf.so " + d + "/half.c && cc -O1 -o " + d + "/prefixed " + d + "/prefixed.c && cc -O1 -o " +
                          d + "/linked " + d + "/x.c -L" + d + " -linterposer")
                             .c_str()) == 0;
  }
  static void TearDownTestSuite() {
    if (dir_ != nullptr) fs::remove_all(*dir_);
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!built_) GTEST_SKIP() << "could not build the test binaries with cc";
  }
  static std::string path(const std::string& name) { return *dir_ + "/" + name; }

  static std::string libc_path() {
    auto maps = read_maps(::getpid());
    if (!maps) return {};
    for (const MapEntry& entry : *maps) {
      if (entry.file_backed() && entry.executable() && file_name(entry.path).starts_with("libc.so"))
        return entry.path;
    }
    return {};
  }

  static inline std::string* dir_ = nullptr;
  static inline bool built_ = false;
};

// A running copy of one of the built binaries, killed on destruction.
class Child {
 public:
  explicit Child(const std::string& exe) : exe_(exe) {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl(exe.c_str(), exe.c_str(), "wait", static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~Child() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  // True once the exec happened and the new image is mapped: /proc/PID/exe
  // names the new file before its segments are mapped, so wait for the
  // maps to show executable code from it too.
  bool ready() const {
    for (int i = 0; i < 300; ++i) {
      std::error_code ec;
      if (fs::read_symlink("/proc/" + std::to_string(pid_) + "/exe", ec) == exe_) {
        auto maps = read_maps(pid_);
        if (maps && std::any_of(maps->begin(), maps->end(), [&](const MapEntry& m) {
              return m.executable() && m.path == exe_;
            }))
          return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  pid_t pid() const { return pid_; }

 private:
  std::string exe_;
  pid_t pid_ = -1;
};

TEST_F(AllocatorTest, OwnProcessUsesLibcAndLibstdcxx) {
  const pid_t self = ::getpid();
  AllocatorPlan plan = plan_allocator(self, *read_maps(self));
  EXPECT_TRUE(file_name(plan.allocator_module).starts_with("libc.so")) << plan.allocator_module;
  EXPECT_EQ(plan.allocator_module, libc_path());

  const ProbeSite* malloc_site = find_site(plan, "malloc");
  const ProbeSite* free_site = find_site(plan, "free");
  ASSERT_NE(malloc_site, nullptr);
  ASSERT_NE(free_site, nullptr);
  EXPECT_EQ(fn_name(malloc_site->fn), "malloc");
  EXPECT_EQ(malloc_site->shape, AllocShape::Malloc);
  EXPECT_EQ(fn_name(free_site->fn), "free");
  EXPECT_EQ(free_site->shape, AllocShape::Free);
  EXPECT_EQ(plan.allocator_family, "malloc");
  EXPECT_EQ(malloc_site->module_path, plan.allocator_module);
  const std::string proc_prefix = "/proc/" + std::to_string(self) + "/";
  EXPECT_TRUE(malloc_site->attach_path.starts_with(proc_prefix)) << malloc_site->attach_path;

  // The offset is malloc's in the file we attach through.
  auto libc = ElfFile::open(malloc_site->attach_path, nullptr);
  ASSERT_TRUE(libc);
  EXPECT_EQ(libc->vaddr_to_file_offset(libc->find_function("malloc")->vaddr),
            malloc_site->file_offset);

  const ProbeSite* new_site = find_site(plan, "_Znwm");
  ASSERT_NE(new_site, nullptr);
  EXPECT_EQ(fn_name(new_site->fn), "operator new");
  EXPECT_TRUE(file_name(new_site->module_path).starts_with("libstdc++")) << new_site->module_path;
  EXPECT_TRUE(new_site->attach_path.starts_with(proc_prefix));

  // The C functions come from the allocator module; one probe per address.
  std::set<std::pair<std::string, uint64_t>> addresses;
  for (const ProbeSite& site : plan.sites) {
    if (alloc_family(site.fn)->name == "malloc") {
      EXPECT_EQ(site.module_path, plan.allocator_module) << site.symbol;
    }
    EXPECT_EQ(fn_name(site.fn) == "operator new", site.symbol.starts_with("_Zn")) << site.symbol;
    EXPECT_TRUE(addresses.emplace(site.module_path, site.file_offset).second) << site.symbol;
    // libstdc++'s deletes jump to free: free's probe sees them, once.
    EXPECT_FALSE(site.symbol.starts_with("_Zd")) << site.symbol;
  }
  bool delete_left = false;
  for (const auto& [module, symbol] : plan.forwarders) delete_left |= symbol == "_ZdlPv";
  EXPECT_TRUE(delete_left);
  EXPECT_EQ(describe_allocators(plan), "malloc in " + file_name(libc_path()) +
                                           " serves malloc; also operator new in " +
                                           file_name(new_site->module_path));
}

// The sites come from the families' tables: each symbol is one of its
// function's (bare or with a prefix of its family), the allocator that serves
// malloc first, each module's sites in the families' order.
TEST_F(AllocatorTest, SitesFollowTheFamiliesTables) {
  const pid_t self = ::getpid();
  AllocatorPlan plan = plan_allocator(self, *read_maps(self));
  ASSERT_FALSE(plan.sites.empty());
  EXPECT_EQ(plan.sites.front().module_path, plan.allocator_module);
  std::set<std::string> names;
  std::string module;
  uint32_t last = 0;
  for (const ProbeSite& site : plan.sites) {
    SCOPED_TRACE(site.symbol);
    const AllocFunction* f = alloc_function(site.fn);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(site.shape, f->shape);
    bool spelled = false;
    for_each_word(f->symbols, [&](std::string_view symbol) {
      spelled |= site.symbol == symbol;
      for_each_word(alloc_family(site.fn)->prefixes,
                    [&](std::string_view prefix) { spelled |= site.symbol == std::string(prefix) + std::string(symbol); });
    });
    EXPECT_TRUE(spelled);
    names.insert(fn_name(site.fn));
    if (site.module_path != module) {
      module = site.module_path;
      last = 0;
    }
    EXPECT_GE(site.fn, last) << "out of the tables' order";
    last = site.fn;
  }
  for (const char* name : {"malloc", "calloc", "realloc", "posix_memalign", "free", "operator new"})
    EXPECT_TRUE(names.count(name)) << name;
}

TEST_F(AllocatorTest, StaticExecutableDefinesItsAllocator) {
  auto elf = ElfFile::open(path("static"), nullptr);
  ASSERT_TRUE(elf);
  EXPECT_FALSE(elf->has_interpreter());
  EXPECT_FALSE(elf->is_dynamic());
  EXPECT_TRUE(elf->has_symtab());

  AllocatorPlan plan = plan_allocator_in_files({{"/app/static", path("static")}});
  EXPECT_EQ(plan.allocator_module, "/app/static");
  const ProbeSite* malloc_site = find_site(plan, "malloc");
  ASSERT_NE(malloc_site, nullptr);
  ASSERT_NE(find_site(plan, "free"), nullptr);
  EXPECT_EQ(malloc_site->attach_path, path("static"));
  EXPECT_EQ(malloc_site->module_path, "/app/static");
  EXPECT_EQ(malloc_site->file_offset,
            elf->vaddr_to_file_offset(elf->find_function("malloc")->vaddr));
  EXPECT_EQ(find_site(plan, "_Znwm"), nullptr);  // a C program
}

TEST_F(AllocatorTest, StrippedStaticExecutableHasNoAllocator) {
  auto elf = ElfFile::open(path("static-stripped"), nullptr);
  ASSERT_TRUE(elf);
  EXPECT_FALSE(elf->has_symtab());
  EXPECT_FALSE(elf->build_id().empty());  // notes survive strip
  try {
    plan_allocator_in_files({{"/app/static", path("static-stripped")}});
    FAIL() << "a stripped static binary gave a plan";
  } catch (const FatalError& error) {
    EXPECT_EQ(error.code(), ExitCode::NoAllocator);
    EXPECT_EQ(std::string(error.what()),
              "no allocator found: /app/static is statically linked and stripped, so malloc "
              "cannot be located");
  }
}

// Stripped, with the MiniDebugInfo Fedora's binaries carry: the functions'
// symbols in an xz-compressed ELF file in .gnu_debugdata (built here as
// Fedora's find-debuginfo does).
TEST_F(AllocatorTest, StrippedStaticExecutableWithMiniDebugInfoDefinesItsAllocator) {
  const std::string d = *dir_;
  std::ofstream(d + "/keep") << "malloc\nfree\ncalloc\nrealloc\n";
  ASSERT_EQ(std::system(("objcopy --only-keep-debug " + d + "/static " + d + "/mini.debug && objcopy -S " +
                         "--remove-section .gdb_index --remove-section .comment --keep-symbols=" + d +
                         "/keep " + d + "/mini.debug " + d + "/mini && xz -f " + d + "/mini && " +
                         "objcopy --add-section .gnu_debugdata=" + d + "/mini.xz " + d + "/static-stripped " +
                         d + "/static-mini")
                            .c_str()),
            0);
  auto full = ElfFile::open(path("static"), nullptr);
  auto mini = ElfFile::open(path("static-mini"), nullptr);
  ASSERT_TRUE(full && mini);
  EXPECT_TRUE(mini->has_symtab());
  auto symbol = mini->find_function("malloc");
  ASSERT_TRUE(symbol);
  EXPECT_FALSE(symbol->in_dynsym);
  EXPECT_EQ(symbol->vaddr, full->find_function("malloc")->vaddr);
  EXPECT_FALSE(mini->find_function("main"));  // not kept

  AllocatorPlan plan = plan_allocator_in_files({{"/app/static", path("static-mini")}});
  EXPECT_EQ(plan.allocator_module, "/app/static");
  const ProbeSite* malloc_site = find_site(plan, "malloc");
  ASSERT_NE(malloc_site, nullptr);
  EXPECT_EQ(malloc_site->file_offset, full->vaddr_to_file_offset(full->find_function("malloc")->vaddr));
  EXPECT_NE(find_site(plan, "free"), nullptr);
}

TEST_F(AllocatorTest, RunningStaticProcesses) {
  Child child(path("static"));
  ASSERT_TRUE(child.ready());
  AllocatorPlan plan = plan_allocator(child.pid(), *read_maps(child.pid()));
  EXPECT_EQ(plan.allocator_module, path("static"));
  const ProbeSite* malloc_site = find_site(plan, "malloc");
  ASSERT_NE(malloc_site, nullptr);
  EXPECT_TRUE(malloc_site->attach_path.starts_with("/proc/" + std::to_string(child.pid()) + "/"));

  Child stripped(path("static-stripped"));
  ASSERT_TRUE(stripped.ready());
  try {
    plan_allocator(stripped.pid(), *read_maps(stripped.pid()));
    FAIL() << "a stripped static process gave a plan";
  } catch (const FatalError& error) {
    EXPECT_EQ(error.code(), ExitCode::NoAllocator);
    const std::string message = error.what();
    EXPECT_TRUE(message.starts_with("PID " + std::to_string(stripped.pid()) + " (static-stripped)"))
        << message;
    EXPECT_NE(message.find(path("static-stripped") + " is statically linked and stripped"),
              std::string::npos)
        << message;
  }
}

TEST_F(AllocatorTest, InterposingLibraryWinsOverLibc) {
  const std::string libc = libc_path();
  ASSERT_FALSE(libc.empty());
  // A program linked against it (DT_NEEDED libinterposer.so before libc):
  // libc listed first, the choice follows the dynamic linker's order.
  AllocatorPlan plan =
      plan_allocator_in_files({{"/app/linked", path("linked")},
                               {libc, libc},
                               {"/opt/libinterposer.so", path("libinterposer.so")}});
  EXPECT_EQ(plan.allocator_module, "/opt/libinterposer.so");
  ASSERT_NE(find_site(plan, "malloc"), nullptr);
  ASSERT_NE(find_site(plan, "calloc"), nullptr);
  ASSERT_NE(find_site(plan, "free"), nullptr);
  // Its functions come first; libc's are probed too (calls bound to libc's
  // reach them), realloc there only.
  EXPECT_EQ(find_site(plan, "malloc")->attach_path, path("libinterposer.so"));
  EXPECT_EQ(find_site(plan, "realloc")->module_path, libc);
  EXPECT_EQ(describe_allocators(plan), "malloc in libinterposer.so serves malloc; also malloc in " + file_name(libc));
}

TEST_F(AllocatorTest, NeededLibrariesAndSonamesAreRead) {
  auto linked = ElfFile::open(path("linked"), nullptr);
  ASSERT_TRUE(linked);
  std::vector<std::string> needed = linked->needed();
  ASSERT_EQ(needed.size(), 2u);
  EXPECT_EQ(needed[0], "libinterposer.so");
  EXPECT_EQ(needed[1], "libc.so.6");
  EXPECT_EQ(linked->soname(), "");
  auto libc = ElfFile::open(libc_path(), nullptr);
  ASSERT_TRUE(libc);
  EXPECT_EQ(libc->soname(), "libc.so.6");
  auto stat = ElfFile::open(path("static"), nullptr);
  ASSERT_TRUE(stat);
  EXPECT_TRUE(stat->needed().empty());
}

// The same library brought by dlopen (a plugin's dependency): the program's
// malloc is still libc's, and both are probed; preloaded, it serves malloc.
TEST_F(AllocatorTest, AnAllocatorLibraryServesMallocOnlyWhereTheLinkerBindsIt) {
  const std::string libc = libc_path();
  const std::vector<std::pair<std::string, std::string>> modules = {
      {"/app/prefixed", path("prefixed")}, {"/opt/libinterposer.so", path("libinterposer.so")}, {libc, libc}};
  AllocatorPlan plan = plan_allocator_in_files(modules);
  EXPECT_EQ(plan.allocator_module, libc);
  ASSERT_NE(find_site(plan, "calloc"), nullptr);
  EXPECT_EQ(find_site(plan, "malloc")->module_path, libc);
  bool interposer_probed = false;
  for (const ProbeSite& site : plan.sites) interposer_probed |= site.module_path == "/opt/libinterposer.so";
  EXPECT_TRUE(interposer_probed);
  const std::string line = describe_allocators(plan);
  EXPECT_TRUE(line.starts_with("malloc in " + file_name(libc) + " serves malloc; also ")) << line;
  EXPECT_NE(line.find("malloc in libinterposer.so"), std::string::npos) << line;

  for (const std::string& preload : {std::string("/opt/libinterposer.so"), std::string("libinterposer.so")}) {
    AllocatorPlan preloaded = plan_allocator_in_files(modules, true, {preload});
    EXPECT_EQ(preloaded.allocator_module, "/opt/libinterposer.so") << preload;
  }
}

TEST_F(AllocatorTest, LibraryWithoutFreeIsNotAnAllocator) {
  const std::string libc = libc_path();
  AllocatorPlan plan = plan_allocator_in_files({{"/proc/self/exe", "/proc/self/exe"},
                                                {"/opt/libhalf.so", path("libhalf.so")},
                                                {libc, libc}});
  EXPECT_EQ(plan.allocator_module, libc);
  EXPECT_NE(find_site(plan, "realloc"), nullptr);
}

// A module with the OpenTelemetry memory probes (the self-sampling fixture
// allocator): they are planned instead of any uprobe site, and the line
// for the operator says so before naming what serves malloc.
TEST_F(AllocatorTest, OtelMemoryProbesReplaceTheUprobes) {
  const std::string libc = libc_path();
  const std::string sampler = LEAKSCOPE_FIXTURE_DIR "/libotelsampler.so";
  AllocatorPlan plan = plan_allocator_in_files({{"/app/otel_host", LEAKSCOPE_FIXTURE_DIR "/fixture_otel_host"},
                                                {"/opt/libotelsampler.so", sampler},
                                                {libc, libc}});
  ASSERT_EQ(plan.otel_memory.size(), 1u);
  EXPECT_EQ(plan.otel_memory[0].first, "/opt/libotelsampler.so");
  EXPECT_EQ(plan.otel_memory[0].second, sampler);
  EXPECT_EQ(plan.allocator_module, libc);
  const std::string line = describe_allocators(plan);
  EXPECT_TRUE(line.starts_with("otel_memory probes in libotelsampler.so ")) << line;
  EXPECT_NE(line.find("malloc in " + file_name(libc) + " serves malloc"), std::string::npos) << line;
  // -v lists what is attached: the USDT probes alone.
  EXPECT_EQ(describe_probes(plan),
            std::vector<std::string>{"USDT in libotelsampler.so: otel_memory:alloc otel_memory:free"});

  // Without it, the same process gets its uprobes.
  AllocatorPlan without = plan_allocator_in_files({{"/app/otel_host", LEAKSCOPE_FIXTURE_DIR "/fixture_otel_host"},
                                                   {libc, libc}});
  EXPECT_TRUE(without.otel_memory.empty());
  EXPECT_NE(find_site(without, "malloc"), nullptr);
}

TEST_F(AllocatorTest, FirstModuleIsMainOnlyWhenAsked) {
  // A libc named first is still recognised as libc when nothing is main.
  const std::string libc = libc_path();
  AllocatorPlan plan = plan_allocator_in_files({{libc, libc}}, /*first_is_main=*/false);
  EXPECT_EQ(plan.allocator_module, libc);
}

TEST_F(AllocatorTest, NothingDefinesMalloc) {
  std::ofstream(path("text")) << "not elf\n";
  try {
    plan_allocator_in_files({{"/proc/self/exe", "/proc/self/exe"}, {"/x/text", path("text")}});
    FAIL() << "no allocator expected";
  } catch (const FatalError& error) {
    EXPECT_EQ(error.code(), ExitCode::NoAllocator);
    const std::string message = error.what();
    EXPECT_TRUE(message.starts_with("no mapped object defines malloc and free")) << message;
    EXPECT_NE(message.find("not an ELF file"), std::string::npos) << message;
  }
  try {
    plan_allocator(::getpid(), {});
    FAIL() << "no allocator expected";
  } catch (const FatalError& error) {
    EXPECT_EQ(error.code(), ExitCode::NoAllocator);
    EXPECT_TRUE(std::string(error.what()).starts_with("PID " + std::to_string(::getpid()) + " ("))
        << error.what();
  }
}

TEST_F(AllocatorTest, PrefixedAllocatorInTheExecutableIsProbedBesideLibc) {
  const std::string libc = libc_path();
  AllocatorPlan plan = plan_allocator_in_files({{"/app/prefixed", path("prefixed")}, {libc, libc}});
  // libc serves malloc; the executable's own jemalloc-prefixed functions,
  // found in its .symtab, are probed too.
  EXPECT_EQ(plan.allocator_module, libc);
  for (const char* symbol : {"_rjem_mallocx", "_rjem_malloc", "_rjem_sdallocx", "_rjem_free"}) {
    const ProbeSite* site = find_site(plan, symbol);
    ASSERT_NE(site, nullptr) << symbol;
    EXPECT_EQ(site->module_path, "/app/prefixed");
    EXPECT_EQ(alloc_family(site->fn)->name, "jemalloc");
  }
  EXPECT_EQ(fn_name(find_site(plan, "_rjem_mallocx")->fn), "mallocx");
  EXPECT_EQ(find_site(plan, "_rjem_sdallocx")->shape, AllocShape::Free);
  EXPECT_EQ(describe_allocators(plan),
            "malloc in " + file_name(libc) + " serves malloc; also jemalloc in prefixed (the executable)");
}

// The allocators Debian ships, planned from their files as a process that
// maps them beside libc would be.
class DebianAllocatorTest : public AllocatorTest {
 protected:
  AllocatorPlan plan_with(const std::string& library) {
    const std::string file = "/usr/lib/x86_64-linux-gnu/" + library;
    if (!fs::exists(file)) {
      skipped_ = true;
      return {};
    }
    // Preloaded (LD_PRELOAD=libjemalloc.so.2), as it is often used.
    const std::string libc = libc_path();
    return plan_allocator_in_files({{"/proc/self/exe", "/proc/self/exe"}, {libc, libc}, {file, file}}, true,
                                   {library});
  }
  bool skipped_ = false;
};

TEST_F(DebianAllocatorTest, JemallocsOwnApiAndSizedDeletesAreProbed) {
  AllocatorPlan plan = plan_with("libjemalloc.so.2");
  if (skipped_) GTEST_SKIP() << "libjemalloc2 is not installed (tools/setup)";
  EXPECT_EQ(file_name(plan.allocator_module), "libjemalloc.so.2");
  EXPECT_EQ(plan.allocator_family, "jemalloc");
  EXPECT_FALSE(plan.allocator_wraps_os_memory_calls);
  for (const char* symbol : {"malloc", "free", "mallocx", "rallocx", "sdallocx", "dallocx", "_Znwm"})
    ASSERT_NE(find_site(plan, symbol), nullptr) << symbol;
  EXPECT_EQ(file_name(find_site(plan, "malloc")->module_path), "libjemalloc.so.2");
  EXPECT_EQ(find_site(plan, "rallocx")->shape, AllocShape::Realloc);
  // Its sized deletes free the block themselves; its plain ones jump to free.
  const ProbeSite* sized = find_site(plan, "_ZdlPvm");
  ASSERT_NE(sized, nullptr);
  EXPECT_EQ(fn_name(sized->fn), "operator delete");
  EXPECT_EQ(file_name(sized->module_path), "libjemalloc.so.2");
  EXPECT_EQ(find_site(plan, "_ZdlPv"), nullptr);
  EXPECT_NE(describe_allocators(plan).find("jemalloc in libjemalloc.so.2 serves malloc"), std::string::npos)
      << describe_allocators(plan);
}

TEST_F(DebianAllocatorTest, TcmallocsAliasesAreProbedOnceAndItsSizedFreeToo) {
  AllocatorPlan plan = plan_with("libtcmalloc_minimal.so.4");
  if (skipped_) GTEST_SKIP() << "libtcmalloc-minimal4 is not installed (tools/setup)";
  EXPECT_EQ(plan.allocator_family, "tcmalloc");
  // It wraps mmap, mremap and sbrk (its hooks): anybody's mmap begins in it.
  EXPECT_TRUE(plan.allocator_wraps_os_memory_calls);
  // tc_malloc is malloc, tc_free free, tc_delete too: one probe each.
  EXPECT_NE(find_site(plan, "malloc"), nullptr);
  EXPECT_EQ(find_site(plan, "tc_malloc"), nullptr);
  EXPECT_EQ(find_site(plan, "tc_free"), nullptr);
  // The sized free is a function of its own.
  const ProbeSite* sized = find_site(plan, "_ZdlPvm");
  ASSERT_NE(sized, nullptr);
  EXPECT_EQ(sized->shape, AllocShape::Free);
  std::set<std::pair<std::string, uint64_t>> addresses;
  for (const ProbeSite& site : plan.sites)
    EXPECT_TRUE(addresses.emplace(site.module_path, site.entry_offset).second) << site.symbol;
}

TEST_F(DebianAllocatorTest, MimallocsFreesThatJumpToMiFreeAreLeftToIt) {
  AllocatorPlan plan = plan_with("libmimalloc.so.2");
  if (skipped_) GTEST_SKIP() << "libmimalloc2.0 is not installed (tools/setup)";
  EXPECT_EQ(plan.allocator_family, "mimalloc");
  ASSERT_NE(find_site(plan, "free"), nullptr);  // mi_free's address
  for (const char* symbol : {"mi_zalloc", "mi_mallocn", "mi_reallocn", "mi_malloc_aligned", "mi_new_n"})
    EXPECT_NE(find_site(plan, symbol), nullptr) << symbol;
  for (const char* symbol : {"mi_free_size", "mi_free_aligned", "mi_free_size_aligned", "_ZdlPvm"})
    EXPECT_EQ(find_site(plan, symbol), nullptr) << symbol;
  bool said = false;
  for (const auto& [module, symbol] : plan.forwarders) said |= symbol == "mi_free_size";
  EXPECT_TRUE(said);
  std::vector<std::string> lines = describe_probes(plan);
  ASSERT_FALSE(lines.empty());
  EXPECT_TRUE(lines.back().starts_with("not probed in libmimalloc.so.2 (each jumps to a free that is probed): "))
      << lines.back();
  EXPECT_NE(lines.back().find(" mi_free_size "), std::string::npos) << lines.back();
}

}  // namespace
}  // namespace leakscope
