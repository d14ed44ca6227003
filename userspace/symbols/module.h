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
  // (a FrameNamer looks up while the trace loop unwinds): one lock guards
  // libdw and the memo. Moving a Module is not (it is moved only before it
  // is shared).
  ModuleSymbol lookup(uint64_t vaddr);
  // What lookup(vaddr) would give, when it is memoized and the module is not
  // busy with another lookup now; nullopt otherwise. Never waits.
  std::optional<ModuleSymbol> lookup_ready(uint64_t vaddr);

  // The call-frame rules at the ELF virtual address `vaddr` (the instruction
  // itself), from .eh_frame, else .debug_frame; nullopt when neither covers it.
  std::optional<CfiRow> cfi_row(uint64_t vaddr) const;

 private:
  struct DwflDeleter {
    void operator()(Dwfl* dwfl) const;
  };

  Module() = default;
  ModuleSymbol compute(uint64_t vaddr) const;

  std::unique_ptr<Dwfl, DwflDeleter> dwfl_;
  Dwfl_Module* module_ = nullptr;  // owned by dwfl_
  uint64_t bias_ = 0;              // dwfl address = ELF vaddr + bias_
  std::string build_id_;
  std::vector<ElfFile::Segment> segments_;  // PT_LOAD
  std::unordered_map<uint64_t, ModuleSymbol> memo_;
  std::unique_ptr<std::mutex> lock_ = std::make_unique<std::mutex>();  // libdw's state and memo_
};

}  // namespace leakscope
