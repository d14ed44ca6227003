#include "target/address_space.h"

#include <algorithm>

#include "target/proc_maps.h"

namespace leakscope {

bool Mapping::is_code() const {
  return entry.executable() && (entry.file_backed() || path == "[vdso]");
}

bool Mapping::is_anonymous() const {
  const bool shared = entry.perms.size() > 3 && entry.perms[3] == 's';
  return !entry.file_backed() && !shared && path != "[stack]" && path != "[vvar]" &&
         path != "[vdso]" && !path.starts_with("[stack:");
}

std::vector<MapEntry> AddressSpace::entries() const {
  std::vector<MapEntry> out;
  out.reserve(mappings_.size());
  for (const Mapping& m : mappings_) out.push_back(m.entry);
  return out;
}

const Mapping* AddressSpace::find(uint64_t address) const {
  auto it = std::upper_bound(mappings_.begin(), mappings_.end(), address,
                             [](uint64_t addr, const Mapping& m) { return addr < m.entry.start; });
  if (it == mappings_.begin()) return nullptr;
  --it;
  return it->entry.contains(address) ? &*it : nullptr;
}

bool AddressSpace::is_code(uint64_t address) const {
  const Mapping* m = find(address);
  return m != nullptr && m->is_code();
}

std::optional<bool> AddressSpace::is_anonymous(uint64_t address) const {
  const Mapping* m = find(address);
  if (m == nullptr) return std::nullopt;
  return m->is_anonymous();
}

std::string AddressSpace::module_path(uint64_t address) const {
  const Mapping* m = find(address);
  return m != nullptr && m->entry.file_backed() ? m->path : std::string();
}

uint64_t AddressSpace::uprobe_trampoline() const {
  for (const Mapping& m : mappings_)
    if (m.path == "[uprobes]") return m.entry.start;
  return 0;
}

void AddressSpace::update(std::string_view text) {
  alive_ = true;
  // The text of unchanged maps reads the same: no parse, no new generation.
  const size_t hash = std::hash<std::string_view>{}(text);
  if (generation_ != 0 && hash == text_hash_ && text.size() == text_size_) return;

  std::vector<Mapping> mappings;
  for (MapEntry& e : parse_maps(text)) {
    std::string path = without_deleted_suffix(e.path);
    mappings.push_back(Mapping{std::move(e), std::move(path)});
  }
  std::sort(mappings.begin(), mappings.end(),
            [](const Mapping& a, const Mapping& b) { return a.entry.start < b.entry.start; });
  CodeObjects code;
  for (const Mapping& m : mappings)
    if (m.entry.executable() && m.entry.file_backed())
      code.emplace_back(m.entry.path, m.entry.inode);

  if (generation_ == 0 || code != code_objects_) ++code_generation_;
  ++generation_;
  mappings_ = std::move(mappings);
  code_objects_ = std::move(code);
  text_hash_ = hash;
  text_size_ = text.size();
}

AddressSpaces::AddressSpaces() : AddressSpaces(read_maps_text) {}

AddressSpaces::AddressSpaces(MapsReader reader) : reader_(std::move(reader)) {}

void AddressSpaces::begin_tick() { ++tick_; }

const AddressSpace* AddressSpaces::observe(pid_t pid) {
  auto it = observed_.find(pid);
  if (it != observed_.end() && it->second.read_tick == tick_) return &it->second.space;
  return read(pid);
}

const AddressSpace* AddressSpaces::read(pid_t pid) {
  auto it = observed_.find(pid);
  try {
    const std::optional<std::string> text = reader_(pid);
    // A zombie's maps read as empty: the process is gone, keep its last view.
    if (!text || text->empty()) {
      if (it == observed_.end()) return nullptr;
      it->second.read_tick = tick_;
      it->second.space.alive_ = false;
      return &it->second.space;
    }
    if (it == observed_.end()) it = observed_.emplace(pid, Observed{}).first;
    it->second.read_tick = tick_;
    it->second.space.update(*text);
  } catch (...) {
    // Out of memory or similar: keep the last view (none for a new one).
    if (it == observed_.end()) it = observed_.find(pid);
    if (it == observed_.end()) return nullptr;
    if (it->second.space.generation() == 0) {
      observed_.erase(it);
      return nullptr;
    }
    return &it->second.space;
  }
  const AddressSpace& space = it->second.space;
  for (const auto& [id, hook] : hooks_) hook(pid, space);
  return &space;
}

const AddressSpace* AddressSpaces::find(pid_t pid) const {
  auto it = observed_.find(pid);
  return it == observed_.end() ? nullptr : &it->second.space;
}

const Mapping* AddressSpaces::mapping_at(pid_t pid, uint64_t address) {
  auto it = observed_.find(pid);
  if (it == observed_.end()) {
    // Just read: reading again on a miss would find the same.
    const AddressSpace* space = observe(pid);
    return space != nullptr ? space->find(address) : nullptr;
  }
  Observed& observed = it->second;
  if (const Mapping* m = observed.space.find(address)) return m;
  if (!observed.space.alive() || observed.reread_tick == tick_) return nullptr;
  observed.reread_tick = tick_;
  const AddressSpace* space = read(pid);
  return space != nullptr ? space->find(address) : nullptr;
}

void AddressSpaces::forget(pid_t pid) { observed_.erase(pid); }

size_t AddressSpaces::add_read_hook(ReadHook hook) {
  hooks_.emplace_back(next_hook_, std::move(hook));
  return next_hook_++;
}

void AddressSpaces::remove_read_hook(size_t id) {
  std::erase_if(hooks_, [id](const auto& hook) { return hook.first == id; });
}

}  // namespace leakscope
