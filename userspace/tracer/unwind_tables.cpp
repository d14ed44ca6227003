#include "tracer/unwind_tables.h"

#include <fcntl.h>

#include <algorithm>

#include "core/log.h"

namespace leakscope {

namespace {

// What a process's unwind space is made from: every executable mapping
// where it lies and what it maps (anonymous JIT code that comes later, a
// library loaded again elsewhere, the [uprobes] page), hashed.
uint64_t executable_signature(const AddressSpace& space) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](uint64_t v) { h = (h ^ v) * 1099511628211ull; };
  for (const Mapping& m : space.mappings()) {
    const MapEntry& e = m.entry;
    if (!e.executable()) continue;
    for (uint64_t v : {e.start, e.end, e.offset, uint64_t{e.dev_major} << 32 | e.dev_minor, e.inode}) mix(v);
  }
  return h;
}

std::string module_key(const MapEntry& e) {
  return std::to_string(e.dev_major) + ":" + std::to_string(e.dev_minor) + ":" + std::to_string(e.inode);
}

}  // namespace

std::optional<uint64_t> mapping_bias(const MapEntry& entry, const std::vector<ElfFile::Segment>& segments) {
  // The loader maps a segment from its offset rounded down to a page: the
  // mapping's offset lies in that page or in the segment's bytes. Executable
  // segments first: they are the ones a code mapping holds.
  for (bool executable : {true, false}) {
    for (const ElfFile::Segment& s : segments) {
      if (s.executable != executable) continue;
      const uint64_t first = s.offset & ~uint64_t{0xfff};
      if (entry.offset < first || entry.offset >= s.offset + std::max(s.filesz, uint64_t{1})) continue;
      // The ELF virtual address of the mapping's start (unsigned
      // arithmetic: the offset may lie before the segment's, in its page).
      const uint64_t vaddr = s.vaddr + (entry.offset - s.offset);
      return entry.start - vaddr;
    }
  }
  return std::nullopt;
}

UnwindTables::UnwindTables(Kernel& kernel, AddressSpaces& spaces, Compiler compile, Opener open, Mode mode)
    : kernel_(kernel), spaces_(spaces), compile_(std::move(compile)), open_(std::move(open)), mode_(mode) {
  hook_ = spaces_.add_read_hook([this](pid_t pid, const AddressSpace& space) { update(pid, space); });
  if (mode_ == Mode::Background) worker_ = std::thread([this] { work(); });
}

UnwindTables::~UnwindTables() {
  spaces_.remove_read_hook(hook_);
  if (worker_.joinable()) {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      jobs_.clear();
    }
    wake_.notify_all();
    worker_.join();  // at most the module being compiled
  }
}

void UnwindTables::work() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (stopping_) return;
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    busy_ = true;
    lock.unlock();
    Compiled out{job.key, job.serial, std::nullopt, {}};
    try {
      out.words = compile_("/proc/self/fd/" + std::to_string(job.file.get()), &out.error);
    } catch (const std::exception& e) {
      out.error = e.what();  // a table is never worth the tracer
    }
    job.file.reset();
    lock.lock();
    done_.push_back(std::move(out));
    busy_ = false;
    if (jobs_.empty()) idle_.notify_all();
  }
}

void UnwindTables::load(Module& module, const std::vector<uint64_t>& words) {
  std::string error;
  auto table = kernel_.load_unwind_table(words, &error);
  if (!table) {
    // Said once (a host under --all may map many modules); -v names each.
    const std::string what = module.path + ": unwind table not loaded, walked by frame pointer: " + error;
    if (!warned_full_) log_warn(what + " (further modules: -v)");
    else log_verbose(what);
    warned_full_ = true;
    return;
  }
  module.table = *table;
  module.bytes = words.size() * sizeof(uint64_t);
  log_verbose(module.path + ": unwind table of " + std::to_string(module.bytes) + " bytes");
}

