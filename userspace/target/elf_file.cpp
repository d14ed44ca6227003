#include "target/elf_file.h"

#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <lzma.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "core/input_limits.h"

namespace leakscope {

namespace {

bool libelf_ready() {
  static const bool ready = elf_version(EV_CURRENT) != EV_NONE;  // thread-safe static init
  return ready;
}

// Finds the first section of TYPE; nullptr when absent.
Elf_Scn* find_section(Elf* elf, uint32_t type) {
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) != nullptr && shdr.sh_type == type) return scn;
  }
  return nullptr;
}

// Program headers of ELF, skipping unreadable ones.
std::vector<GElf_Phdr> program_headers(Elf* elf) {
  std::vector<GElf_Phdr> out;
  size_t count = 0;
  if (elf_getphdrnum(elf, &count) != 0) return out;
  for (size_t i = 0; i < count; ++i) {
    GElf_Phdr phdr;
    if (gelf_getphdr(elf, static_cast<int>(i), &phdr) != nullptr) out.push_back(phdr);
  }
  return out;
}

std::string hex(const unsigned char* bytes, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    out.push_back(kDigits[bytes[i] >> 4]);
    out.push_back(kDigits[bytes[i] & 0xf]);
  }
  return out;
}

// Build id from the notes in DATA; empty when none.
std::string build_id_in_notes(Elf_Data* data) {
  if (data == nullptr || data->d_buf == nullptr) return {};
  size_t offset = 0;
  GElf_Nhdr nhdr;
  size_t name_offset = 0;
  size_t desc_offset = 0;
  while (offset < data->d_size) {
    size_t next = gelf_getnote(data, offset, &nhdr, &name_offset, &desc_offset);
    if (next == 0) break;
    const auto* base = static_cast<const unsigned char*>(data->d_buf);
    if (nhdr.n_type == NT_GNU_BUILD_ID && nhdr.n_namesz == 4 && nhdr.n_descsz > 0 &&
        std::memcmp(base + name_offset, "GNU", 4) == 0)
      return hex(base + desc_offset, nhdr.n_descsz);
    offset = next;
  }
  return {};
}

// SystemTap's SDT notes: owner "stapsdt", type 3; the descriptor holds the
// probe's pc, the SDT base and the semaphore's address (8 bytes each on a
// 64-bit file), then provider, name and argument spec, each NUL-ended.
constexpr uint32_t kNtStapsdt = 3;

void usdt_probes_in_notes(Elf_Data* data, std::vector<ElfFile::UsdtProbe>& out) {
  if (data == nullptr || data->d_buf == nullptr) return;
  const auto* base = static_cast<const char*>(data->d_buf);
  size_t offset = 0;
  GElf_Nhdr nhdr;
  size_t name_offset = 0;
  size_t desc_offset = 0;
  while (offset < data->d_size && out.size() < ElfFile::kMaxUsdtProbes) {
    size_t next = gelf_getnote(data, offset, &nhdr, &name_offset, &desc_offset);
    if (next == 0 || next <= offset) break;
    offset = next;
    if (nhdr.n_type != kNtStapsdt || nhdr.n_namesz != 8 || std::memcmp(base + name_offset, "stapsdt", 8) != 0)
      continue;
    if (nhdr.n_descsz < 3 * 8 || desc_offset + nhdr.n_descsz > data->d_size) continue;
    const char* desc = base + desc_offset;
    std::string_view strings(desc + 3 * 8, nhdr.n_descsz - 3 * 8);
    const size_t provider_end = strings.find('\0');
    if (provider_end == std::string_view::npos) continue;
    const size_t name_end = strings.find('\0', provider_end + 1);
    if (name_end == std::string_view::npos) continue;
    ElfFile::UsdtProbe probe;
    std::memcpy(&probe.pc, desc, sizeof probe.pc);
    probe.provider = std::string(strings.substr(0, provider_end));
    probe.name = std::string(strings.substr(provider_end + 1, name_end - provider_end - 1));
    out.push_back(std::move(probe));
  }
}

bool is_function(const GElf_Sym& sym) {
  int type = GELF_ST_TYPE(sym.st_info);
  return (type == STT_FUNC || type == STT_GNU_IFUNC) && sym.st_shndx != SHN_UNDEF &&
         sym.st_value != 0;
}

