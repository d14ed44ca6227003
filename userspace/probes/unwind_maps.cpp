#include "probes/unwind_maps.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "core/unique_fd.h"
#include "leakscope_bpf.skel.h"

namespace leakscope {
namespace {

uint64_t memlock_bytes(int fd) {
  std::ifstream in("/proc/self/fdinfo/" + std::to_string(fd));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("memlock:", 0) == 0) return std::stoull(line.substr(8));
  return 0;
}

void set_error(std::string* error, const std::string& what) {
  if (error) *error = what + ": " + std::strerror(errno);
}

}  // namespace

UnwindMaps::UnwindMaps(const BpfObject& object) : object_(object) {}

bool UnwindMaps::load_table(uint32_t module, std::span<const uint64_t> words, std::string* error) {
  if (module == LS_UNWIND_NO_TABLE || module >= LS_MAX_UNWIND_MODULES || words.empty() ||
      words.size() > UINT32_MAX) {
    if (error) *error = "unwind table " + std::to_string(module) + ": out of range";
    return false;
  }
  // The same flags as the inner map unwind_tables was declared with: the
  // kernel accepts an inner map only when they match.
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_INNER_MAP | BPF_F_MMAPABLE);
  UniqueFd fd(bpf_map_create(BPF_MAP_TYPE_ARRAY, "ls_unwind_tab", sizeof(uint32_t), sizeof(uint64_t),
                             static_cast<uint32_t>(words.size()), &opts));
  if (fd.get() < 0) {
    set_error(error, "cannot create an unwind table of " + std::to_string(words.size()) + " words");
    return false;
  }
  const size_t bytes = words.size() * sizeof(uint64_t);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t mapped = (bytes + page - 1) / page * page;
  void* at = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (at == MAP_FAILED) {
    set_error(error, "cannot map an unwind table");
    return false;
  }
  std::memcpy(at, words.data(), bytes);
  munmap(at, mapped);
  const int inner = fd.get();
  if (bpf_map_update_elem(bpf_map__fd(object_.skel().maps.unwind_tables), &module, &inner, BPF_ANY)) {
    set_error(error, "cannot publish unwind table " + std::to_string(module));
    return false;
  }
  table_bytes_[module] = memlock_bytes(fd.get());
  return true;  // the outer map holds the array now; our descriptor goes
}

void UnwindMaps::drop_table(uint32_t module) {
  if (!table_bytes_.erase(module)) return;
  bpf_map_delete_elem(bpf_map__fd(object_.skel().maps.unwind_tables), &module);
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
  for (const auto& [module, bytes] : table_bytes_) total += bytes;
  return total;
}

}  // namespace leakscope
