#include "symbols/module.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <cstring>
#include <utility>

#include "symbols/demangle.h"

#include "core/input_limits.h"
#include "core/unique_fd.h"

namespace leakscope {

namespace {

constexpr size_t kMaxMemo = 1 << 16;

// The main file is always reported with its descriptor, so dwfl never has to
// look for it.
int no_find_elf(Dwfl_Module*, void**, const char*, Dwarf_Addr, char**, Elf**) { return -1; }

// Separate debug info only from the local build-id tree. Deliberately not
// dwfl_standard_find_debuginfo: that one asks debuginfod (DEBUGINFOD_URLS)
// over the network when nothing is found locally.
int local_build_id_debuginfo(Dwfl_Module* mod, void**, const char*, Dwarf_Addr, const char*,
                             const char*, GElf_Word, char** debuginfo_file_name) {
  // The main file is loaded by now (Module::open asked for it).
  GElf_Addr bias = 0;
  const std::string id = elf_build_id(dwfl_module_getelf(mod, &bias));
  if (id.size() < 4) return -1;
  const std::string path =
      "/usr/lib/debug/.build-id/" + id.substr(0, 2) + "/" + id.substr(2) + ".debug";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  if (debuginfo_file_name != nullptr) *debuginfo_file_name = ::strdup(path.c_str());
  return fd;
}

// Constant table: dwfl keeps a pointer to it for the life of each Dwfl.
const Dwfl_Callbacks kCallbacks = {
    .find_elf = no_find_elf,
    .find_debuginfo = local_build_id_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = nullptr,
};

void set_error(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
}

// When `pc` lies in code inlined into a function, the source position of the
// outermost inlined call inside that function.
bool inlined_call_site(Dwarf_Die* cu, Dwarf_Addr pc, std::string* file, int* line) {
  Dwarf_Die* scopes = nullptr;
  const int n = dwarf_getscopes(cu, pc, &scopes);
  if (n <= 0) return false;
  int outermost = -1;
  for (int i = 0; i < n; ++i) {
    const int tag = dwarf_tag(&scopes[i]);
    if (tag == DW_TAG_subprogram) break;
    if (tag == DW_TAG_inlined_subroutine) outermost = i;
  }
  bool found = false;
  if (outermost >= 0) {
    Dwarf_Die* die = &scopes[outermost];
    Dwarf_Attribute attr;
    Dwarf_Word file_index = 0;
    Dwarf_Word call_line = 0;
    Dwarf_Files* files = nullptr;
    size_t nfiles = 0;
    if (dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &attr), &file_index) == 0 &&
        dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &attr), &call_line) == 0 &&
        call_line > 0 && dwarf_getsrcfiles(cu, &files, &nfiles) == 0 && file_index < nfiles) {
      if (const char* name = dwarf_filesrc(files, file_index, nullptr, nullptr)) {
        *file = name;
        *line = static_cast<int>(call_line);
        found = true;
      }
    }
  }
  std::free(scopes);
  return found;
}

}  // namespace

void Module::DwflDeleter::operator()(Dwfl* dwfl) const { dwfl_end(dwfl); }

std::optional<Module> Module::open(const std::string& path, std::string* error) {
  // O_NONBLOCK: never hang on a FIFO or device that someone mapped.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) {
    set_error(error, path + ": " + std::strerror(errno));
    return std::nullopt;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    set_error(error, path + ": not a regular file");
    return std::nullopt;
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxElfBytes) {
    const std::string limit = "larger than the ELF object cap of " +
                              std::to_string(kMaxElfBytes >> 30) + " GiB";
    note_input_limit(input_file_name(path), limit, "not read (its frames unsymbolized)");
    set_error(error, path + ": " + limit);
    return std::nullopt;
  }

  // A second descriptor for the second view (each Dwfl closes its own).
  UniqueFd cfi_fd(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
  if (cfi_fd.get() < 0) {
    set_error(error, path + ": " + std::strerror(errno));
    return std::nullopt;
  }
  Module m;
  if (!report(path, fd.release(), m.names_, error) || !report(path, cfi_fd.release(), m.cfi_, error))
    return std::nullopt;

  GElf_Addr bias = 0;
  Elf* elf = dwfl_module_getelf(m.names_.module, &bias);
  if (elf == nullptr) {
    set_error(error, path + ": " + dwfl_errmsg(-1));
    return std::nullopt;
  }
  m.bias_ = bias;
  m.segments_ = elf_load_segments(elf);
  m.build_id_ = elf_build_id(elf);
  return m;
}

bool Module::report(const std::string& path, int fd, Handle& h, std::string* error) {
  UniqueFd owned(fd);
  h.dwfl.reset(dwfl_begin(&kCallbacks));
  if (!h.dwfl) {
    set_error(error, std::string("dwfl_begin: ") + dwfl_errmsg(-1));
    return false;
  }
  dwfl_report_begin(h.dwfl.get());
  // Bias 0 with p_vaddr added: dwfl addresses are the ELF's own addresses.
  h.module = dwfl_report_elf(h.dwfl.get(), path.c_str(), path.c_str(), owned.get(), 0, true);
  if (h.module == nullptr) {
    set_error(error, path + ": " + dwfl_errmsg(-1));
    return false;
  }
  owned.release();  // dwfl owns it now and closes it in dwfl_end
  if (dwfl_report_end(h.dwfl.get(), nullptr, nullptr) != 0) {
    set_error(error, path + ": " + dwfl_errmsg(-1));
    return false;
  }
  return true;
}