// A name in a symbol table matches NAME exactly, or as NAME@@VERSION (default version).
bool name_matches(std::string_view symbol_name, std::string_view name) {
  if (!symbol_name.starts_with(name)) return false;
  std::string_view rest = symbol_name.substr(name.size());
  return rest.empty() || rest.starts_with("@@");
}

// Best match for NAME in the symbol table SCN (of type SHT_DYNSYM or SHT_SYMTAB).
std::optional<ElfFile::Symbol> search_table(Elf* elf, Elf_Scn* scn, std::string_view name) {
  GElf_Shdr shdr;
  if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_entsize == 0) return std::nullopt;
  Elf_Data* data = elf_getdata(scn, nullptr);
  if (data == nullptr) return std::nullopt;
  const bool dynamic = shdr.sh_type == SHT_DYNSYM;

  // Version of each .dynsym entry; bit 15 marks a hidden (non-default) version.
  Elf_Data* versions = nullptr;
  if (dynamic) {
    if (Elf_Scn* versym = find_section(elf, SHT_GNU_versym))
      versions = elf_getdata(versym, nullptr);
  }

  std::optional<ElfFile::Symbol> best;
  int best_rank = 0;
  const size_t count = shdr.sh_size / shdr.sh_entsize;
  for (size_t i = 0; i < count; ++i) {
    GElf_Sym sym;
    if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr || !is_function(sym)) continue;
    const char* symbol_name = elf_strptr(elf, shdr.sh_link, sym.st_name);
    if (symbol_name == nullptr || !name_matches(symbol_name, name)) continue;

    bool hidden_version = false;
    GElf_Versym version;
    if (versions != nullptr && gelf_getversym(versions, static_cast<int>(i), &version) != nullptr)
      hidden_version = (version & 0x8000) != 0;
    const bool global = GELF_ST_BIND(sym.st_info) != STB_LOCAL;
    const int rank = (global ? 2 : 0) + (hidden_version ? 0 : 1);
    if (rank <= best_rank) continue;
    best_rank = rank;
    best = ElfFile::Symbol{std::string(name),
                           sym.st_value,
                           sym.st_size,
                           global,
                           GELF_ST_TYPE(sym.st_info) == STT_GNU_IFUNC,
                           dynamic};
  }
  return best;
}

}  // namespace

std::optional<ElfFile> ElfFile::open(const std::string& path, std::string* error) {
  auto fail = [&](const std::string& reason) -> std::optional<ElfFile> {
    if (error != nullptr) *error = path + ": " + reason;
    return std::nullopt;
  };
  if (!libelf_ready()) return fail("libelf is unusable");
  // O_NONBLOCK: never hang on a FIFO or device a target mapped or names.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return fail(std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail("not a regular file");
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxElfBytes) {
    ::close(fd);
    const std::string limit = "larger than the ELF object cap of " + std::to_string(kMaxElfBytes >> 30) + " GiB";
    note_input_limit(input_file_name(path), limit, "not read");
    return fail(limit);
  }
  // ELF_C_READ, not _MMAP: the file may be the traced process's own, and a
  // mapping of it turns its truncation into SIGBUS here; read() returns short.
  Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
  if (elf == nullptr) {
    std::string reason = elf_errmsg(-1);
    ::close(fd);
    return fail(reason);
  }
  if (elf_kind(elf) != ELF_K_ELF) {
    elf_end(elf);
    ::close(fd);
    return fail("not an ELF file");
  }
  ElfFile file(path, fd, elf);
  file.open_debugdata();
  return file;
}

namespace {

// Bounds on MiniDebugInfo: a few MiB of symbols at most in real files.
constexpr size_t kMaxDebugdataCompressed = 64u << 20;
constexpr size_t kMaxDebugdataDecompressed = 256u << 20;

// The section named NAME; nullptr when absent.
Elf_Scn* find_named_section(Elf* elf, std::string_view name) {
  size_t shstrndx = 0;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) return nullptr;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr) continue;
    const char* n = elf_strptr(elf, shstrndx, shdr.sh_name);
    if (n != nullptr && name == n) return scn;
  }
  return nullptr;
}

