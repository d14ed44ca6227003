#include "symbols/symbolizer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <string_view>
#include <utility>

#include "target/proc_maps.h"
#include "target/root_path.h"

#include "core/input_limits.h"
#include "core/unique_fd.h"

namespace leakscope {

namespace {

// What is read of one perf map, and at a time. With PerfMap's compact table
// (symbols of ~60-byte lines cost about their line), the cap bounds what a
// perf map may cost to a little over itself.
constexpr uint64_t kMaxPerfMapBytes = uint64_t{16} << 20;
constexpr uint64_t kPerfMapChunk = uint64_t{1} << 20;

// Reads `length` bytes at `offset`, or until end of file when `length` is 0.
std::optional<std::string> read_fd(int fd, uint64_t offset, uint64_t length) {
  std::string out;
  char buf[65536];
  while (length == 0 || out.size() < length) {
    size_t want = sizeof buf;
    if (length != 0) want = std::min<uint64_t>(want, length - out.size());
    const ssize_t n = ::pread(fd, buf, want, static_cast<off_t>(offset + out.size()));
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::optional<std::string> read_text(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return std::nullopt;
  return read_fd(fd.get(), 0, 0);
}

std::string proc_path(pid_t pid, std::string_view rest) {
  return "/proc/" + std::to_string(pid) + std::string(rest);
}

std::string file_identity(const MapEntry& e, const std::string& path) {
  return std::to_string(e.dev_major) + ":" + std::to_string(e.dev_minor) + ":" +
         std::to_string(e.inode) + ":" + path;
}

// The pid of `pid` inside its own pid namespace (last NSpid field): the name
// a containerized JIT gives its perf map.
pid_t namespace_pid(pid_t pid) {
  const auto status = read_text(proc_path(pid, "/status"));
  if (!status) return pid;
  const size_t at = status->find("\nNSpid:");
  if (at == std::string::npos) return pid;
  const size_t eol = status->find('\n', at + 1);
  std::string_view line = std::string_view(*status).substr(at + 7, eol - (at + 7));
  const size_t last = line.find_last_of(" \t");
  if (last != std::string_view::npos) line.remove_prefix(last + 1);
  pid_t ns = 0;
  auto [ptr, ec] = std::from_chars(line.data(), line.data() + line.size(), ns);
  return ec == std::errc() && ns > 0 ? ns : pid;
}

Frame unknown_frame(uint64_t address) {
  Frame f;
  f.address = address;
  f.module = "[unknown]";
  f.module_offset = address;
  return f;
}

}  // namespace

Symbolizer::Symbolizer(AddressSpaces& spaces, size_t max_modules, Naming naming)
    : spaces_(spaces),
      max_modules_(max_modules),
      namer_(naming == Naming::Background ? std::make_unique<FrameNamer>() : nullptr) {
  read_hook_ =
      spaces_.add_read_hook([this](pid_t pid, const AddressSpace& space) { on_read(pid, space); });
}

Symbolizer::~Symbolizer() { spaces_.remove_read_hook(read_hook_); }

void Symbolizer::on_read(pid_t pid, const AddressSpace& space) {
  try {
    Process& process = processes_[pid];
    if (process.generation != space.generation()) update_modules(pid, process, space);
    refresh_perf_map(pid, process);
    evict();
  } catch (...) {
    // Out of memory or similar: caught up with on the next read or lookup.
  }
}

Symbolizer::Process* Symbolizer::process_for(pid_t pid) {
  const AddressSpace* space = spaces_.find(pid);
  if (space == nullptr) space = spaces_.observe(pid);  // on_read runs if it reads
  if (space == nullptr) return nullptr;
  // A space read before this Symbolizer existed, or after forget(pid).
  auto [it, added] = processes_.try_emplace(pid);
  Process& process = it->second;
  if (added && space->alive()) refresh_perf_map(pid, process);
  if (process.generation != space->generation()) {
    update_modules(pid, process, *space);
    evict();
  }
  return &process;
}

void Symbolizer::forget(pid_t pid) {
  auto it = processes_.find(pid);
  if (it == processes_.end()) return;
  for (const std::string& key : it->second.keys) {
    if (auto slot = slots_.find(key); slot != slots_.end() && slot->second.users > 0)
      --slot->second.users;
  }
  processes_.erase(it);
  evict();
}

void Symbolizer::update_modules(pid_t pid, Process& process, const AddressSpace& space) {
  // Open each object that has executable code once, through one of its
  // executable mappings.
  std::unordered_map<std::string, std::string> keys_by_file;
  for (const Mapping& m : space.mappings()) {
    if (!m.entry.executable() || !m.entry.file_backed()) continue;
    const std::string identity = file_identity(m.entry, m.path);
    if (!keys_by_file.contains(identity))
      keys_by_file.emplace(identity, module_key_for(pid, m.entry, m.path));
  }

  std::unordered_map<uint64_t, std::string> module_keys;
  std::unordered_set<std::string> keys;
  for (const Mapping& m : space.mappings()) {
    if (!m.entry.file_backed()) continue;
    if (auto k = keys_by_file.find(file_identity(m.entry, m.path)); k != keys_by_file.end()) {
      module_keys.emplace(m.entry.start, k->second);
      keys.insert(k->second);
    }
  }

  for (const std::string& key : keys) {
    if (!process.keys.contains(key)) ++slots_[key].users;
  }
  for (const std::string& key : process.keys) {
    if (keys.contains(key)) continue;
    if (auto slot = slots_.find(key); slot != slots_.end() && slot->second.users > 0)
      --slot->second.users;
  }
  process.module_keys = std::move(module_keys);
  process.keys = std::move(keys);
  process.generation = space.generation();
}

std::string Symbolizer::module_key_for(pid_t pid, const MapEntry& entry, const std::string& path) {
  const std::string identity = file_identity(entry, path);
  if (auto known = file_keys_.find(identity); known != file_keys_.end()) {
    if (auto slot = slots_.find(known->second); slot != slots_.end()) {
      slot->second.last_used = ++clock_;
      return known->second;
    }
  }
  std::optional<Module> module = Module::open(openable_path(pid, entry));
  const std::string key =
      module && !module->build_id().empty() ? "build-id:" + module->build_id() : "file:" + identity;
  Slot& slot = slots_[key];  // the same build id may already be open from another file
  if (!slot.module && module) slot.module = std::make_shared<Module>(std::move(*module));
  slot.file_keys.push_back(identity);
  slot.last_used = ++clock_;
  file_keys_[identity] = key;
  return key;
}

void Symbolizer::shed() {
  const size_t keep = max_modules_;
  max_modules_ = 0;
  evict();
  max_modules_ = keep;
}

void Symbolizer::evict() {
  while (slots_.size() > max_modules_) {
    auto victim = slots_.end();
    for (auto it = slots_.begin(); it != slots_.end(); ++it) {
      if (it->second.users > 0) continue;
      if (victim == slots_.end() || it->second.last_used < victim->second.last_used) victim = it;
    }
    if (victim == slots_.end()) return;  // everything left is still mapped
    for (const std::string& identity : victim->second.file_keys) {
      if (auto f = file_keys_.find(identity); f != file_keys_.end() && f->second == victim->first)
        file_keys_.erase(f);
    }
    slots_.erase(victim);
  }
}

void Symbolizer::refresh_perf_map(pid_t pid, Process& process) {
  if (!process.ns_pid) process.ns_pid = namespace_pid(pid);
  const std::string root = proc_path(pid, "/root");
  const std::string inside = "/tmp/perf-" + std::to_string(*process.ns_pid) + ".map";
  // Resolved inside the process's root (a /tmp that is a symlink, or "..",
  // cannot lead to a file of the host); the last component no symlink and
  // no FIFO to block on; owner check: /tmp is world-writable, read only what
  // the process (or root) wrote.
  UniqueFd fd = open_in_root(root, inside, O_NONBLOCK | O_NOFOLLOW);
  if (fd.get() < 0) return;
  struct stat st {};
  struct stat proc_st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return;
  if (::stat(proc_path(pid, "").c_str(), &proc_st) != 0) return;
  if (st.st_uid != 0 && st.st_uid != proc_st.st_uid) return;

  PerfMapFile& perf = process.perf;
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  const int64_t mtime_ns =
      static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  if (perf.seen && perf.inode == st.st_ino && perf.size == size && perf.mtime_ns == mtime_ns)
    return;
  // Perf maps only grow by appending; anything else is a rewrite.
  const bool rewritten = !perf.seen || perf.inode != st.st_ino || size < perf.parsed_bytes ||
                         (size == perf.size && mtime_ns != perf.mtime_ns);
  if (rewritten) {
    perf.map.clear();
    perf.parsed_bytes = 0;
    perf.in_long_line = false;
  }
  perf.seen = true;
  perf.inode = st.st_ino;
  perf.size = size;
  perf.mtime_ns = mtime_ns;

  const std::string name = root + inside;
  if (size > kMaxPerfMapBytes)
    note_input_limit(name,
                     "larger than the perf map read cap of " +
                         std::to_string(kMaxPerfMapBytes >> 20) + " MiB",
                     "read in part");
  const uint64_t limit = std::min(size, kMaxPerfMapBytes);
  // A chunk at a time, each up to its last complete line; a line longer than
  // a chunk is skipped.
  while (perf.parsed_bytes < limit) {
    const auto chunk = read_fd(fd.get(), perf.parsed_bytes,
                               std::min(kPerfMapChunk, limit - perf.parsed_bytes));
    if (!chunk || chunk->empty()) break;
    std::string_view text(*chunk);
    const size_t complete = text.rfind('\n');
    if (complete == std::string_view::npos) {
      if (chunk->size() < kPerfMapChunk) break;  // the line is still being written
      perf.parsed_bytes += chunk->size();
      perf.in_long_line = true;
      continue;
    }
    text = text.substr(0, complete + 1);
    perf.parsed_bytes += text.size();
    if (perf.in_long_line) {
      text.remove_prefix(text.find('\n') + 1);
      perf.in_long_line = false;
    }
    perf.map.add_text(text);
  }
  if (perf.map.full())
    note_input_limit(name,
                     "more symbols than the perf map cap of " +
                         std::to_string(perf.map.max_symbols()),
                     "read in part");
}

const std::shared_ptr<Module>* Symbolizer::module_at(const Process& process, const Mapping& mapping) {
  auto key = process.module_keys.find(mapping.entry.start);
  if (key == process.module_keys.end()) return nullptr;
  auto slot = slots_.find(key->second);
  if (slot == slots_.end() || !slot->second.module) return nullptr;
  slot->second.last_used = ++clock_;
  return &slot->second.module;
}

Frame Symbolizer::resolve_in(const AddressSpace& space, Process& process, uint64_t address,
                             bool* missed, std::optional<NameTicket>* later) {
  Frame f;
  f.address = address;
  // A return address points after the call: the call itself is one byte back.
  const uint64_t pc = address > 0 ? address - 1 : 0;
  const Mapping* m = space.find(pc);

  if (m != nullptr && m->entry.file_backed()) {
    f.module = m->path;
    f.module_offset = address - m->entry.start + m->entry.offset;
    const std::shared_ptr<Module>* module = module_at(process, *m);
    if (module == nullptr) return f;
    f.build_id = (*module)->build_id();
    if (auto vaddr = (*module)->file_offset_to_vaddr(pc - m->entry.start + m->entry.offset)) {
      std::optional<ModuleSymbol> sym;
      if (namer_ && later) {
        sym = (*module)->lookup_ready(*vaddr);
        // Not ready: a worker names it and the caller asks again (a full
        // queue is asked again then, never waited for here).
        if (!sym) {
          namer_->submit(*module, *vaddr);
          *later = NameTicket{*module, *vaddr};
          return f;
        }
      }
      if (!sym) sym = (*module)->lookup(*vaddr);
      f.function = std::move(sym->function);
      f.file = std::move(sym->file);
      f.line = sym->line;
    }
    return f;
  }

  // Anonymous memory (or none): JIT code named by the perf map.
  if (const std::optional<PerfMapSymbol> sym = process.perf.map.lookup(pc)) {
    f.function = std::string(sym->name);
    f.module = "[jit]";
    f.module_offset = address - sym->start;
    return f;
  }
  if (m != nullptr && !m->path.empty()) {
    f.module = m->path;  // "[heap]", "[stack]", "[vdso]", "[anon:...]"
    f.module_offset = address - m->entry.start;
    return f;
  }
  if (m == nullptr) *missed = true;
  f.module = "[unknown]";
  f.module_offset = address;
  return f;
}

bool Symbolizer::is_code(pid_t pid, uint64_t address) const {
  const AddressSpace* space = spaces_.find(pid);
  if (space == nullptr || address == 0) return false;
  const uint64_t pc = address - 1;
  const Mapping* m = space->find(pc);
  if (m != nullptr && (m->is_code() || m->entry.file_backed())) return m->is_code();
  // Anonymous memory or none: code where the perf map names JIT code, as
  // resolve_in reads it. V8 keeps its code in anonymous mappings, so a walk
  // through JIT frames is not taken for garbage.
  auto it = processes_.find(pid);
  return it != processes_.end() && it->second.perf.map.lookup(pc).has_value();
}

Frame Symbolizer::resolve(pid_t pid, uint64_t address, std::optional<NameTicket>* later) {
  Frame f = unknown_frame(address);
  if (later) later->reset();
  try {
    if (Process* process = process_for(pid)) {
      const AddressSpace& space = *spaces_.find(pid);
      bool missed = false;
      f = resolve_in(space, *process, address, &missed, later);
      if (missed) {
        // Maybe mapped since the last read (dlopen, new JIT code):
        // mapping_at reads the maps again, at most once a tick, and on_read
        // catches up with them (and the perf map); then look again.
        spaces_.mapping_at(pid, address > 0 ? address - 1 : 0);
        f = resolve_in(space, *process, address, &missed, later);
      } else if (f.function.empty() && space.alive()) {
        // Executable anonymous memory the perf map does not name yet: JIT
        // code compiled since the perf map was last read. Its line may be
        // there now (an unchanged file costs an open and two stats).
        const Mapping* m = space.find(address > 0 ? address - 1 : 0);
        if (m != nullptr && !m->entry.file_backed() && m->entry.executable()) {
          refresh_perf_map(pid, *process);
          f = resolve_in(space, *process, address, &missed, later);
        }
      }
    }
  } catch (...) {
    f = unknown_frame(address);
    if (later) later->reset();
  }
  if (!later || !*later) count(f);
  return f;
}

void Symbolizer::count(const Frame& frame) {
  if (frame.function.empty())
    ++frames_unknown_;
  else
    ++frames_resolved_;
}

bool Symbolizer::name_later(Frame& frame, const NameTicket& ticket) {
  std::shared_ptr<Module> module = ticket.module.lock();
  if (!module) {
    count(frame);  // unnamed for good
    return true;
  }
  std::optional<ModuleSymbol> sym = module->lookup_ready(ticket.vaddr);
  if (!sym) {
    // Its lookup may have been memoized and then dropped (the memo is
    // bounded), or refused by a full queue: ask again.
    if (namer_) namer_->submit(std::move(module), ticket.vaddr);
    return false;
  }
  frame.function = std::move(sym->function);
  frame.file = std::move(sym->file);
  frame.line = sym->line;
  count(frame);
  return true;
}

bool Symbolizer::wait_named(std::chrono::steady_clock::time_point deadline) const {
  return !namer_ || namer_->wait_idle(deadline);
}

std::vector<Frame> Symbolizer::resolve_stack(pid_t pid, std::span<const uint64_t> addresses) {
  std::vector<Frame> frames;
  frames.reserve(addresses.size());
  for (uint64_t address : addresses) frames.push_back(resolve(pid, address));
  return frames;
}

std::vector<uint64_t> Symbolizer::unwind(pid_t pid, StackSnapshot snapshot, size_t max_frames) {
  try {
    Process* process = process_for(pid);
    if (process == nullptr) return {snapshot.regs[kDwarfRip]};
    const AddressSpace& space = *spaces_.find(pid);
    if (uint64_t trampoline = space.uprobe_trampoline()) snapshot.trampoline = trampoline;
    CfiLookup lookup = [&](uint64_t pc) -> std::optional<CfiRow> {
      const Mapping* m = space.find(pc);
      if (m == nullptr || !m->entry.file_backed()) return std::nullopt;
      const std::shared_ptr<Module>* module = module_at(*process, *m);
      if (module == nullptr) return std::nullopt;
      auto vaddr = (*module)->file_offset_to_vaddr(pc - m->entry.start + m->entry.offset);
      if (!vaddr) return std::nullopt;
      return (*module)->cfi_row(*vaddr);
    };
    return unwind_stack(snapshot, lookup, max_frames);
  } catch (...) {
    return {snapshot.regs[kDwarfRip]};
  }
}

SymbolizerStats Symbolizer::stats() const {
  SymbolizerStats s;
  for (const auto& [key, slot] : slots_)
    if (slot.module) ++s.modules_cached;
  s.processes = processes_.size();
  s.frames_resolved = frames_resolved_;
  s.frames_unknown = frames_unknown_;
  s.names_pending = namer_ ? namer_->pending() : 0;
  return s;
}

}  // namespace leakscope