UnwindTables::Module& UnwindTables::module_for(pid_t pid, const MapEntry& entry) {
  const std::string key = module_key(entry);
  if (auto it = modules_.find(key); it != modules_.end()) return it->second;
  Module& module = modules_[key];
  module.path = entry.path;
  const std::string path = open_(pid, entry);
  std::string error;
  if (auto elf = ElfFile::open(path, &error)) module.segments = elf->load_segments();
  if (module.segments.empty()) {
    log_verbose(entry.path + ": no unwind table, walked by frame pointer: " + error);
    return module;
  }
  if (mode_ == Mode::Background) {
    UniqueFd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (file.get() < 0) {
      log_verbose(entry.path + ": no unwind table, walked by frame pointer: cannot open it");
      return module;
    }
    module.pending = true;
    module.serial = next_serial_++;
    {
      std::lock_guard lock(mutex_);
      jobs_.push_back(Job{key, module.serial, std::move(file)});
    }
    wake_.notify_one();
    return module;
  }
  std::optional<std::vector<uint64_t>> words = compile_(path, &error);
  if (!words) {
    log_verbose(entry.path + ": no unwind table, walked by frame pointer: " + error);
    return module;
  }
  load(module, *words);
  return module;
}

size_t UnwindTables::collect() {
  std::vector<Compiled> ready;
  {
    std::lock_guard lock(mutex_);
    ready.swap(done_);
  }
  size_t loaded = 0;
  std::set<pid_t> renew;
  for (Compiled& c : ready) {
    auto it = modules_.find(c.key);
    if (it == modules_.end()) continue;  // its last user went meanwhile
    Module& module = it->second;
    // The job of a module that went and came back (the same key, maybe
    // another file now): only the newest job is its.
    if (!module.pending || module.serial != c.serial) continue;
    module.pending = false;
    // Its users' spaces are made again, table or not: a space held back
    // for this module may now be complete.
    renew.insert(module.users.begin(), module.users.end());
    if (!c.words) {
      log_verbose(module.path + ": no unwind table, walked by frame pointer: " + c.error);
      continue;
    }
    load(module, *c.words);
    if (module.table != LS_UNWIND_NO_TABLE) ++loaded;
  }
  for (pid_t pid : renew)
    if (auto it = spaces_used_.find(pid); it != spaces_used_.end()) install(pid, it->second);
  return loaded;
}

bool UnwindTables::wait_idle(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return idle_.wait_until(lock, deadline, [this] { return stopping_ || (jobs_.empty() && !busy_); });
}

void UnwindTables::update(pid_t pid, const AddressSpace& space) {
  auto [it, fresh] = spaces_used_.try_emplace(pid);
  Space& used = it->second;
  const uint64_t signature = executable_signature(space);
  if (!fresh && used.signature == signature) return;
  used.signature = signature;
  used.executable.clear();
  for (const Mapping& m : space.mappings())
    if (m.entry.executable()) used.executable.push_back(m.entry);
  install(pid, used);
}

