#include "tracer/event_ledgers.h"

#include <algorithm>
#include <sstream>

#include "core/log.h"
#include "target/pagemap.h"

namespace leakscope {

namespace {

LedgerRow ledger_row(const ResourceRow& r) {
  LedgerRow row;
  row.trace_id = r.trace_id;
  row.kind = r.kind;
  row.stack_id = r.stack_id;
  row.fn = r.sub;
  row.value.live_bytes = r.live_bytes;
  row.value.live_objects = r.live_objects;
  row.value.allocs = r.allocs;
  row.value.frees = r.frees;
  row.value.bytes_allocated = r.bytes_allocated;
  row.value.first_ns = r.first_ns;
  row.armed = r.armed;
  return row;
}

}  // namespace

EventLedgers::EventLedgers(const ImageTable& images, StackStore& stacks, AddressSpaces& spaces)
    : images_(images), stacks_(stacks), spaces_(spaces) {}

void EventLedgers::apply(const SyscallEvent& e) {
  const TracedImage* image = images_.find(e.trace_id);
  if (!image || image->exited()) return;
  pid_t pid = static_cast<pid_t>(e.tgid);
  // Stacks are read against the view of the process's maps taken at the
  // last tick, which is the image that made the calls.
  if (!spaces_.find(pid)) spaces_.observe(pid);
  SysEvent ev;
  ev.op = e.op;
  ev.trace_id = e.trace_id;
  ev.ts_ns = e.ts_ns;
  ev.ret = e.ret;
  for (size_t i = 0; i < e.args.size(); ++i) ev.args[i] = e.args[i];
  ev.stack_id = stacks_.syscall_stack(pid, e);
  if (log_level() >= LogLevel::Debug) {
    std::ostringstream msg;
    msg << "event op " << e.op << " pid " << pid << " image " << e.trace_id << " ret " << e.ret << " a0 "
        << e.args[0] << " stack " << ev.stack_id << std::hex;
    for (uint64_t ip : stacks_.addresses(ev.stack_id)) msg << " 0x" << ip;
    log_debug(msg.str());
  }
  resources_.apply(ev);
  if (ev.stack_id != LS_STACK_UNKNOWN) stacks_.frames(e.trace_id, pid, ev.stack_id);  // symbolized now
}

void EventLedgers::apply(const FaultEvent& e) {
  const TracedImage* image = images_.find(e.trace_id);
  if (!image || image->exited()) return;
  pid_t pid = static_cast<pid_t>(e.tgid);
  // The kernel side could not always tell (see faults.bpf.c).
  const Mapping* at = spaces_.mapping_at(pid, e.address);
  if (!at || !at->is_anonymous()) return;
  int32_t stack_id = LS_STACK_UNKNOWN;
  if (e.stack == FaultEvent::Stack::SamePlace) {
    // The thread is where its last full event was (one memset over many
    // pages): that event's stack.
    auto last = fault_thread_stack_.find(e.tid);
    if (last != fault_thread_stack_.end() && last->second.first == e.trace_id) stack_id = last->second.second;
  } else if (e.stack == FaultEvent::Stack::Full) {
    stack_id = stacks_.fault_stack(pid, e);
    // Bounded like the kernel's LRU of places (16k threads): past that a
    // thread's next short event counts under an unknown stack.
    if (fault_thread_stack_.size() >= (1u << 16)) fault_thread_stack_.clear();
    fault_thread_stack_[e.tid] = {e.trace_id, stack_id};
  }
  pages_.touch(e.trace_id, e.address, stack_id, e.ts_ns, e.weight);
  if (stack_id != LS_STACK_UNKNOWN) stacks_.frames(e.trace_id, pid, stack_id);  // symbolized now
}

void EventLedgers::release_gone_pages() {
  if (std::optional<PageCheck::Result> found = page_check_.take()) {
    // A page touched again after the batch was read stays on the books.
    const TracedImage* image = images_.find(found->id);
    if (image && !image->exited() && !found->gone.empty()) {
      log_debug("PID " + std::to_string(image->pid()) + ": " + std::to_string(found->gone.size()) +
                " touched pages gone");
      pages_.release(found->id, found->gone, found->read_ns);
    }
  }
  if (!page_check_.idle()) return;  // the last batch is still being read
  constexpr size_t kBatch = 16384;  // pages per batch (128 KiB of pagemap entries at most)
  std::vector<uint32_t> ids = pages_.images();
  // The next image with live pages on the books, from where the last batch
  // ended (the image it was in, the page after it).
  for (size_t n = 0; n <= ids.size(); ++n) {
    auto it = std::lower_bound(ids.begin(), ids.end(), check_image_);
    if (it == ids.end()) {
      if (ids.empty() || n == ids.size()) return;
      it = ids.begin();
      check_page_ = 0;
    }
    if (*it != check_image_) check_page_ = 0;
    check_image_ = *it;
    const TracedImage* image = images_.find(check_image_);
    std::vector<uint64_t> pages;
    if (image && !image->exited()) pages = pages_.pages(check_image_, check_page_, kBatch);
    if (pages.empty()) {
      ++check_image_;  // on to the next image
      check_page_ = 0;
      continue;
    }
    check_page_ = pages.back() + 1;
    page_check_.submit(PageCheck::Batch{check_image_, image->pid(), std::move(pages), pages_.page_size()});
    return;
  }
}

void EventLedgers::image_execd(TraceId old, TraceId next) { resources_.image_execd(old, next); }

void EventLedgers::image_ended(const TracedImage& image) {
  if (image.end == End::Exit) resources_.process_exited(image.id);  // exit unmaps and closes everything
  // Exit and exec both leave the image's memory behind; a detached one is
  // no longer watched.
  pages_.process_exited(image.id);
}

void EventLedgers::forget(TraceId id) {
  resources_.forget(id);
  pages_.forget(id);
}

std::vector<LedgerRow> EventLedgers::rows() const {
  std::vector<LedgerRow> rows;
  for (const ResourceRow& r : resources_.rows()) rows.push_back(ledger_row(r));
  for (const ResourceRow& r : pages_.rows()) rows.push_back(ledger_row(r));
  return rows;
}

}  // namespace leakscope
