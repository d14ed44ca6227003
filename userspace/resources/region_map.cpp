#include "resources/region_map.h"

#include <iterator>

namespace leakscope {

void RegionMap::add(uint64_t start, uint64_t end, ResourceRow* row) {
  if (end <= start || row == nullptr) return;
  release(start, end);
  const uint64_t size = end - start;
  const uint64_t id = next_region_++;
  pieces_.emplace(start, Piece{end, row, id});
  piece_count_[id] = 1;
  row->allocs++;
  row->bytes_allocated += size;
  row->live_bytes += static_cast<int64_t>(size);
  row->live_objects++;
}

std::map<uint64_t, RegionMap::Piece>::iterator RegionMap::drop(
    std::map<uint64_t, Piece>::iterator it) {
  Piece& p = it->second;
  p.row->live_bytes -= static_cast<int64_t>(p.end - it->first);
  p.row->live_objects--;
  auto count = piece_count_.find(p.region);
  if (count != piece_count_.end() && --count->second == 0) {
    piece_count_.erase(count);
    p.row->frees++;
  }
  return pieces_.erase(it);
}

void RegionMap::release(uint64_t start, uint64_t end) {
  if (end <= start || pieces_.empty()) return;
  // The first piece that may overlap: the one before the first piece starting
  // after `start`, if it reaches past `start`.
  auto it = pieces_.upper_bound(start);
  if (it != pieces_.begin()) {
    auto prev = std::prev(it);
    if (prev->second.end > start) it = prev;
  }
  while (it != pieces_.end() && it->first < end) {
    const uint64_t s = it->first;
    Piece p = it->second;
    if (start <= s && p.end <= end) {  // wholly inside: gone
      it = drop(it);
    } else if (s < start && p.end > end) {  // hole in the middle: two pieces
      p.row->live_bytes -= static_cast<int64_t>(end - start);
      p.row->live_objects++;
      piece_count_[p.region]++;
      it->second.end = start;
      pieces_.emplace(end, Piece{p.end, p.row, p.region});
      return;                // regions are disjoint: nothing else overlaps
    } else if (s < start) {  // tail cut off
      p.row->live_bytes -= static_cast<int64_t>(p.end - start);
      it->second.end = start;
      ++it;
    } else {  // head cut off: the piece now starts at `end`
      p.row->live_bytes -= static_cast<int64_t>(end - s);
      pieces_.erase(it);
      pieces_.emplace(end, p);
      return;  // the piece reached past `end`: nothing else overlaps
    }
  }
}

void RegionMap::clear() {
  for (auto it = pieces_.begin(); it != pieces_.end();) it = drop(it);
  piece_count_.clear();
}

const ResourceRow* RegionMap::row_at(uint64_t addr) const {
  auto it = pieces_.upper_bound(addr);
  if (it == pieces_.begin()) return nullptr;
  --it;
  return addr < it->second.end ? it->second.row : nullptr;
}

}  // namespace leakscope