// An xz stream, decompressed; empty when it is not one or is too large.
std::vector<char> unxz(const uint8_t* in, size_t size) {
  std::vector<char> out;
  lzma_stream stream = LZMA_STREAM_INIT;
  if (lzma_stream_decoder(&stream, UINT64_MAX, 0) != LZMA_OK) return out;
  stream.next_in = in;
  stream.avail_in = size;
  lzma_ret ret = LZMA_OK;
  while (ret == LZMA_OK) {
    if (out.size() >= kMaxDebugdataDecompressed) break;
    const size_t done = out.size();
    out.resize(std::min(kMaxDebugdataDecompressed, std::max<size_t>(done * 2, 1u << 16)));
    stream.next_out = reinterpret_cast<uint8_t*>(out.data() + done);
    stream.avail_out = out.size() - done;
    ret = lzma_code(&stream, LZMA_FINISH);
    out.resize(out.size() - stream.avail_out);
  }
  lzma_end(&stream);
  if (ret != LZMA_STREAM_END) out.clear();
  return out;
}

}  // namespace

void ElfFile::open_debugdata() {
  if (elf_ == nullptr || find_section(elf_, SHT_SYMTAB) != nullptr) return;
  Elf_Scn* scn = find_named_section(elf_, ".gnu_debugdata");
  GElf_Shdr shdr;
  if (scn == nullptr || gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type == SHT_NOBITS ||
      shdr.sh_size == 0 || shdr.sh_size > kMaxDebugdataCompressed)
    return;
  Elf_Data* data = elf_rawdata(scn, nullptr);
  if (data == nullptr || data->d_buf == nullptr) return;
  std::vector<char> mini = unxz(static_cast<const uint8_t*>(data->d_buf), data->d_size);
  if (mini.empty()) return;
  mini_data_ = std::move(mini);
  mini_ = elf_memory(mini_data_.data(), mini_data_.size());
  if (mini_ != nullptr && (elf_kind(mini_) != ELF_K_ELF || find_section(mini_, SHT_SYMTAB) == nullptr)) {
    elf_end(mini_);
    mini_ = nullptr;
  }
  if (mini_ == nullptr) mini_data_.clear();
}

