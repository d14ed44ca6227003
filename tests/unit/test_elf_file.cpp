#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "target/elf_file.h"
#include "target/proc_maps.h"

namespace leakscope {
namespace {

bool inside_executable_segment(const ElfFile& elf, uint64_t file_offset) {
  for (const ElfFile::Segment& segment : elf.load_segments()) {
    if (segment.executable && file_offset >= segment.offset &&
        file_offset < segment.offset + segment.filesz)
      return true;
  }
  return false;
}

// The executable mapping of the libc we run with, found from our maps.
std::optional<MapEntry> libc_mapping() {
  auto maps = read_maps(::getpid());
  if (!maps) return std::nullopt;
  for (const MapEntry& entry : *maps) {
    std::string name = std::filesystem::path(entry.path).filename();
    if (entry.file_backed() && entry.executable() &&
        (name.starts_with("libc.so") || name.starts_with("libc-")))
      return entry;
  }
  return std::nullopt;
}

TEST(ElfFileTest, OwnExecutable) {
  std::string error;
  auto elf = ElfFile::open("/proc/self/exe", &error);
  ASSERT_TRUE(elf) << error;
  EXPECT_EQ(elf->path(), "/proc/self/exe");
  EXPECT_TRUE(elf->is_dynamic());
  EXPECT_TRUE(elf->has_interpreter());
  EXPECT_EQ(elf->build_id().size(), 40u) << elf->build_id();  // SHA-1 build id
  EXPECT_EQ(elf->build_id().find_first_not_of("0123456789abcdef"), std::string::npos);

  // We import malloc: an undefined symbol is not a definition.
  EXPECT_FALSE(elf->find_function("malloc"));
  EXPECT_FALSE(elf->find_function("no_such_function_anywhere"));
  EXPECT_FALSE(elf->find_function(""));

  if (elf->has_symtab()) {
    auto main_fn = elf->find_function("main");
    ASSERT_TRUE(main_fn);
    EXPECT_TRUE(main_fn->global);
    auto offset = elf->vaddr_to_file_offset(main_fn->vaddr);
    ASSERT_TRUE(offset);
    EXPECT_TRUE(inside_executable_segment(*elf, *offset));
  }
}

TEST(ElfFileTest, LibcMalloc) {
  auto mapping = libc_mapping();
  ASSERT_TRUE(mapping) << "no libc in /proc/self/maps";
  std::string error;
  auto libc = ElfFile::open(mapping->path, &error);
  ASSERT_TRUE(libc) << error;
  EXPECT_TRUE(libc->is_dynamic());
  EXPECT_FALSE(libc->build_id().empty());

  auto malloc_fn = libc->find_function("malloc");
  ASSERT_TRUE(malloc_fn);
  EXPECT_EQ(malloc_fn->name, "malloc");
  EXPECT_TRUE(malloc_fn->global);
  EXPECT_TRUE(malloc_fn->in_dynsym);
  EXPECT_FALSE(malloc_fn->ifunc);
  EXPECT_GT(malloc_fn->size, 0u);
  auto offset = libc->vaddr_to_file_offset(malloc_fn->vaddr);
  ASSERT_TRUE(offset);
  EXPECT_TRUE(inside_executable_segment(*libc, *offset));

  // The offset is where our own malloc runs from, when it is libc's.
  auto address = reinterpret_cast<uint64_t>(::dlsym(RTLD_DEFAULT, "malloc"));
  if (mapping->contains(address)) {
    EXPECT_EQ(mapping->offset + (address - mapping->start), *offset);
  }

  for (const char* name : {"free", "calloc", "realloc", "posix_memalign"}) {
    auto fn = libc->find_function(name);
    ASSERT_TRUE(fn) << name;
    EXPECT_TRUE(libc->vaddr_to_file_offset(fn->vaddr)) << name;
  }
  EXPECT_FALSE(libc->find_function("malloc@@GLIBC_2.2.5"));  // names are plain
  EXPECT_FALSE(libc->vaddr_to_file_offset(0xffffffffffff0000ull));
}

TEST(ElfFileTest, MoveKeepsTheFileOpen) {
  auto mapping = libc_mapping();
  ASSERT_TRUE(mapping);
  auto opened = ElfFile::open(mapping->path, nullptr);
  ASSERT_TRUE(opened);
  std::string id = opened->build_id();
  ElfFile moved = std::move(*opened);
  EXPECT_EQ(moved.build_id(), id);
  auto other = ElfFile::open("/proc/self/exe", nullptr);
  ASSERT_TRUE(other);
  moved = std::move(*other);
  EXPECT_TRUE(moved.has_interpreter());
  EXPECT_FALSE(moved.find_function("malloc"));
}

TEST(ElfFileTest, NotAnElfFile) {
  std::string dir = std::filesystem::temp_directory_path() / "leakscope-elf-XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  std::string text = dir + "/notes.txt";
  std::ofstream(text) << "just some text, not an ELF header\n";

  std::string error;
  EXPECT_FALSE(ElfFile::open(text, &error));
  EXPECT_NE(error.find(text), std::string::npos) << error;
  EXPECT_NE(error.find("not an ELF file"), std::string::npos) << error;

  error.clear();
  EXPECT_FALSE(ElfFile::open(dir + "/missing", &error));
  EXPECT_NE(error.find("No such file"), std::string::npos) << error;
  EXPECT_FALSE(ElfFile::open(dir + "/missing", nullptr));
  std::filesystem::remove_all(dir);
}

// The file belongs to the traced process, which may truncate it while
// leakscope reads it: what is gone reads as absent, never as SIGBUS.
TEST(ElfFileTest, FileTruncatedWhileOpen) {
  std::string dir = std::filesystem::temp_directory_path() / "leakscope-elf-XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  std::string copy = dir + "/leaky";
  std::filesystem::copy_file(LEAKSCOPE_FIXTURE_DIR "/fixture_leaky", copy);

  auto elf = ElfFile::open(copy, nullptr);
  ASSERT_TRUE(elf);
  ASSERT_FALSE(elf->load_segments().empty());
  std::filesystem::resize_file(copy, 64);  // the ELF header stays

  EXPECT_FALSE(elf->find_function("handle_request"));
  EXPECT_EQ(elf->build_id(), "");
  EXPECT_TRUE(elf->read_bytes(4096, 16).empty());
  std::filesystem::remove_all(dir);
}

// SDT notes: the self-sampling fixture allocator's two otel_memory probes,
// each at an address of its code; a file without SDT notes has none.
TEST(ElfFileTest, UsdtProbesFromSdtNotes) {
  auto lib = ElfFile::open(LEAKSCOPE_FIXTURE_DIR "/libotelsampler.so", nullptr);
  ASSERT_TRUE(lib);
  auto probes = lib->usdt_probes();
  ASSERT_EQ(probes.size(), 2u);
  EXPECT_EQ(probes[0].provider, "otel_memory");
  EXPECT_EQ(probes[0].name, "alloc");
  EXPECT_EQ(probes[1].provider, "otel_memory");
  EXPECT_EQ(probes[1].name, "free");
  for (const auto& probe : probes) {
    auto offset = lib->vaddr_to_file_offset(probe.pc);
    ASSERT_TRUE(offset) << probe.name;
    EXPECT_TRUE(inside_executable_segment(*lib, *offset)) << probe.name;
  }
  auto plain = ElfFile::open(LEAKSCOPE_FIXTURE_DIR "/fixture_leaky", nullptr);
  ASSERT_TRUE(plain);
  EXPECT_TRUE(plain->usdt_probes().empty());
}

}  // namespace
}  // namespace leakscope
