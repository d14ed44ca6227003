// Files of a traced process read only in part, or not at all, because they
// broke a size bound (a perf map past its cap, an ELF object or .eh_frame too
// large, a V8 profile message too long). Targets are untrusted: every read of
// their data is bounded, and a bound that bites is said, once per file and
// bound, as a warning and in the final report ("input limits hit").
//
// One list for the whole program, kept here because the readers that hit a
// bound (symbolizer, unwind tables, CDP client) sit far from the report; it
// only grows, is bounded, and is safe to use from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace leakscope {

struct InputLimitHit {
  std::string file;   // what was read, as leakscope named it
  // Which bound, as a phrase: "larger than the perf map read cap of 16 MiB".
  std::string limit;
  // What became of the input: "read in part", "not read", ...
  std::string effect;
};

// Larger ELF objects are not opened (symbols/Module, target/ElfFile): libdw's
// tables grow with their DWARF. An unstripped browser is about 2 GiB; a
// typical library a few MiB.
inline constexpr uint64_t kMaxElfBytes = uint64_t{4} << 30;

// At most this many hits are kept (the rest are counted).
inline constexpr size_t kMaxInputLimitHits = 32;

// Records a hit: the first time for a (file, limit) it logs a warning and
// keeps it; later times do nothing. Never throws.
void note_input_limit(const std::string& file, const std::string& limit, const std::string& effect);

// The hits kept so far, in the order they happened.
std::vector<InputLimitHit> input_limits_hit();
// The name to give a file read through /proc/self/fd/N or
// /proc/PID/map_files/START-END: where the link leads (the file as a person
// knows it). Other paths as they are.
std::string input_file_name(const std::string& path);

// Hits noted (distinct (file, limit) pairs), kept or not.
size_t input_limit_hits_total();

// Forgets every hit (tests).
void clear_input_limits();

}  // namespace leakscope
