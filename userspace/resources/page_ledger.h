// The books of kind fault: which stack first touched each page of private
// anonymous memory a traced image holds, kept until the page is gone again
// (released to the kernel, the image exits). A row's live bytes are the
// pages its stack touched that are still there: memory that grew under that
// stack and did not go back. Pure: events in, rows out; no /proc, no kernel.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <utility>
#include <vector>

#include "resources/resource_ledger.h"

namespace leakscope {

class PageLedger {
 public:
  explicit PageLedger(uint64_t page_size = 4096, size_t max_pages = 1u << 20);

  // `trace_id` touched the page holding `address` for the first time, in
  // code under `stack_id`. A page already on the books moves to the new
  // stack (it was released and touched again since the last check). Over
  // `max_pages` the page is counted in pages_dropped() instead. `weight`:
  // the pages it stands for (the kernel sampled 1 in `weight` faulting
  // pages); its row counts that many, and so does its release.
  void touch(uint32_t trace_id, uint64_t address, int32_t stack_id, uint64_t ts_ns, uint32_t weight = 1);

  // Images with pages on the books, and their pages, ascending.
  std::vector<uint32_t> images() const;
  std::vector<uint64_t> pages(uint32_t trace_id) const;
  // At most `max` of them, from `from` up.
  std::vector<uint64_t> pages(uint32_t trace_id, uint64_t from, size_t max) const;

  // These pages of the image are gone (no longer resident nor swapped).
  // With `seen_ns`, when they were seen gone: a page touched again since
  // (a fault event later than that) stays on the books.
  void release(uint32_t trace_id, std::span<const uint64_t> pages, uint64_t seen_ns = UINT64_MAX);

  // The image's memory is gone (exit, exec): every page is released; its
  // rows stay for the report.
  void process_exited(uint32_t trace_id);
  // Drops the image's rows too.
  void forget(uint32_t trace_id);

  // Every row ever seen, in a stable order (kind fault, sub 0).
  std::vector<ResourceRow> rows() const;

  size_t pages_tracked() const { return tracked_; }
  uint64_t pages_dropped() const { return dropped_; }
  uint64_t page_size() const { return page_size_; }

 private:
  struct Page {
    ResourceRow* row;
    uint64_t touched_ns;  // its first touch's fault event
    uint32_t weight;      // pages it stands for
  };
  void release_page(std::map<uint64_t, Page>& pages, std::map<uint64_t, Page>::iterator it);

  uint64_t page_size_;
  size_t max_pages_;
  size_t tracked_ = 0;
  uint64_t dropped_ = 0;
  std::map<std::pair<uint32_t, int32_t>, ResourceRow> rows_;    // (image, stack) -> row
  std::map<uint32_t, std::map<uint64_t, Page>> pages_;  // image -> page -> row
};

}  // namespace leakscope
