#include "tracer/unwind_tables.h"

#include <algorithm>

#include "core/log.h"

namespace leakscope {

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

UnwindTables::UnwindTables(Kernel& kernel, AddressSpaces& spaces, Compiler compile, Opener open)
    : kernel_(kernel), spaces_(spaces), compile_(std::move(compile)), open_(std::move(open)) {
  hook_ = spaces_.add_read_hook([this](pid_t pid, const AddressSpace& space) { update(pid, space); });
}

UnwindTables::~UnwindTables() { spaces_.remove_read_hook(hook_); }

UnwindTables::Module& UnwindTables::module_for(pid_t pid, const MapEntry& entry) {
  const std::string key = std::to_string(entry.dev_major) + ":" + std::to_string(entry.dev_minor) + ":" +
                          std::to_string(entry.inode);
  if (auto it = modules_.find(key); it != modules_.end()) return it->second;
  Module& module = modules_[key];
  const std::string path = open_(pid, entry);
  std::string error;
  if (auto elf = ElfFile::open(path, &error)) module.segments = elf->load_segments();
  std::optional<std::vector<uint64_t>> words;
  if (!module.segments.empty()) words = compile_(path, &error);
  if (!words) {
    log_verbose(entry.path + ": no unwind table, walked by frame pointer: " + error);
    return module;
  }
  auto table = kernel_.load_unwind_table(*words, &error);
  if (!table) {
    log_warn(entry.path + ": unwind table not loaded, walked by frame pointer: " + error);
    return module;
  }
  module.table = *table;
  module.bytes = words->size() * sizeof(uint64_t);
  log_verbose(entry.path + ": unwind table of " + std::to_string(module.bytes) + " bytes");
  return module;
}

void UnwindTables::update(pid_t pid, const AddressSpace& space) {
  auto [it, fresh] = spaces_used_.try_emplace(pid);
  Space& used = it->second;
  if (!fresh && used.code_generation == space.code_generation()) return;
  used.code_generation = space.code_generation();

  ls_unwind_space kernel_space{};
  std::set<std::string> modules;
  size_t skipped = 0;
  for (const Mapping& m : space.mappings()) {
    const MapEntry& e = m.entry;
    if (!e.executable()) continue;
    if (kernel_space.count >= LS_MAX_UNWIND_MAPPINGS) {
      ++skipped;
      continue;
    }
    ls_unwind_mapping out{e.start, e.end, 0, LS_UNWIND_NO_TABLE, 0};
    if (e.path == "[uprobes]") {
      out.table = LS_UNWIND_TRAMPOLINE;
    } else if (e.file_backed()) {
      Module& module = module_for(pid, e);
      const std::string key = std::to_string(e.dev_major) + ":" + std::to_string(e.dev_minor) + ":" +
                              std::to_string(e.inode);
      module.users.insert(pid);
      modules.insert(key);
      if (auto bias = mapping_bias(e, module.segments); bias && module.table != LS_UNWIND_NO_TABLE) {
        out.bias = *bias;
        out.table = module.table;
      }
    }
    kernel_space.mappings[kernel_space.count++] = out;
  }
  if (skipped)
    log_verbose("PID " + std::to_string(pid) + ": " + std::to_string(skipped) +
                " executable mappings past the unwinder's " + std::to_string(LS_MAX_UNWIND_MAPPINGS) +
                ": return addresses there end its stacks");
  if (!kernel_.set_unwind_space(pid, kernel_space))
    log_verbose("PID " + std::to_string(pid) + ": no unwind space (map full): walked by frame pointer");
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
  s.processes = spaces_used_.size();
  for (const auto& [key, module] : modules_) {
    if (module.table == LS_UNWIND_NO_TABLE) {
      ++s.failed_modules;
    } else {
      ++s.modules;
      s.table_bytes += module.bytes;
    }
  }
  return s;
}

}  // namespace leakscope
