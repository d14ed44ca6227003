#include "symbols/perf_map.h"

#include <charconv>
#include <iterator>
#include <optional>
#include <utility>

namespace leakscope {

namespace {

constexpr std::string_view kBlanks = " \t";

std::string_view trim(std::string_view s) {
  const size_t first = s.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  const size_t last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

// Consumes one hex number followed by at least one blank.
std::optional<uint64_t> take_hex(std::string_view& s) {
  if (s.starts_with("0x") || s.starts_with("0X")) s.remove_prefix(2);
  uint64_t value = 0;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, value, 16);
  if (ec != std::errc() || ptr == s.data() || ptr == end) return std::nullopt;
  if (*ptr != ' ' && *ptr != '\t') return std::nullopt;
  s.remove_prefix(static_cast<size_t>(ptr - s.data()));
  const size_t next = s.find_first_not_of(kBlanks);
  s.remove_prefix(next == std::string_view::npos ? s.size() : next);
  return value;
}

}  // namespace

void PerfMap::add(uint64_t start, uint64_t size, std::string name) {
  if (size == 0 || name.empty()) return;
  const uint64_t end = start + size < start ? UINT64_MAX : start + size;

  // An older symbol that begins before `start` and reaches into the new range:
  // keep its head, and its tail if it also reaches past `end`.
  auto it = table_.lower_bound(start);
  if (it != table_.begin()) {
    auto prev = std::prev(it);
    PerfMapSymbol& older = prev->second;
    if (older.end > start) {
      if (older.end > end) table_.emplace(end, PerfMapSymbol{end, older.end, older.name});
      older.end = start;
    }
  }
  // Older symbols that begin inside the new range.
  while (it != table_.end() && it->first < end) {
    if (it->second.end > end) {
      PerfMapSymbol tail{end, it->second.end, std::move(it->second.name)};
      it = table_.erase(it);
      table_.emplace_hint(it, end, std::move(tail));
      break;
    }
    it = table_.erase(it);
  }
  table_.emplace(start, PerfMapSymbol{start, end, std::move(name)});
}

size_t PerfMap::add_text(std::string_view text) {
  size_t added = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);

    const auto start = take_hex(line);
    if (!start) continue;
    const auto size = take_hex(line);
    if (!size || *size == 0 || line.empty()) continue;
    add(*start, *size, std::string(line));
    ++added;
  }
  return added;
}

const PerfMapSymbol* PerfMap::lookup(uint64_t addr) const {
  auto it = table_.upper_bound(addr);
  if (it == table_.begin()) return nullptr;
  --it;
  return addr < it->second.end ? &it->second : nullptr;
}

PerfMap parse_perf_map(std::string_view text) {
  PerfMap map;
  map.add_text(text);
  return map;
}

}  // namespace leakscope
