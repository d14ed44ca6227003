// The kernel's unwind tables and which process uses which (bpf/unwind.bpf.h).
//
// Each module (an executable file a traced process maps, by device and
// inode) is compiled once into an unwind table, loaded into the kernel's
// array of tables and shared by every process that maps it; it is dropped when the last
// of them is forgotten. Each process observed gets an unwind space: its
// executable mappings, sorted, each with its module's table and bias (or
// none: JIT code and the vDSO, walked by frame pointer). Spaces follow the
// address spaces' reads: a process whose executable mappings changed (a
// dlopen, an exec, new JIT code) gets a new space on the next read of its
// maps. A module that cannot be
// compiled or loaded is kept as such (walked by frame pointer), said once.
//
// Compiling a large module's table takes seconds (node's .eh_frame), so in
// the background mode a module is compiled on a worker thread, off the
// trace loop. A process's space waits until every module it maps is
// compiled (or failed): meanwhile it keeps the space it had, or is walked
// by frame pointer. collect() (once per tick) loads what is ready and gives
// its users their spaces.
//
// Not thread-safe: the trace loop's thread makes every call; the worker
// only runs the Compiler, on a file descriptor it is handed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/unique_fd.h"

#include "probes/kernel.h"
#include "target/address_space.h"
#include "target/elf_file.h"

namespace leakscope {

class UnwindTables {
 public:
  // The unwind table of the ELF file at `path` (leakscope.h's layout, over
  // the file's own virtual addresses); nullopt and a one-line reason when it
  // has none that can be used.
  using Compiler = std::function<std::optional<std::vector<uint64_t>>(const std::string& path, std::string* error)>;
  // Where a mapped file can be opened (target/proc_maps.h's openable_path).
  using Opener = std::function<std::string(pid_t, const MapEntry&)>;

  enum class Mode { Inline, Background };

  // Serves every process `spaces` reads from now on.
  UnwindTables(Kernel& kernel, AddressSpaces& spaces, Compiler compile, Opener open, Mode mode = Mode::Inline);
  ~UnwindTables();
  UnwindTables(const UnwindTables&) = delete;
  UnwindTables& operator=(const UnwindTables&) = delete;

  // Gives `pid` the tables of the code `space` holds, unless its
  // executable mappings are what they were at the last update.
  void update(pid_t pid, const AddressSpace& space);
  // The process is gone: its space goes, and the tables no one else uses.
  void forget(pid_t pid);
  // Background mode: loads the tables compiled since the last call and
  // gives the processes that map them new spaces. Returns how many.
  size_t collect();
  // Background mode: waits until nothing is being compiled, or the
  // deadline; false when it passed first.
  bool wait_idle(std::chrono::steady_clock::time_point deadline);

  struct Stats {
    size_t modules = 0;         // tables loaded
    size_t failed_modules = 0;  // modules without a table (walked by frame pointer)
    size_t pending_modules = 0; // being compiled (walked by frame pointer meanwhile)
    size_t processes = 0;       // processes whose unwind space is up to date
    size_t held_back_processes = 0;  // whose new space waits for a pending module's table
    uint64_t table_bytes = 0;   // words of the loaded tables, in bytes
  };
  Stats stats() const;

 private:
  struct Module {
    uint32_t table = LS_UNWIND_NO_TABLE;  // its handle; none: the walk uses frame pointers
    bool pending = false;                 // being compiled in the background
    uint64_t serial = 0;                  // which compile job is its (a key may come back as another file)
    std::string path;                     // as the process maps it, for messages
    std::vector<ElfFile::Segment> segments;
    std::set<pid_t> users;
    uint64_t bytes = 0;
  };
  struct Space {
    uint64_t signature = 0;  // of the executable mappings it was made from
    std::vector<MapEntry> executable;  // those mappings, to remake the space from
    std::set<std::string> modules;  // keys of modules_
    bool held_back = false;  // its new space waits for a pending module
    std::vector<MapEntry> installed;  // the mappings of the space in the kernel
  };
  // A module for the worker: the file held open, so the process may exit.
  struct Job {
    std::string key;
    uint64_t serial = 0;
    UniqueFd file;
  };
  struct Compiled {
    std::string key;
    uint64_t serial = 0;
    std::optional<std::vector<uint64_t>> words;
    std::string error;
  };

  // The module of a file mapping, compiled (or queued) on first sight.
  Module& module_for(pid_t pid, const MapEntry& entry);
  // Loads a module's compiled words into the kernel.
  void load(Module& module, const std::vector<uint64_t>& words);
  // Gives `pid` the space its stored mappings make now.
  void install(pid_t pid, Space& used);
  void release(pid_t pid, const std::string& key);
  void work();

  Kernel& kernel_;
  AddressSpaces& spaces_;
  Compiler compile_;
  Opener open_;
  size_t hook_ = 0;
  std::map<std::string, Module> modules_;  // by "dev:inode"
  std::map<pid_t, Space> spaces_used_;
  bool warned_full_ = false;  // a table was refused: said once
  Mode mode_;
  // Background mode: jobs in, results out, under one lock.
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<Job> jobs_;
  std::vector<Compiled> done_;
  bool busy_ = false;
  uint64_t next_serial_ = 1;  // the loop's only
  bool stopping_ = false;
  std::thread worker_;
};

// The module bias of `entry` (address = ELF virtual address + bias), from
// the PT_LOAD segment that holds its file offset; nullopt when none does.
std::optional<uint64_t> mapping_bias(const MapEntry& entry, const std::vector<ElfFile::Segment>& segments);

}  // namespace leakscope
