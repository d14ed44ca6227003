// The CFI unwinder's maps (bpf/unwind.bpf.h): unwind_words, one array
// holding every loaded unwind table as a run of words, mapped into this
// process and handed out here first-fit; and each traced process's
// executable mappings in unwind_spaces. The only place that writes them and
// knows what they hold.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>

#include "probes/bpf_object.h"

namespace leakscope {

class UnwindMaps {
 public:
  // Maps unwind_words; throws FatalError when it cannot.
  explicit UnwindMaps(const BpfObject& object);
  ~UnwindMaps();
  UnwindMaps(const UnwindMaps&) = delete;
  UnwindMaps& operator=(const UnwindMaps&) = delete;

  // See Kernel::load_unwind_table and friends.
  std::optional<uint32_t> load_table(std::span<const uint64_t> words, std::string* error);
  void drop_table(uint32_t table);
  bool set_space(pid_t pid, const ls_unwind_space& space);
  void clear_space(pid_t pid);

  uint64_t table_bytes() const;  // words of the loaded tables
  size_t tables() const { return used_.size(); }

 private:
  const BpfObject& object_;
  uint64_t* words_ = nullptr;  // unwind_words, mapped
  size_t mapped_bytes_ = 0;
  std::map<uint32_t, uint32_t> free_;  // first word -> words, of each free run
  std::map<uint32_t, uint32_t> used_;  // first word -> words, of each table
};

}  // namespace leakscope
