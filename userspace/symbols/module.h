// One ELF object (executable or shared library): symbols, source lines and
// call-frame rules by ELF virtual address, through elfutils libdwfl. Its
// build id and segments are read by target/elf_file.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "symbols/unwind.h"
#include "target/elf_file.h"

struct Dwfl;
struct Dwfl_Module;

namespace leakscope {

// What a module knows about one address.
struct ModuleSymbol {
  std::string function;  // demangled; empty when no symbol covers the address
  std::string file;      // source file as DWARF names it; empty without line info
  int line = 0;          // 0 without line info
};

class Module {
 public:
  // Opens the ELF file at `path` (e.g. /proc/PID/map_files/START-END). The
  // file stays open for the life of the Module, so it keeps resolving after
  // the process that mapped it exits or the file is deleted. Separate debug
  // info is looked up only at /usr/lib/debug/.build-id/xx/yyyy.debug, never
  // through debuginfod or the network. nullopt (with `error` set when given)
  // when the file cannot be opened or is not ELF.
  static std::optional<Module> open(const std::string& path, std::string* error = nullptr);

  Module(Module&&) noexcept;
  Module& operator=(Module&&) noexcept;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  ~Module();

  // GNU build id as lowercase hex; empty when the object has none.
  const std::string& build_id() const { return build_id_; }

  // Maps a file offset (as in /proc/PID/maps: addr - start + offset) to the
  // ELF virtual address it is loaded at, through the PT_LOAD headers.
  std::optional<uint64_t> file_offset_to_vaddr(uint64_t file_offset) const;

  // Function and source line at the ELF virtual address `vaddr` (pass the
  // address of the instruction itself, i.e. return address - 1). When the
  // address is in code inlined into the function, file/line are those of the
  // call site inside the function, so the three fields agree. Results are
  // memoized (bounded). The first lookup of a module loads its symbol table
  // and DWARF (0.4 s for python3.11's debug file, measured), each new
  // address costs up to ~10 ms in a big one (node).
  //
  // lookup, lookup_ready and cfi_row may be called from different threads
  // (a FrameNamer looks up while the trace loop unwinds). Names and
  // call-frame rules come from two libdwfl handles of the file, each under
  // its own lock, so an unwind never waits for a lookup; the memo has a lock
  // of its own, held only to read or write it. Moving a Module is not
  // thread-safe (it is moved only before it is shared).
  ModuleSymbol lookup(uint64_t vaddr);
  // What lookup(vaddr) would give, when it is memoized; nullopt otherwise.
  // Never waits for a lookup under way.
  std::optional<ModuleSymbol> lookup_ready(uint64_t vaddr);

  // The call-frame rules at the ELF virtual address `vaddr` (the instruction
  // itself), from .eh_frame, else .debug_frame; nullopt when neither covers it.
  std::optional<CfiRow> cfi_row(uint64_t vaddr) const;

 private:
  struct DwflDeleter {
    void operator()(Dwfl* dwfl) const;
  };

  // One libdwfl view of the file.
  struct Handle {
    std::unique_ptr<Dwfl, DwflDeleter> dwfl;
    Dwfl_Module* module = nullptr;  // owned by dwfl
  };
  struct Locks {
    std::mutex names;  // names_'s libdw state
    std::mutex cfi;    // cfi_'s libdw state
    std::mutex memo;   // memo_
  };

  Module() = default;
  // Reports the file `fd` (owned from then on) at `path` into `h`.
  static bool report(const std::string& path, int fd, Handle& h, std::string* error);
  ModuleSymbol compute(uint64_t vaddr) const;

  Handle names_;  // symbols and lines (lookup)
  Handle cfi_;    // call-frame information (cfi_row)
  uint64_t bias_ = 0;  // dwfl address = ELF vaddr + bias_
  std::string build_id_;
  std::vector<ElfFile::Segment> segments_;  // PT_LOAD
  std::unordered_map<uint64_t, ModuleSymbol> memo_;
  std::unique_ptr<Locks> locks_ = std::make_unique<Locks>();
};

}  // namespace leakscope
