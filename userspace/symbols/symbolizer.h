// Turns user-space addresses of traced processes into frames: function, source
// line and module. The one entry point the rest of the program uses.
//
// Not thread-safe: one thread owns a Symbolizer and makes every call (no locks
// inside). Symbols come from the ELF objects a process maps (symtab/dynsym and
// DWARF lines through elfutils, separate debug info only from the local
// /usr/lib/debug/.build-id tree, never debuginfod) and, for JIT code in
// anonymous memory, from the process's /tmp/perf-PID.map.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/types.h"
#include "symbols/module.h"
#include "symbols/perf_map.h"
#include "symbols/unwind.h"

namespace leakscope {

struct SymbolizerStats {
  size_t modules_cached = 0;  // ELF objects open
  size_t processes = 0;       // processes observed and not forgotten
  uint64_t frames_resolved = 0;
  uint64_t frames_unknown = 0;
};

class Symbolizer {
 public:
  // At most `max_modules` ELF objects are kept open (least recently used go
  // first), except that a module mapped by an observed process is never
  // dropped before forget().
  explicit Symbolizer(size_t max_modules = 256);

  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;
  Symbolizer(Symbolizer&&) = default;
  Symbolizer& operator=(Symbolizer&&) = default;
  ~Symbolizer();

  // Call every tick while `pid` is alive: re-reads /proc/PID/maps (no work when
  // unchanged), opens newly mapped executable objects right away so they still
  // resolve after the process exits, and reloads the process's perf map when
  // it changed. After the process is gone, its last view is kept until
  // forget().
  void observe(pid_t pid);

  // Drops everything kept for `pid`.
  void forget(pid_t pid);

  // `address` is a return address (every frame of a captured stack is): the
  // lookup is done at address - 1, the frame reports `address`. Never throws.
  // Unknown: empty function, module = mapped path or "[unknown]"/"[heap]"...,
  // module_offset set, so Frame::display_name() gives "module+0xoff".
  Frame resolve(pid_t pid, uint64_t address);
  std::vector<Frame> resolve_stack(pid_t pid, std::span<const uint64_t> addresses);

  // Unwinds a copied stack of `pid` (see symbols/unwind.h) with the CFI of
  // the modules it maps: return addresses, innermost (the pc) first. The
  // snapshot's uretprobe trampoline is taken from the process's maps.
  std::vector<uint64_t> unwind(pid_t pid, StackSnapshot snapshot, size_t max_frames);

  // Whether `address` in `pid` lies in private anonymous memory (the heap,
  // an anonymous mapping; not a file, not the main stack). nullopt when no
  // mapping holds it, even after the maps are read again.
  std::optional<bool> anonymous_at(pid_t pid, uint64_t address);

  // Path of the file-backed object mapped at `address` in `pid`; empty when
  // none is.
  std::string module_path(pid_t pid, uint64_t address) const;

  // True when `address` lies in an executable file-backed mapping of the
  // observed `pid` (or in JIT code its perf map names): a plausible return
  // address. False for unobserved pids.
  bool is_code(pid_t pid, uint64_t address) const;

  // True once observe() has seen `pid` (alive or since exited).
  bool knows(pid_t pid) const { return processes_.count(pid) != 0; }

  SymbolizerStats stats() const;

 private:
  struct Slot {
    std::optional<Module> module;        // nullopt: the object could not be opened
    std::vector<std::string> file_keys;  // file identities that lead here
    uint64_t last_used = 0;
    size_t users = 0;  // observed processes mapping it
  };
  struct Mapping {
    MapEntry entry;
    std::string path;        // entry.path without " (deleted)"
    std::string module_key;  // key into slots_; empty when none
  };
  struct PerfMapFile {
    PerfMap map;
    bool seen = false;
    uint64_t inode = 0;
    uint64_t size = 0;
    int64_t mtime_ns = 0;
    uint64_t parsed_bytes = 0;  // consumed up to the last complete line
  };
  struct Process {
    bool alive = true;
    bool has_maps = false;
    size_t maps_hash = 0;
    size_t maps_length = 0;
    std::vector<Mapping> mappings;  // sorted by start
    std::unordered_set<std::string> module_keys;
    bool refreshed_on_miss = false;  // maps re-read for an unmapped address since observe()
    std::optional<pid_t> ns_pid;     // pid inside its own pid namespace
    PerfMapFile perf;
  };

  // Returns false when the process is gone (or was never readable).
  bool refresh(pid_t pid);
  void update_maps(pid_t pid, Process& process, std::vector<MapEntry> entries);
  void refresh_perf_map(pid_t pid, Process& process);
  std::string module_key_for(pid_t pid, const MapEntry& entry, const std::string& path);
  void evict();
  const Mapping* find_mapping(const Process& process, uint64_t address) const;
  Frame resolve_in(Process& process, uint64_t address, bool* missed);

  size_t max_modules_;
  uint64_t clock_ = 0;
  std::unordered_map<std::string, Slot> slots_;             // module key -> slot
  std::unordered_map<std::string, std::string> file_keys_;  // file identity -> module key
  std::unordered_map<pid_t, Process> processes_;
  uint64_t frames_resolved_ = 0;
  uint64_t frames_unknown_ = 0;
};

}  // namespace leakscope
