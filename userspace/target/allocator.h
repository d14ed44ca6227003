// Where to put the allocator uprobes of a process.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/alloc_families.h"
#include "core/types.h"

namespace leakscope {

struct ProbeSite {
  AllocShape shape = AllocShape::Malloc;  // which entry program
  uint32_t fn = 0;           // the function's id (core/alloc_families.h): the probe's cookie
  std::string symbol;        // "malloc", "_Znwm", "_rjem_mallocx" (one of its function's symbols)
  std::string attach_path;   // path we open/attach through (/proc/PID/map_files/..., ...)
  std::string module_path;   // path as the target sees it (as in its maps)
  uint64_t file_offset = 0;  // uprobe offset inside the file
  uint64_t entry_offset = 0; // the function's entry (file_offset may lie a few bytes on)
  std::string placement;     // where in the function, and why (see probe_placement.h)
  uint64_t entry_size = 0;   // bytes of code from entry_offset (the symbol's size; 0 unknown)
};

// A family (core/alloc_families.h) found in a module: its markers defined there.
struct FamilyFound {
  std::string family;       // "jemalloc"
  std::string module_path;  // path as in the maps
  bool in_main = false;     // the module is the main executable
};

struct AllocatorPlan {
  std::string allocator_module;  // module path (as in maps) of the allocator that serves malloc
  bool allocator_in_main = false; // ... which is the main executable (a static allocator)
  std::string allocator_family;  // its family: "jemalloc", or "malloc" for one with no API of its own
  // Its module defines the OS's memory calls (mmap, mremap, sbrk...) itself,
  // as gperftools' tcmalloc does to run its hooks: the program's own mmap
  // then goes through the allocator's module (tracer/allocator_growth).
  bool allocator_wraps_os_memory_calls = false;
  std::vector<FamilyFound> families;  // every family found, module by module
  std::vector<ProbeSite> sites;  // module by module, each the families' functions in table order
  // Free-shaped functions found and left alone because they jump to another
  // (tail_forwards): {module path, symbol}.
  std::vector<std::pair<std::string, std::string>> forwarders;
  // Modules carrying the OpenTelemetry memory probes (USDT otel_memory:alloc
  // and otel_memory:free): {module path, openable path}. When there are any,
  // they replace the allocator uprobes: `sites` are planned (they say where
  // the allocators' code is: tracer/allocator_growth) but not attached.
  std::vector<std::pair<std::string, std::string>> otel_memory;
};

// Plans the probes of PID from its maps: the file-backed executable mappings,
// each opened through openable_path(); the main executable is the mapping
// whose path is readlink(/proc/PID/exe); the preloaded libraries are its
// LD_PRELOAD and its root's /etc/ld.so.preload. Throws FatalError(NoAllocator) with
// "PID N (comm): " before the reason when no module defines malloc and free.
AllocatorPlan plan_allocator(pid_t pid, const std::vector<MapEntry>& maps);

// USDT probes an allocator that samples itself fires (the OpenTelemetry
// memory-probe contract): alloc(ptr, size, weight) and free(ptr).
inline constexpr std::string_view kOtelMemoryProvider = "otel_memory";

// The core, on files. MODULES are {module path, openable path}; the FIRST one
// is the main executable when first_is_main (plan_allocator puts it first).
// Every family of kAllocFamilies is looked for in every module but the
// dynamic loader's: a module holds a family when it defines each of the
// family's markers (bare or with one of its prefixes), and then each of the
// family's functions it defines is probed (bare and prefixed symbols), so
// that several allocators in one process (a jemalloc-linked plugin in a
// glibc program, an allocator linked into the executable beside libc's)
// each get their probes: calls reach whichever the dynamic linker bound.
// Definitions must be exported, but in the main executable, whose .symtab
// counts (a static binary has no .dynsym). IFUNCs are skipped (their
// address is a resolver), a symbol at the offset of one probed before in
// the module is probed once, and a free-shaped function that only
// tail-jumps to another (tail_forwards) is left to the one it jumps to.
// The allocator that serves malloc is the one the dynamic linker binds
// malloc to: the first module defining malloc and free in its search order
// (the executable, PRELOAD — LD_PRELOAD's and /etc/ld.so.preload's
// libraries, by path or name —, then DT_NEEDED breadth first, matched by
// soname or file name), so an allocator a dlopen()ed plugin brings is
// probed but does not serve malloc. With no dynamically linked executable
// (a static one, or none given), or none in that order: the executable if
// it defines malloc and free, else the first non-libc library that does,
// else libc. Throws FatalError(NoAllocator) when no module defines malloc
// and free. A module whose SDT notes have otel_memory's alloc and free
// goes into `otel_memory`, and then the uprobe sites are not attached: the
// allocator reports what it samples, weighted, and a malloc under it would
// count its blocks again.
AllocatorPlan plan_allocator_in_files(const std::vector<std::pair<std::string, std::string>>& modules,
                                      bool first_is_main = true, const std::vector<std::string>& preload = {});

// One line for the operator: which allocator serves malloc, and where else
// a family was found: "jemalloc in libjemalloc.so.2 serves malloc; also
// malloc in libc.so.6, operator new in libstdc++.so.6".
std::string describe_allocators(const AllocatorPlan& plan);

// The probed functions module by module, as -v lists them: "probed in
// libc.so.6: malloc calloc ... free", then the forwarders left alone: "not
// probed in libstdc++.so.6 (they jump to a free that is): _ZdlPv ...".
std::vector<std::string> describe_probes(const AllocatorPlan& plan);

}  // namespace leakscope
