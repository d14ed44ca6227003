// Turns user-space addresses of traced processes into frames: function, source
// line and module. The one entry point the rest of the program uses.
//
// Not thread-safe: one thread owns a Symbolizer and its AddressSpaces and
// makes every call (no locks inside). What each process maps comes from the
// AddressSpaces (target/address_space.h). Symbols come from the ELF objects
// a process maps (symtab/dynsym and DWARF lines through elfutils, separate
// debug info only from the local /usr/lib/debug/.build-id tree, never
// debuginfod) and, for JIT code in anonymous memory, from the process's
// /tmp/perf-PID.map, opened inside the process's root (target/root_path.h)
// and read up to a cap (core/input_limits.h says when it bites).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/types.h"
#include "symbols/frame_namer.h"
#include "symbols/module.h"
#include "symbols/perf_map.h"
#include "symbols/unwind.h"
#include "target/address_space.h"

namespace leakscope {

struct SymbolizerStats {
  size_t modules_cached = 0;  // ELF objects open
  size_t processes = 0;       // processes symbolized for and not forgotten
  uint64_t frames_resolved = 0;
  uint64_t frames_unknown = 0;
  size_t names_pending = 0;   // Naming::Background: lookups queued or under way
};

// Where frames are named (function, file, line).
enum class Naming {
  Inline,      // in resolve(): it returns every frame named
  Background,  // on a FrameNamer's thread, for callers that pass `later`
};

// A frame located but not named yet: where to look it up when its name is
// ready (Symbolizer::name_later). It does not keep the module open: a module
// the symbolizer let go (evicted, shed) names nothing more.
struct NameTicket {
  std::weak_ptr<Module> module;
  uint64_t vaddr = 0;
};

class Symbolizer {
 public:
  // Mappings come from `spaces`, which must outlive the Symbolizer. Each time
  // `spaces` reads a live process's maps, the Symbolizer opens the objects
  // newly mapped with code (so they still resolve after the process exits or
  // the file is deleted) and reloads the process's perf map when it changed.
  // At most `max_modules` ELF objects are kept open (least recently used go
  // first), except that a module mapped by a process not forgotten is never
  // dropped.
  //
  // Naming::Background: resolve() names a frame at once only when its
  // module has the name memoized; otherwise the lookup goes to a worker
  // thread and the frame comes back located (module, offset, build id) with
  // a ticket for name_later().
  explicit Symbolizer(AddressSpaces& spaces, size_t max_modules = 256, Naming naming = Naming::Inline);

  // `spaces` calls back into it: it stays where it was made.
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;
  ~Symbolizer();

  // Drops what is kept for `pid` here (its address space is the caller's to
  // forget).
  void forget(pid_t pid);
  // Closes every ELF object no traced process maps now (the tracer's own
  // memory neared its budget); they are opened again when needed.
  void shed();

  // `address` is a return address (every frame of a captured stack is): the
  // lookup is done at address - 1, the frame reports `address`. A process not
  // observed yet is observed first. Never throws.
  // Unknown: empty function, module = mapped path or "[unknown]"/"[heap]"...,
  // module_offset set, so Frame::display_name() gives "module+0xoff".
  // With Naming::Background and `later` given, a frame whose name is not
  // ready comes back located, and *later says where to name it from;
  // otherwise (and always with Naming::Inline) *later is left empty.
  Frame resolve(pid_t pid, uint64_t address, std::optional<NameTicket>* later = nullptr);
  // Names `frame` from `ticket` when its lookup is done: true when named
  // (or when nothing more can be learnt: its module was let go), false
  // while it is still pending.
  bool name_later(Frame& frame, const NameTicket& ticket);
  // Naming::Background: waits until every lookup asked for is done, or until
  // `deadline`; true when none is pending.
  bool wait_named(std::chrono::steady_clock::time_point deadline) const;
  std::vector<Frame> resolve_stack(pid_t pid, std::span<const uint64_t> addresses);

  // Unwinds a copied stack of `pid` (see symbols/unwind.h) with the CFI of
  // the modules it maps: return addresses, innermost (the pc) first. The
  // snapshot's uretprobe trampoline is taken from the process's maps.
  std::vector<uint64_t> unwind(pid_t pid, StackSnapshot snapshot, size_t max_frames);

  // True when `address` is a plausible return address of `pid`: the mapping
  // at address - 1 is code (Mapping::is_code), or no file backs it (anonymous
  // memory or no mapping at all) and the perf map names JIT code there.
  // False for pids the address spaces do not know. Reads nothing.
  bool is_code(pid_t pid, uint64_t address) const;

  SymbolizerStats stats() const;

 private:
  struct Slot {
    std::shared_ptr<Module> module;      // null: the object could not be opened (shared with the namer)
    std::vector<std::string> file_keys;  // file identities that lead here
    uint64_t last_used = 0;
    size_t users = 0;  // processes not forgotten mapping it
  };
  struct PerfMapFile {
    PerfMap map;
    bool seen = false;
    uint64_t inode = 0;
    uint64_t size = 0;
    int64_t mtime_ns = 0;
    uint64_t parsed_bytes = 0;  // consumed up to the last complete line
    bool in_long_line = false;  // parsed_bytes is inside a line longer than a chunk
  };
  struct Process {
    uint64_t generation = 0;  // of the address space module_keys were taken from
    // Mapping start -> key into slots_, for the file-backed mappings of
    // objects with code.
    std::unordered_map<uint64_t, std::string> module_keys;
    std::unordered_set<std::string> keys;  // the values of module_keys
    std::optional<pid_t> ns_pid;           // pid inside its own pid namespace
    PerfMapFile perf;
  };

  // Called by `spaces_` after each read of a live process's maps.
  void on_read(pid_t pid, const AddressSpace& space);
  // What is kept for `pid`, observing it when unknown and catching up with
  // its address space when that changed; nullptr when it cannot be read.
  Process* process_for(pid_t pid);
  void update_modules(pid_t pid, Process& process, const AddressSpace& space);
  void refresh_perf_map(pid_t pid, Process& process);
  std::string module_key_for(pid_t pid, const MapEntry& entry, const std::string& path);
  const std::shared_ptr<Module>* module_at(const Process& process, const Mapping& mapping);
  void evict();
  Frame resolve_in(const AddressSpace& space, Process& process, uint64_t address, bool* missed,
                   std::optional<NameTicket>* later);
  // Counts a frame in frames_resolved_ or frames_unknown_.
  void count(const Frame& frame);

  AddressSpaces& spaces_;
  size_t read_hook_ = 0;
  size_t max_modules_;
  uint64_t clock_ = 0;
  std::unordered_map<std::string, Slot> slots_;             // module key -> slot
  std::unordered_map<std::string, std::string> file_keys_;  // file identity -> module key
  std::unordered_map<pid_t, Process> processes_;
  uint64_t frames_resolved_ = 0;
  uint64_t frames_unknown_ = 0;
  std::unique_ptr<FrameNamer> namer_;  // Naming::Background only
};

}  // namespace leakscope
