#include "probes/unwind_maps.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <iterator>

#include "core/errors.h"
#include "leakscope_bpf.skel.h"

namespace leakscope {

UnwindMaps::UnwindMaps(const BpfObject& object) : object_(object) {
  const uint32_t words = bpf_map__max_entries(object_.skel().maps.unwind_words);
  mapped_bytes_ = size_t{words} * sizeof(uint64_t);
  void* at = mmap(nullptr, mapped_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED,
                  bpf_map__fd(object_.skel().maps.unwind_words), 0);
  if (at == MAP_FAILED)
    throw FatalError(ExitCode::KernelUnsupported,
                     std::string("cannot map the unwind tables' array: ") + std::strerror(errno));
  words_ = static_cast<uint64_t*>(at);
  // Word 0 stays unused: a table's handle is never LS_UNWIND_NO_TABLE.
  if (words > 1) free_[1] = words - 1;
}

UnwindMaps::~UnwindMaps() {
  if (words_) munmap(words_, mapped_bytes_);
}

std::optional<uint32_t> UnwindMaps::load_table(std::span<const uint64_t> words, std::string* error) {
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second < words.size()) continue;
    const uint32_t first = it->first;
    const uint32_t left = it->second - static_cast<uint32_t>(words.size());
    free_.erase(it);
    if (left) free_[first + static_cast<uint32_t>(words.size())] = left;
    // No walk reads these words before a process's space names them.
    std::memcpy(words_ + first, words.data(), words.size_bytes());
    used_[first] = static_cast<uint32_t>(words.size());
    return first;
  }
  if (error)
    *error = "no room for its " + std::to_string(words.size_bytes() >> 10) + " KiB in the unwind tables' " +
             std::to_string(mapped_bytes_ >> 20) + " MiB";
  return std::nullopt;
}

void UnwindMaps::drop_table(uint32_t table) {
  auto it = used_.find(table);
  if (it == used_.end()) return;
  uint32_t first = it->first, size = it->second;
  used_.erase(it);
  // Merged with the free runs on either side.
  auto next = free_.lower_bound(first);
  if (next != free_.end() && next->first == first + size) {
    size += next->second;
    next = free_.erase(next);
  }
  if (next != free_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == first) {
      prev->second += size;
      return;
    }
  }
  free_[first] = size;
}

bool UnwindMaps::set_space(pid_t pid, const ls_unwind_space& space) {
  const uint32_t tgid = static_cast<uint32_t>(pid);
  return bpf_map_update_elem(bpf_map__fd(object_.skel().maps.unwind_spaces), &tgid, &space, BPF_ANY) == 0;
}

void UnwindMaps::clear_space(pid_t pid) {
  const uint32_t tgid = static_cast<uint32_t>(pid);
  bpf_map_delete_elem(bpf_map__fd(object_.skel().maps.unwind_spaces), &tgid);
}

uint64_t UnwindMaps::table_bytes() const {
  uint64_t total = 0;
  for (const auto& [first, words] : used_) total += uint64_t{words} * sizeof(uint64_t);
  return total;
}

}  // namespace leakscope
