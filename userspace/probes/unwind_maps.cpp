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

WordRuns::WordRuns(uint32_t first, uint32_t words) {
  if (words) free_[first] = words;
}

std::optional<uint32_t> WordRuns::take(uint32_t words) {
  if (!words) return std::nullopt;
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second < words) continue;
    const uint32_t first = it->first, left = it->second - words;
    free_.erase(it);
    if (left) free_[first + words] = left;
    taken_[first] = words;
    return first;
  }
  return std::nullopt;
}

void WordRuns::give_back(uint32_t first) {
  auto it = taken_.find(first);
  if (it == taken_.end()) return;
  uint32_t size = it->second;
  taken_.erase(it);
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

uint64_t WordRuns::words_taken() const {
  uint64_t total = 0;
  for (const auto& [first, words] : taken_) total += words;
  return total;
}

namespace {

uint32_t array_words(const BpfObject& object) { return bpf_map__max_entries(object.skel().maps.unwind_words); }

}  // namespace

// Word 0 stays unused: a table's handle is never LS_UNWIND_NO_TABLE.
UnwindMaps::UnwindMaps(const BpfObject& object)
    : object_(object), runs_(1, array_words(object) > 0 ? array_words(object) - 1 : 0) {
  mapped_bytes_ = size_t{array_words(object_)} * sizeof(uint64_t);
  void* at = mmap(nullptr, mapped_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED,
                  bpf_map__fd(object_.skel().maps.unwind_words), 0);
  if (at == MAP_FAILED)
    throw FatalError(ExitCode::KernelUnsupported,
                     std::string("cannot map the unwind tables' array: ") + std::strerror(errno));
  words_ = static_cast<uint64_t*>(at);
}

UnwindMaps::~UnwindMaps() {
  if (words_) munmap(words_, mapped_bytes_);
}

std::optional<uint32_t> UnwindMaps::load_table(std::span<const uint64_t> words, std::string* error) {
  const auto now = std::chrono::steady_clock::now();
  std::erase_if(retired_, [&](const auto& r) {
    if (now - r.second < std::chrono::seconds(2)) return false;
    runs_.give_back(r.first);
    return true;
  });
  std::optional<uint32_t> first;
  if (words.size() <= UINT32_MAX) first = runs_.take(static_cast<uint32_t>(words.size()));
  if (!first) {
    if (error)
      *error = "no room for its " + std::to_string(words.size_bytes() >> 10) + " KiB in the unwind tables' " +
               std::to_string(mapped_bytes_ >> 20) + " MiB";
    return std::nullopt;
  }
  // No walk reads these words before a process's space names them.
  std::memcpy(words_ + *first, words.data(), words.size_bytes());
  return first;
}

void UnwindMaps::drop_table(uint32_t table) { retired_.emplace_back(table, std::chrono::steady_clock::now()); }

bool UnwindMaps::set_space(pid_t pid, const ls_unwind_space& space) {
  const uint32_t tgid = static_cast<uint32_t>(pid);
  return bpf_map_update_elem(bpf_map__fd(object_.skel().maps.unwind_spaces), &tgid, &space, BPF_ANY) == 0;
}

void UnwindMaps::clear_space(pid_t pid) {
  const uint32_t tgid = static_cast<uint32_t>(pid);
  bpf_map_delete_elem(bpf_map__fd(object_.skel().maps.unwind_spaces), &tgid);
}

}  // namespace leakscope