Module::Module(Module&& other) noexcept
    : names_(std::move(other.names_)),
      cfi_(std::move(other.cfi_)),
      bias_(other.bias_),
      build_id_(std::move(other.build_id_)),
      segments_(std::move(other.segments_)),
      memo_(std::move(other.memo_)),
      locks_(std::move(other.locks_)) {
  other.names_.module = nullptr;
  other.cfi_.module = nullptr;
}

Module& Module::operator=(Module&& other) noexcept {
  if (this != &other) {
    names_.dwfl = std::move(other.names_.dwfl);
    names_.module = std::exchange(other.names_.module, nullptr);
    cfi_.dwfl = std::move(other.cfi_.dwfl);
    cfi_.module = std::exchange(other.cfi_.module, nullptr);
    bias_ = other.bias_;
    build_id_ = std::move(other.build_id_);
    segments_ = std::move(other.segments_);
    memo_ = std::move(other.memo_);
    locks_ = std::move(other.locks_);
  }
  return *this;
}

Module::~Module() = default;

std::optional<uint64_t> Module::file_offset_to_vaddr(uint64_t file_offset) const {
  for (const ElfFile::Segment& s : segments_) {
    if (file_offset >= s.offset && file_offset - s.offset < s.filesz)
      return file_offset - s.offset + s.vaddr;
  }
  // Mappings start on page boundaries, segments need not: accept the part of
  // the segment's first page that lies before its own start.
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  for (const ElfFile::Segment& s : segments_) {
    const uint64_t page_start = s.offset & ~(page - 1);
    if (file_offset >= page_start && file_offset < s.offset && s.vaddr >= s.offset - file_offset)
      return s.vaddr - (s.offset - file_offset);
  }
  return std::nullopt;
}

ModuleSymbol Module::lookup(uint64_t vaddr) {
  if (names_.module == nullptr) return {};
  if (std::optional<ModuleSymbol> known = lookup_ready(vaddr)) return *known;
  ModuleSymbol symbol;
  {
    std::lock_guard hold(locks_->names);
    symbol = compute(vaddr);
  }
  std::lock_guard hold(locks_->memo);
  if (memo_.size() >= kMaxMemo) memo_.clear();
  memo_.emplace(vaddr, symbol);
  return symbol;
}

std::optional<ModuleSymbol> Module::lookup_ready(uint64_t vaddr) {
  if (names_.module == nullptr) return ModuleSymbol{};
  std::lock_guard hold(locks_->memo);
  if (auto it = memo_.find(vaddr); it != memo_.end()) return it->second;
  return std::nullopt;
}

ModuleSymbol Module::compute(uint64_t vaddr) const {
  ModuleSymbol out;
  const Dwarf_Addr pc = vaddr + bias_;

  GElf_Off offset = 0;
  GElf_Sym sym;
  if (const char* name =
          dwfl_module_addrinfo(names_.module, pc, &offset, &sym, nullptr, nullptr, nullptr)) {
    out.function = demangle(name);
  }

  Dwarf_Addr cu_bias = 0;
  if (Dwarf_Die* cu = dwfl_module_addrdie(names_.module, pc, &cu_bias))
    inlined_call_site(cu, pc - cu_bias, &out.file, &out.line);
  if (out.line == 0) {
    if (Dwfl_Line* line = dwfl_module_getsrc(names_.module, pc)) {
      int lineno = 0;
      if (const char* file = dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr)) {
        out.file = file;
        out.line = lineno;
      }
    }
  }
  return out;
}

namespace {

std::vector<CfiOp> copy_ops(const Dwarf_Op* ops, size_t n) {
  std::vector<CfiOp> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(CfiOp{ops[i].atom, ops[i].number, ops[i].number2});
  return out;
}

std::optional<CfiRow> row_from(Dwarf_CFI* cfi, Dwarf_Addr addr) {
  if (cfi == nullptr) return std::nullopt;
  Dwarf_Frame* frame = nullptr;
  if (dwarf_cfi_addrframe(cfi, addr, &frame) != 0 || frame == nullptr) return std::nullopt;
  std::unique_ptr<Dwarf_Frame, decltype(&std::free)> owned(frame, &std::free);
  CfiRow row;
  Dwarf_Op* ops = nullptr;
  size_t nops = 0;
  if (dwarf_frame_cfa(frame, &ops, &nops) != 0 || nops == 0) return std::nullopt;
  row.cfa = copy_ops(ops, nops);
  for (int r = 0; r < kDwarfRegs; ++r) {
    Dwarf_Op mem[3];
    Dwarf_Op* rops = nullptr;
    size_t n = 0;
    CfiRule& rule = row.regs[r];
    if (dwarf_frame_register(frame, r, mem, &rops, &n) != 0) {
      rule.type = CfiRule::Type::Undefined;
    } else if (n == 0) {
      // libdw: OPS set to OPS_MEM means "undefined", null means "same value".
      rule.type = rops == nullptr ? CfiRule::Type::SameValue : CfiRule::Type::Undefined;
    } else {
      rule.type = CfiRule::Type::Expression;
      rule.ops = copy_ops(rops, n);
    }
  }
  return row;
}

}  // namespace

std::optional<CfiRow> Module::cfi_row(uint64_t vaddr) const {
  if (cfi_.module == nullptr) return std::nullopt;
  std::lock_guard hold(locks_->cfi);
  const Dwarf_Addr pc = vaddr + bias_;
  Dwarf_Addr cfi_bias = 0;
  if (Dwarf_CFI* eh = dwfl_module_eh_cfi(cfi_.module, &cfi_bias))
    if (auto row = row_from(eh, pc - cfi_bias)) return row;
  if (Dwarf_CFI* dbg = dwfl_module_dwarf_cfi(cfi_.module, &cfi_bias))
    if (auto row = row_from(dbg, pc - cfi_bias)) return row;
  return std::nullopt;
}

}  // namespace leakscope
