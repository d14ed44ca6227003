// Symbols of just-in-time compiled code from a perf map (/tmp/perf-PID.map),
// as written by Node.js --perf-basic-prof, the JVM's perf-map-agent, etc.
//
// A perf map belongs to the traced process, which may write anything in it:
// the table is compact (24 bytes a symbol plus its name, names held in
// blocks of 1 MiB, never copied to grow) and holds at most max_symbols, so
// that what the caller reads of the file bounds what it costs. Names longer
// than kMaxName are cut there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace leakscope {

// One symbol: the half-open range [start, end). `name` points into the
// PerfMap and is valid until it next changes.
struct PerfMapSymbol {
  uint64_t start = 0;
  uint64_t end = 0;
  std::string_view name;
};

// A table of non-overlapping symbols sorted by address. When a symbol is added
// over an older one (code moved, memory reused by the JIT), the newer wins:
// the older is trimmed or dropped where they overlap.
class PerfMap {
 public:
  static constexpr size_t kDefaultMaxSymbols = size_t{1} << 20;
  static constexpr size_t kMaxName = 4096;
  explicit PerfMap(size_t max_symbols = kDefaultMaxSymbols) : max_symbols_(max_symbols) {}

  // Adds [start, start + size). Empty ranges and empty names are ignored.
  void add(uint64_t start, uint64_t size, std::string_view name);

  // Parses lines "START SIZE name" (hex, "0x" optional; the name is the rest of
  // the line and may contain spaces) and adds them in order. Malformed lines
  // are skipped, and so are lines past the table's max_symbols (see full()).
  // Returns the number of symbols added.
  size_t add_text(std::string_view text);

  // The symbol containing `addr`, or nullopt.
  std::optional<PerfMapSymbol> lookup(uint64_t addr) const;

  size_t size() const { return table_.size(); }
  bool empty() const { return table_.empty(); }
  void clear();
  // True once a symbol was refused because the table held max_symbols.
  bool full() const { return full_; }
  size_t max_symbols() const { return max_symbols_; }
  // Bytes the table holds on the heap (its symbols and their names).
  size_t memory_bytes() const;

 private:
  struct Entry {
    uint64_t start;
    uint64_t end;
    uint32_t name_at;  // block * kBlock + offset in names_
    uint32_t name_len;
  };
  static constexpr size_t kBlock = size_t{1} << 20;
  // Stores a name (cut at kMaxName); false when names_ cannot address more.
  bool store_name(std::string_view name, Entry* e);
  std::string_view name_of(const Entry& e) const;
  size_t names_bytes() const;
  // Adds `batch` (in the order the symbols came: later ones win).
  void merge(std::vector<Entry> batch);
  void compact_names();

  size_t max_symbols_;
  bool full_ = false;
  std::vector<Entry> table_;  // sorted by start, non-overlapping
  // Every name, back to back in blocks of kBlock bytes (reserved whole, a
  // name never crosses blocks); pieces of a symbol share one.
  std::vector<std::string> names_;
};

// Parses the whole text of a perf map.
PerfMap parse_perf_map(std::string_view text);

}  // namespace leakscope
