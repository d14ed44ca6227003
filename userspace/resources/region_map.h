// Interval bookkeeping of one process's mmap and brk regions: the regions are
// disjoint, keyed by start address, and every piece points at the ledger row
// it is counted in. Releasing a range trims, splits or drops the regions it
// overlaps and updates their rows.
#pragma once

#include <cstdint>
#include <map>
#include <unordered_map>

#include "resources/resource_ledger.h"

namespace leakscope {

class RegionMap {
 public:
  // Counts [start, end) as a new region of `row` (allocs, bytes_allocated,
  // live bytes and objects). Whatever it overlaps is released first. An empty
  // range is ignored.
  void add(uint64_t start, uint64_t end, ResourceRow* row);

  // Releases the overlap of [start, end) with every region. A region loses
  // the bytes inside the range; a hole in its middle leaves two pieces, each
  // a live object of the same row. The row's `frees` grows when the last
  // piece of a region is gone.
  void release(uint64_t start, uint64_t end);

  // Releases every region.
  void clear();

  // Row of the region containing `addr`; nullptr when none does.
  const ResourceRow* row_at(uint64_t addr) const;

  size_t pieces() const { return pieces_.size(); }

 private:
  struct Piece {
    uint64_t end = 0;
    ResourceRow* row = nullptr;
    uint64_t region = 0;  // id of the region this piece was cut from
  };

  // Drops the whole piece at `it` from the books; returns the next piece.
  std::map<uint64_t, Piece>::iterator drop(std::map<uint64_t, Piece>::iterator it);

  std::map<uint64_t, Piece> pieces_;                    // start -> piece
  std::unordered_map<uint64_t, uint32_t> piece_count_;  // region id -> live pieces
  uint64_t next_region_ = 1;
};

}  // namespace leakscope
