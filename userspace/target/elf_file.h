// Read-only view of an ELF file (executable or shared object) over libelf.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct Elf;  // libelf's handle; <libelf.h> stays out of this header.

namespace leakscope {

class ElfFile {
 public:
  struct Symbol {
    std::string name;
    uint64_t vaddr = 0;
    uint64_t size = 0;
    bool global = false;     // binding GLOBAL, WEAK or GNU_UNIQUE (not LOCAL)
    bool ifunc = false;      // STT_GNU_IFUNC: vaddr is the resolver, not the function
    bool in_dynsym = false;  // found in .dynsym (exported), else in .symtab
  };

  // One PT_LOAD program header.
  struct Segment {
    uint64_t vaddr = 0;
    uint64_t memsz = 0;
    uint64_t offset = 0;
    uint64_t filesz = 0;
    bool executable = false;
  };

  // Opens PATH; nullopt and a one-line reason in *error (if not null) when it
  // cannot be read or is not an ELF file.
  static std::optional<ElfFile> open(const std::string& path, std::string* error);

  ElfFile(ElfFile&& other) noexcept;
  ElfFile& operator=(ElfFile&& other) noexcept;
  ElfFile(const ElfFile&) = delete;
  ElfFile& operator=(const ElfFile&) = delete;
  ~ElfFile();

  const std::string& path() const { return path_; }

  // Lower-case hex of the NT_GNU_BUILD_ID note; empty when there is none.
  std::string build_id() const;
  // Has a PT_INTERP or PT_DYNAMIC program header.
  bool is_dynamic() const;
  // Has a PT_INTERP program header (is started through a dynamic loader).
  bool has_interpreter() const;
  // Has a .symtab section (not stripped), or one in its .gnu_debugdata.
  bool has_symtab() const;

  // The libraries it needs (DT_NEEDED, in order) and its own DT_SONAME
  // (empty when it has none), from its .dynamic section.
  std::vector<std::string> needed() const;
  std::string soname() const;

  // A defined STT_FUNC / STT_GNU_IFUNC symbol named exactly NAME, searched in
  // .dynsym, then .symtab, then the .symtab of the MiniDebugInfo in
  // .gnu_debugdata (an xz-compressed ELF file holding the symbols a stripped
  // file kept for backtraces: Fedora's binaries; its symbols count as
  // .symtab's). Names in .dynsym carry no version, so "malloc" finds
  // malloc@@GLIBC_2.2.5; a "NAME@@VERSION" entry in .symtab matches too. The
  // default version wins over hidden ones, and global over local bindings.
  std::optional<Symbol> find_function(std::string_view name) const;

  // File offset of VADDR through the PT_LOAD segment holding it in the file.
  std::optional<uint64_t> vaddr_to_file_offset(uint64_t vaddr) const;

  std::vector<Segment> load_segments() const;

  // A USDT probe of its SystemTap SDT notes (.note.stapsdt).
  struct UsdtProbe {
    std::string provider;  // "otel_memory"
    std::string name;      // "alloc"
    uint64_t pc = 0;       // the probe's address (link-time vaddr)
  };
  // Its USDT probes, in note order: at most kMaxUsdtProbes; a note cut short
  // or whose strings run past it is skipped.
  static constexpr size_t kMaxUsdtProbes = 4096;
  std::vector<UsdtProbe> usdt_probes() const;

  // Up to `n` bytes of the file at `offset` (fewer at its end).
  std::vector<uint8_t> read_bytes(uint64_t offset, size_t n) const;

 private:
  ElfFile(std::string path, int fd, Elf* elf) : path_(std::move(path)), fd_(fd), elf_(elf) {}
  void reset();
  void open_debugdata();

  std::string path_;
  int fd_ = -1;
  Elf* elf_ = nullptr;
  // The decompressed .gnu_debugdata and libelf's view of it, when the file
  // has no .symtab of its own.
  std::vector<char> mini_data_;
  Elf* mini_ = nullptr;
};

// The same readers on an ELF image opened elsewhere (symbols/Module gets its
// handle from libdwfl), so that build ids and segments are read one way.
std::string elf_build_id(Elf* elf);
std::vector<ElfFile::Segment> elf_load_segments(Elf* elf);

}  // namespace leakscope