ElfFile::ElfFile(ElfFile&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      elf_(std::exchange(other.elf_, nullptr)),
      mini_data_(std::move(other.mini_data_)),
      mini_(std::exchange(other.mini_, nullptr)) {}

ElfFile& ElfFile::operator=(ElfFile&& other) noexcept {
  if (this != &other) {
    reset();
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
    elf_ = std::exchange(other.elf_, nullptr);
    mini_data_ = std::move(other.mini_data_);
    mini_ = std::exchange(other.mini_, nullptr);
  }
  return *this;
}

ElfFile::~ElfFile() { reset(); }

void ElfFile::reset() {
  // The view of the MiniDebugInfo goes before the bytes it reads.
  if (mini_ != nullptr) elf_end(mini_);
  mini_ = nullptr;
  mini_data_.clear();
  if (elf_ != nullptr) elf_end(elf_);
  if (fd_ >= 0) ::close(fd_);
  elf_ = nullptr;
  fd_ = -1;
}

std::string ElfFile::build_id() const { return elf_build_id(elf_); }

bool ElfFile::is_dynamic() const {
  if (elf_ == nullptr) return false;
  for (const GElf_Phdr& phdr : program_headers(elf_))
    if (phdr.p_type == PT_INTERP || phdr.p_type == PT_DYNAMIC) return true;
  return false;
}

bool ElfFile::has_interpreter() const {
  if (elf_ == nullptr) return false;
  for (const GElf_Phdr& phdr : program_headers(elf_))
    if (phdr.p_type == PT_INTERP) return true;
  return false;
}

bool ElfFile::has_symtab() const {
  return elf_ != nullptr && (find_section(elf_, SHT_SYMTAB) != nullptr || mini_ != nullptr);
}

namespace {

// The string values of the .dynamic entries tagged TAG, in order.
std::vector<std::string> dynamic_strings(Elf* elf, int64_t tag) {
  std::vector<std::string> out;
  Elf_Scn* scn = elf ? find_section(elf, SHT_DYNAMIC) : nullptr;
  GElf_Shdr shdr;
  if (scn == nullptr || gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_entsize == 0) return out;
  Elf_Data* data = elf_getdata(scn, nullptr);
  if (data == nullptr) return out;
  const size_t count = shdr.sh_size / shdr.sh_entsize;
  for (size_t i = 0; i < count; ++i) {
    GElf_Dyn dyn;
    if (gelf_getdyn(data, static_cast<int>(i), &dyn) == nullptr || dyn.d_tag == DT_NULL) break;
    if (dyn.d_tag != tag) continue;
    if (const char* s = elf_strptr(elf, shdr.sh_link, dyn.d_un.d_val)) out.emplace_back(s);
  }
  return out;
}

}  // namespace

std::vector<std::string> ElfFile::needed() const { return dynamic_strings(elf_, DT_NEEDED); }

std::string ElfFile::soname() const {
  auto names = dynamic_strings(elf_, DT_SONAME);
  return names.empty() ? std::string() : names.front();
}

std::optional<ElfFile::Symbol> ElfFile::find_function(std::string_view name) const {
  if (elf_ == nullptr || name.empty()) return std::nullopt;
  for (uint32_t type : {SHT_DYNSYM, SHT_SYMTAB}) {
    Elf_Scn* scn = find_section(elf_, type);
    if (scn == nullptr) continue;
    if (auto symbol = search_table(elf_, scn, name)) return symbol;
  }
  if (mini_ != nullptr)
    if (Elf_Scn* scn = find_section(mini_, SHT_SYMTAB)) return search_table(mini_, scn, name);
  return std::nullopt;
}

std::optional<uint64_t> ElfFile::vaddr_to_file_offset(uint64_t vaddr) const {
  for (const Segment& segment : load_segments()) {
    if (vaddr >= segment.vaddr && vaddr - segment.vaddr < segment.filesz)
      return vaddr - segment.vaddr + segment.offset;
  }
  return std::nullopt;
}

std::vector<uint8_t> ElfFile::read_bytes(uint64_t offset, size_t n) const {
  std::vector<uint8_t> out(n);
  ssize_t got = fd_ >= 0 ? ::pread(fd_, out.data(), n, static_cast<off_t>(offset)) : -1;
  out.resize(got > 0 ? static_cast<size_t>(got) : 0);
  return out;
}

std::vector<ElfFile::Segment> ElfFile::load_segments() const { return elf_load_segments(elf_); }

std::vector<ElfFile::UsdtProbe> ElfFile::usdt_probes() const {
  std::vector<UsdtProbe> out;
  if (elf_ == nullptr) return out;
  GElf_Ehdr ehdr;
  if (gelf_getehdr(elf_, &ehdr) == nullptr || ehdr.e_ident[EI_CLASS] != ELFCLASS64) return out;
  for (Elf_Scn* scn = elf_nextscn(elf_, nullptr); scn != nullptr; scn = elf_nextscn(elf_, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != SHT_NOTE) continue;
    usdt_probes_in_notes(elf_getdata(scn, nullptr), out);
  }
  return out;
}

std::string elf_build_id(Elf* elf) {
  if (elf == nullptr) return {};
  // Program headers first: they survive stripping of section headers.
  for (const GElf_Phdr& phdr : program_headers(elf)) {
    if (phdr.p_type != PT_NOTE) continue;
    Elf_Type type = phdr.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR;
    std::string id = build_id_in_notes(
        elf_getdata_rawchunk(elf, static_cast<int64_t>(phdr.p_offset), phdr.p_filesz, type));
    if (!id.empty()) return id;
  }
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != SHT_NOTE) continue;
    std::string id = build_id_in_notes(elf_getdata(scn, nullptr));
    if (!id.empty()) return id;
  }
  return {};
}

std::vector<ElfFile::Segment> elf_load_segments(Elf* elf) {
  std::vector<ElfFile::Segment> out;
  if (elf == nullptr) return out;
  for (const GElf_Phdr& phdr : program_headers(elf)) {
    if (phdr.p_type != PT_LOAD) continue;
    out.push_back(ElfFile::Segment{phdr.p_vaddr, phdr.p_memsz, phdr.p_offset, phdr.p_filesz,
                                   (phdr.p_flags & PF_X) != 0});
  }
  return out;
}

}  // namespace leakscope
