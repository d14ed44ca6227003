// The address spaces of traced processes: what each maps where, read from
// /proc/PID/maps at most once a tick, with generation numbers that tell the
// readers (symbolizer, allocator planning) when a view changed.
//
// Not thread-safe: one thread owns an AddressSpaces and makes every call.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/types.h"

namespace leakscope {

// One mapping of a process.
struct Mapping {
  MapEntry entry;    // as read: entry.path may end in " (deleted)"
  std::string path;  // entry.path without " (deleted)"

  // Executable and file-backed, or the vDSO: where return addresses point.
  bool is_code() const;
  // Private memory no file backs (the heap, anonymous mmaps); not the main
  // stack, a [stack:TID], [vvar] or [vdso].
  bool is_anonymous() const;
};

// One process's address space as last read.
class AddressSpace {
 public:
  // Sorted by start.
  const std::vector<Mapping>& mappings() const { return mappings_; }
  // The mappings as read (paths keep " (deleted)"), for planners that work
  // on maps entries.
  std::vector<MapEntry> entries() const;

  // The mapping holding `address`; nullptr when none does.
  const Mapping* find(uint64_t address) const;
  // `address` lies in a mapping for which Mapping::is_code() holds.
  bool is_code(uint64_t address) const;
  // Mapping::is_anonymous() of the mapping at `address`; nullopt when none.
  std::optional<bool> is_anonymous(uint64_t address) const;
  // Path (without " (deleted)") of the file mapped at `address`; empty when
  // no file is.
  std::string module_path(uint64_t address) const;
  // Start of the [uprobes] mapping (where the kernel's uretprobe trampoline
  // sends returns); 0 when there is none.
  uint64_t uprobe_trampoline() const;

  // Goes up each time a read found the maps text changed (from 1 on the
  // first read).
  uint64_t generation() const { return generation_; }
  // Goes up only when the executable file-backed mappings changed (a
  // dlopen, a dlclose, an exec), not when anonymous memory comes and goes:
  // what allocator planning depends on. 1 after the first read, never 0.
  uint64_t code_generation() const { return code_generation_; }
  // False once a read found the process gone (its last view is kept).
  bool alive() const { return alive_; }

 private:
  friend class AddressSpaces;

  // Takes a new maps text (not empty); no work when it did not change.
  void update(std::string_view text);

  // What code_generation() follows: path and inode of each executable
  // file-backed mapping, in address order.
  using CodeObjects = std::vector<std::pair<std::string, uint64_t>>;

  std::vector<Mapping> mappings_;
  CodeObjects code_objects_;
  size_t text_hash_ = 0;
  size_t text_size_ = 0;
  uint64_t generation_ = 0;
  uint64_t code_generation_ = 0;
  bool alive_ = true;
};

// The address space of each observed process.
class AddressSpaces {
 public:
  // The text of /proc/PID/maps: nullopt when the process is gone, empty for
  // a zombie. Injected so that tests need no /proc.
  using MapsReader = std::function<std::optional<std::string>(pid_t)>;
  // Called after each read that found the process alive, while its /proc
  // entry still exists (the symbolizer opens newly mapped objects there).
  // Must not throw.
  using ReadHook = std::function<void(pid_t, const AddressSpace&)>;

  AddressSpaces();  // reads /proc/PID/maps
  explicit AddressSpaces(MapsReader reader);

  // Readers keep references to it and to the spaces it hands out.
  AddressSpaces(const AddressSpaces&) = delete;
  AddressSpaces& operator=(const AddressSpaces&) = delete;

  // A new tick: each process may be read once more, and once more again on
  // a miss (see mapping_at).
  void begin_tick();

  // The space of `pid`, read unless it was already read this tick. A process
  // found gone keeps its last view with alive() false; nullptr when it was
  // never read and cannot be. Never throws.
  const AddressSpace* observe(pid_t pid);

  // The space of `pid` as last read; nullptr when never observed (or
  // forgotten). The pointer stays valid until forget(pid); pointers to its
  // mappings only until the next read.
  const AddressSpace* find(pid_t pid) const;

  // The mapping of `pid` holding `address` (observing `pid` first when
  // unknown). When none does and the process is alive, the maps are read
  // once more and looked up again: something may have been mapped since the
  // last read (a dlopen, new JIT code). At most once a tick per process, so
  // that garbage addresses do not each cost a read.
  const Mapping* mapping_at(pid_t pid, uint64_t address);

  // Drops the space of `pid`.
  void forget(pid_t pid);

  // Returns an id for remove_read_hook.
  size_t add_read_hook(ReadHook hook);
  void remove_read_hook(size_t id);

 private:
  struct Observed {
    AddressSpace space;
    uint64_t read_tick = 0;    // tick of the last read
    uint64_t reread_tick = 0;  // tick of the last read on a miss
  };

  // Reads the maps of `pid` now.
  const AddressSpace* read(pid_t pid);

  MapsReader reader_;
  uint64_t tick_ = 1;
  std::unordered_map<pid_t, Observed> observed_;
  std::vector<std::pair<size_t, ReadHook>> hooks_;
  size_t next_hook_ = 1;
};

}  // namespace leakscope
