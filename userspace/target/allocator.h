// Where to put the allocator uprobes of a process.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/bpf_contract.h"
#include "core/types.h"

namespace leakscope {

struct ProbeSite {
  AllocFn fn = AllocFn::Malloc;
  std::string symbol;        // "malloc", "_Znwm", ... (one of kAllocFns' symbols of fn)
  std::string attach_path;   // path we open/attach through (/proc/PID/map_files/..., ...)
  std::string module_path;   // path as the target sees it (as in its maps)
  uint64_t file_offset = 0;  // uprobe offset inside the file
  uint64_t entry_offset = 0; // the function's entry (file_offset may lie a few bytes on)
  std::string placement;     // where in the function, and why (see probe_placement.h)
  uint64_t entry_size = 0;   // bytes of code from entry_offset (the symbol's size; 0 unknown)
};

struct AllocatorPlan {
  std::string allocator_module;  // module path (as in maps) of the C allocator
  bool allocator_in_main = false; // ... which is the main executable (a static allocator)
  std::vector<ProbeSite> sites;  // C allocator first, then the operator new family
};

// Plans the probes of PID from its maps: the file-backed executable mappings,
// each opened through openable_path(); the main executable is the mapping
// whose path is readlink(/proc/PID/exe). Throws FatalError(NoAllocator) with
// "PID N (comm): " before the reason when no module defines malloc and free.
AllocatorPlan plan_allocator(pid_t pid, const std::vector<MapEntry>& maps);

// The core, on files. MODULES are {module path, openable path}; the FIRST one
// is the main executable when first_is_main (plan_allocator puts it first).
// The functions and their symbols are kAllocFns' (core/bpf_contract.h).
// The C allocator (every function but operator new) comes from one module:
// the main executable if it defines malloc and free, else the first other
// non-libc library that exports both (jemalloc, tcmalloc, ...), else libc. The
// operator new family is taken symbol by symbol from the first module
// defining it (main first).
// Symbols the module lacks are skipped, IFUNCs too (their address is a
// resolver), and a symbol at the same offset as an earlier one of the module
// (glibc's aligned_alloc = memalign) is kept once. Throws FatalError(NoAllocator).
AllocatorPlan plan_allocator_in_files(
    const std::vector<std::pair<std::string, std::string>>& modules, bool first_is_main = true);

}  // namespace leakscope