void UnwindTables::install(pid_t pid, Space& used) {
  // Past the unwinder's limit, the mappings with a table (where walks
  // start: libc, the program) and the trampoline are kept before code
  // without one.
  std::vector<ls_unwind_mapping> mappings;
  std::set<std::string> modules;
  for (const MapEntry& e : used.executable) {
    ls_unwind_mapping out{e.start, e.end, 0, LS_UNWIND_NO_TABLE, 0};
    if (e.path == "[uprobes]") {
      out.table = LS_UNWIND_TRAMPOLINE;
    } else if (e.file_backed()) {
      Module& module = module_for(pid, e);
      module.users.insert(pid);
      modules.insert(module_key(e));
      if (auto bias = mapping_bias(e, module.segments); bias && module.table != LS_UNWIND_NO_TABLE) {
        out.bias = *bias;
        out.table = module.table;
      }
    }
    mappings.push_back(out);
  }
  if (mappings.size() > LS_MAX_UNWIND_MAPPINGS) {
    std::stable_partition(mappings.begin(), mappings.end(),
                          [](const ls_unwind_mapping& m) { return m.table != LS_UNWIND_NO_TABLE; });
    log_verbose("PID " + std::to_string(pid) + ": " + std::to_string(mappings.size() - LS_MAX_UNWIND_MAPPINGS) +
                " executable mappings past the unwinder's " + std::to_string(LS_MAX_UNWIND_MAPPINGS) +
                " (those without a table): return addresses there end its stacks");
    mappings.resize(LS_MAX_UNWIND_MAPPINGS);
    std::sort(mappings.begin(), mappings.end(),
              [](const ls_unwind_mapping& a, const ls_unwind_mapping& b) { return a.start < b.start; });
  }
  // A space with a module still compiling is held back whole: until all
  // its tables are in, the process keeps the space it had (its new code
  // ends stacks) or, when it had none, the kernel's frame-pointer walk,
  // whose stacks are marked as such and folded into the complete ones
  // (StackStore::fold_frame_pointer_rows). A space with the pending module
  // walked by frame pointer inside it would make stacks of garbage that
  // nothing folds. Until then it holds every module either space uses.
  if (std::any_of(modules.begin(), modules.end(), [this](const std::string& key) { return modules_.at(key).pending; })) {
    used.modules.insert(modules.begin(), modules.end());
    used.held_back = true;
    // The space kept must still describe what is mapped: after a dlclose,
    // a library mapped where another was (or an exec) would be walked by
    // the other's table, into stacks nothing marks. Then no space at all.
    const auto same = [](const MapEntry& a, const MapEntry& b) {
      return a.start == b.start && a.end == b.end && a.offset == b.offset && a.dev_major == b.dev_major &&
             a.dev_minor == b.dev_minor && a.inode == b.inode;
    };
    const bool still_mapped = std::all_of(used.installed.begin(), used.installed.end(), [&](const MapEntry& m) {
      return std::any_of(used.executable.begin(), used.executable.end(),
                         [&](const MapEntry& e) { return same(m, e); });
    });
    if (!still_mapped) {
      kernel_.clear_unwind_space(pid);
      used.installed.clear();
    }
    return;
  }
  used.held_back = false;
  ls_unwind_space kernel_space{};
  for (const ls_unwind_mapping& m : mappings) kernel_space.mappings[kernel_space.count++] = m;
  if (kernel_.set_unwind_space(pid, kernel_space)) {
    used.installed = used.executable;
  } else {
    used.installed.clear();
    log_verbose("PID " + std::to_string(pid) + ": no unwind space (map full): walked by frame pointer");
  }
  // Modules it no longer maps (a dlclose, an exec) go after the new space
  // is in place, so no walk sees a table vanish under a mapping.
  for (const std::string& key : used.modules)
    if (!modules.contains(key)) release(pid, key);
  used.modules = std::move(modules);
}

void UnwindTables::release(pid_t pid, const std::string& key) {
  auto it = modules_.find(key);
  if (it == modules_.end()) return;
  it->second.users.erase(pid);
  if (!it->second.users.empty()) return;
  if (it->second.table != LS_UNWIND_NO_TABLE) kernel_.drop_unwind_table(it->second.table);
  modules_.erase(it);
}

void UnwindTables::forget(pid_t pid) {
  auto it = spaces_used_.find(pid);
  if (it == spaces_used_.end()) return;
  kernel_.clear_unwind_space(pid);
  for (const std::string& key : it->second.modules) release(pid, key);
  spaces_used_.erase(it);
}

UnwindTables::Stats UnwindTables::stats() const {
  Stats s;
  for (const auto& [pid, used] : spaces_used_) {
    if (used.held_back) ++s.held_back_processes;
    else ++s.processes;
  }
  for (const auto& [key, module] : modules_) {
    if (module.pending) {
      ++s.pending_modules;
    } else if (module.table == LS_UNWIND_NO_TABLE) {
      ++s.failed_modules;
    } else {
      ++s.modules;
      s.table_bytes += module.bytes;
    }
  }
  return s;
}

}  // namespace leakscope
