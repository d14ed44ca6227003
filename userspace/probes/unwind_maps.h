// The CFI unwinder's maps (bpf/unwind.bpf.h): one inner array per module's
// unwind table, created here, filled through a memory mapping and published
// in unwind_tables; and each traced process's executable mappings in
// unwind_spaces. The only place that creates the inner maps and knows what
// they cost.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <span>
#include <string>

#include "probes/bpf_object.h"

namespace leakscope {

class UnwindMaps {
 public:
  explicit UnwindMaps(const BpfObject& object);

  // See Kernel::load_unwind_table and friends.
  bool load_table(uint32_t module, std::span<const uint64_t> words, std::string* error);
  void drop_table(uint32_t module);
  bool set_space(pid_t pid, const ls_unwind_space& space);
  void clear_space(pid_t pid);

  // Kernel memory of the loaded tables (their arrays' memlock).
  uint64_t table_bytes() const;
  size_t tables() const { return table_bytes_.size(); }

 private:
  const BpfObject& object_;
  std::map<uint32_t, uint64_t> table_bytes_;  // module -> memlock bytes
};

}  // namespace leakscope
