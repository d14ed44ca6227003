// The CFI unwinder's maps (bpf/unwind.bpf.h): unwind_words, one array
// holding every loaded unwind table as a run of words, mapped into this
// process and handed out here first-fit; and each traced process's
// executable mappings in unwind_spaces. The only place that writes them and
// knows what they hold.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <chrono>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "probes/bpf_object.h"

namespace leakscope {

// Runs of words of one array handed out first-fit and given back, adjacent
// free runs merged. Pure: UnwindMaps keeps its tables' places with it.
class WordRuns {
 public:
  // Words [first, first + words) are free at the start.
  WordRuns(uint32_t first, uint32_t words);
  // The first word of a free run of `words` words, now taken; nullopt when
  // no free run is that long.
  std::optional<uint32_t> take(uint32_t words);
  // Gives back the run that starts at `first` (taken before; else nothing).
  void give_back(uint32_t first);
  size_t runs_taken() const { return taken_.size(); }
  uint64_t words_taken() const;

 private:
  std::map<uint32_t, uint32_t> free_;   // first word -> words, of each free run
  std::map<uint32_t, uint32_t> taken_;  // first word -> words, of each run taken
};

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

  uint64_t table_bytes() const { return runs_.words_taken() * sizeof(uint64_t); }
  size_t tables() const { return runs_.runs_taken() - retired_.size(); }

 private:
  const BpfObject& object_;
  uint64_t* words_ = nullptr;  // unwind_words, mapped
  size_t mapped_bytes_ = 0;
  WordRuns runs_;  // of unwind_words, one per table
  // Tables dropped, and when: a walk that read a handle before its drop
  // may still be reading (uprobe programs can be preempted), so a run is
  // handed out again only a while after.
  std::vector<std::pair<uint32_t, std::chrono::steady_clock::time_point>> retired_;
};

}  // namespace leakscope
