// Kind fault: the page-fault events of traced images (see ls_fault_event in
// bpf/leakscope.h) become page -> stack books (resources/page_ledger.h), and
// pages the processes no longer hold come off them each tick.
#include <algorithm>
#include <string_view>

#include "core/log.h"
#include "target/pagemap.h"
#include "tracer/trace_session.h"

namespace leakscope {

namespace {

// Runtime libraries whose frames stand between a fault and the code that
// asked for the memory: the allocator itself, memset/memcpy, operator new.
bool runtime_library(std::string_view path) {
  auto slash = path.rfind('/');
  std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  for (std::string_view lib : {"libc.so", "libc-", "ld-linux", "libstdc++.so", "libgcc_s.so"})
    if (base.substr(0, lib.size()) == lib) return true;
  return false;
}

}  // namespace

// The faulting thread's stack, leak site first: unwound from the copy with
// the modules' CFI, then the frames inside runtime libraries dropped from
// the top (the fault lands in malloc's internals, or in memset).
std::vector<uint64_t> TraceSession::fault_stack(pid_t pid, const ls_fault_event& e) {
  StackSnapshot snapshot;
  for (int r = 0; r < kDwarfRegs; ++r) snapshot.regs[r] = e.regs[r];
  snapshot.stack_base = e.regs[kDwarfRsp];
  snapshot.stack = std::span<const uint8_t>(e.stack, std::min<size_t>(e.stack_len, sizeof e.stack));
  for (uint64_t ret : e.hijacked)
    if (ret) snapshot.hijacked.push_back(ret);
  std::vector<uint64_t> pcs = symbolizer_.unwind(pid, snapshot, LS_MAX_STACK_DEPTH);
  const AddressSpace* space = spaces_.find(pid);
  size_t skip = 0;
  while (skip < pcs.size() && space != nullptr &&
         runtime_library(space->module_path(pcs[skip] - (skip ? 1 : 0))))
    ++skip;
  if (skip < pcs.size()) pcs.erase(pcs.begin(), pcs.begin() + static_cast<std::ptrdiff_t>(skip));
  return pcs;
}

void TraceSession::apply_fault_events() {
  size_t n = session_->drain_faults([this](const ls_fault_event& e) {
    auto it = targets_.find(e.trace_id);
    if (it == targets_.end() || it->second.exited()) return;
    pid_t pid = static_cast<pid_t>(e.tgid);
    // The kernel side could not always tell (see faults.bpf.c).
    const Mapping* at = spaces_.mapping_at(pid, e.address);
    if (at == nullptr || !at->is_anonymous()) return;
    int32_t stack_id = LS_STACK_UNKNOWN;
    if (e.flags & LS_FAULT_SAME_STACK) {
      // The thread is where its last full event was (one memset over
      // many pages): that event's stack.
      auto last = fault_thread_stack_.find(e.tid);
      if (last != fault_thread_stack_.end() && last->second.first == e.trace_id)
        stack_id = last->second.second;
    } else if (!(e.flags & LS_FAULT_NO_STACK)) {
      stack_id = intern_stack(fault_stack(pid, e));
      // Bounded like the kernel's LRU of places (16k threads): past that a
      // thread's next short event counts under an unknown stack.
      if (fault_thread_stack_.size() >= (1u << 16)) fault_thread_stack_.clear();
      fault_thread_stack_[e.tid] = {e.trace_id, stack_id};
    }
    pages_.touch(e.trace_id, e.address, stack_id, e.ts_ns);
    if (stack_id != LS_STACK_UNKNOWN) frames_for(e.trace_id, stack_id);  // symbolized now
  });
  if (n) log_debug(std::to_string(n) + " page-fault events");
}

// Pages a process no longer holds (unmapped, given back with madvise, a
// trimmed heap) leave the books: asked of /proc/PID/pagemap, so the calls
// that give memory back need no probes.
void TraceSession::release_gone_pages() {
  for (TraceId id : pages_.images()) {
    auto it = targets_.find(id);
    if (it == targets_.end() || it->second.exited()) continue;
    std::vector<uint64_t> pages = pages_.pages(id);
    auto resident = pages_resident(it->second.info.pid, pages, pages_.page_size());
    if (!resident) continue;  // gone: its exit event releases everything
    std::vector<uint64_t> gone;
    for (size_t i = 0; i < pages.size(); ++i)
      if (!(*resident)[i]) gone.push_back(pages[i]);
    if (!gone.empty()) {
      log_debug("PID " + std::to_string(it->second.info.pid) + ": " + std::to_string(gone.size()) +
                " touched pages gone");
      pages_.release(id, gone);
    }
  }
}

}  // namespace leakscope
