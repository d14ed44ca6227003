// The ledgers kept in userspace from the kernel's event streams: the
// syscall kinds (mmap, brk, timerfd, epoll: resources/resource_ledger.h) and
// kind fault's page books (resources/page_ledger.h), with the stacks of
// their events composed in the stack store. Pages the processes no longer
// hold leave the books each tick, as /proc/PID/pagemap shows them gone.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

#include "probes/kernel.h"
#include "resources/page_ledger.h"
#include "resources/resource_ledger.h"
#include "target/address_space.h"
#include "tracer/image_table.h"
#include "tracer/page_check.h"
#include "tracer/stack_store.h"

namespace leakscope {

class EventLedgers {
 public:
  EventLedgers(const ImageTable& images, StackStore& stacks, AddressSpaces& spaces);

  void apply(const SyscallEvent& event);
  void apply(const FaultEvent& event);
  // Pages of live images that are gone leave the books: what the page
  // check (page_check.h) found since the last call is released, and it is
  // handed the next batch, from where the last one ended; a large ledger is
  // covered over ticks. Never waits for a pagemap read.
  void release_gone_pages();

  // Image `old` exec'd into `next`: descriptors that survive exec move on.
  void image_execd(TraceId old, TraceId next);
  // Tracing of the image ended: what an exit releases is released; a page
  // of an image that ended any way is no longer watched.
  void image_ended(const TracedImage& image);
  void forget(TraceId id);

  // Every row of both ledgers, as ledger rows.
  std::vector<LedgerRow> rows() const;
  uint64_t pages_dropped() const { return pages_.pages_dropped(); }

 private:
  const ImageTable& images_;
  StackStore& stacks_;
  AddressSpaces& spaces_;
  ResourceLedger resources_;
  PageLedger pages_;
  PageCheck page_check_;
  // Where release_gone_pages goes on: the image, and the page in it.
  TraceId check_image_ = 0;
  uint64_t check_page_ = 0;
  // Kind fault: thread -> (image, stack) of its last full fault event.
  std::unordered_map<uint32_t, std::pair<TraceId, int32_t>> fault_thread_stack_;
};

}  // namespace leakscope
