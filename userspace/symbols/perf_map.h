// Symbols of just-in-time compiled code from a perf map (/tmp/perf-PID.map),
// as written by Node.js --perf-basic-prof, the JVM's perf-map-agent, etc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace leakscope {

// One symbol: the half-open range [start, end).
struct PerfMapSymbol {
  uint64_t start = 0;
  uint64_t end = 0;
  std::string name;
};

// A table of non-overlapping symbols sorted by address. When a symbol is added
// over an older one (code moved, memory reused by the JIT), the newer wins:
// the older is trimmed or dropped where they overlap.
class PerfMap {
 public:
  // Adds [start, start + size). Empty ranges and empty names are ignored.
  void add(uint64_t start, uint64_t size, std::string name);

  // Parses lines "START SIZE name" (hex, "0x" optional; the name is the rest of
  // the line and may contain spaces) and adds them in order. Malformed lines
  // are skipped. Returns the number of symbols added.
  size_t add_text(std::string_view text);

  // The symbol containing `addr`, or nullptr.
  const PerfMapSymbol* lookup(uint64_t addr) const;

  size_t size() const { return table_.size(); }
  bool empty() const { return table_.empty(); }
  void clear() { table_.clear(); }

 private:
  std::map<uint64_t, PerfMapSymbol> table_;  // keyed by start
};

// Parses the whole text of a perf map.
PerfMap parse_perf_map(std::string_view text);

}  // namespace leakscope
