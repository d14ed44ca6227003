#include "tracer/stack_store.h"

#include <algorithm>
#include <climits>
#include <string_view>
#include <tuple>

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

StackStore::StackStore(const Kernel& kernel, Symbolizer& symbolizer, const AddressSpaces& spaces,
                       size_t max_user_stacks)
    : kernel_(kernel), symbolizer_(symbolizer), spaces_(spaces), max_user_stacks_(max_user_stacks) {}

const StackStore::Resolved& StackStore::resolved(TraceId id, pid_t pid, int32_t stack_id) {
  auto key = std::make_pair(id, stack_id);
  auto it = frames_.find(key);
  if (it != frames_.end()) {
    Resolved& known = it->second;
    std::erase_if(known.unnamed, [&](std::pair<size_t, NameTicket>& pending) {
      return symbolizer_.name_later(known.frames[pending.first], pending.second);
    });
    return known;
  }
  Resolved r;
  for (uint64_t address : addresses(stack_id)) {
    // The kernel's CFI walk marks where it stopped at a frame it could
    // not trust.
    if (address == LS_FRAME_TRUNCATED) {
      r.truncated = true;
      break;
    }
    // Resolved before it is judged: resolve() reads the maps (and the perf
    // map) again when nothing holds the address, so code mapped since the
    // last read (a dlopen, fresh JIT code) counts as code.
    std::optional<NameTicket> later;
    Frame frame = symbolizer_.resolve(pid, address, &later);
    if (!symbolizer_.is_code(pid, address)) {
      r.truncated = true;
      break;
    }
    if (later) r.unnamed.emplace_back(r.frames.size(), std::move(*later));
    r.frames.push_back(std::move(frame));
  }
  return frames_[key] = std::move(r);
}

int32_t StackStore::intern(std::vector<uint64_t> stack) {
  if (stack.empty()) return LS_STACK_UNKNOWN;
  auto it = user_ids_.find(stack);
  if (it != user_ids_.end()) return it->second;
  if (user_stacks_.size() >= max_user_stacks_) return LS_STACK_UNKNOWN;
  int32_t id = kUserStackBase + static_cast<int32_t>(user_stacks_.size());
  user_stacks_.push_back(stack);
  user_ids_.emplace(std::move(stack), id);
  return id;
}

std::vector<uint64_t> StackStore::addresses(int32_t stack_id) const {
  if (stack_id >= kUserStackBase) {
    size_t i = static_cast<size_t>(stack_id - kUserStackBase);
    return i < user_stacks_.size() ? user_stacks_[i] : std::vector<uint64_t>{};
  }
  return kernel_.read_stack(stack_id);
}

int32_t StackStore::syscall_stack(pid_t pid, const SyscallEvent& e) {
  if (e.frames.empty()) return LS_STACK_UNKNOWN;
  if (e.unwound) {
    // Exact frames: the wrapper's pc goes when it is libc's, so that the
    // stack starts, like a heap stack, at the return into its caller.
    const AddressSpace* space = spaces_.find(pid);
    const bool wrapper = e.frames.size() > 1 && space && runtime_library(space->module_path(e.frames[0]));
    return intern(std::vector<uint64_t>(e.frames.begin() + (wrapper ? 1 : 0), e.frames.end()));
  }
  std::vector<uint64_t> stack;
  for (uint64_t word : e.stack_top) {
    if (symbolizer_.is_code(pid, word)) {
      stack.push_back(word);
      break;
    }
  }
  for (size_t i = 1; i < e.frames.size(); ++i) stack.push_back(e.frames[i]);
  if (stack.empty()) stack.push_back(e.frames[0]);
  return intern(std::move(stack));
}

int32_t StackStore::fault_stack(pid_t pid, const FaultEvent& e) {
  std::vector<uint64_t> pcs = e.frames.empty() ? unwind_fault(pid, e) : e.frames;
  const AddressSpace* space = spaces_.find(pid);
  size_t skip = 0;
  while (space && skip < pcs.size() && pcs[skip] != LS_FRAME_TRUNCATED &&
         runtime_library(space->module_path(pcs[skip] - (skip ? 1 : 0))))
    ++skip;
  if (skip < pcs.size()) pcs.erase(pcs.begin(), pcs.begin() + static_cast<std::ptrdiff_t>(skip));
  return intern(std::move(pcs));
}

std::vector<uint64_t> StackStore::unwind_fault(pid_t pid, const FaultEvent& e) {
  StackSnapshot snapshot;
  static_assert(kDwarfRegs == LS_DWARF_REGS);
  std::copy(e.regs.begin(), e.regs.end(), snapshot.regs.begin());
  snapshot.stack_base = snapshot.regs[kDwarfRsp];
  snapshot.stack = e.stack_bytes;
  snapshot.hijacked.assign(e.hijacked.begin(), e.hijacked.end());
  return symbolizer_.unwind(pid, snapshot, LS_MAX_STACK_DEPTH);
}

void StackStore::fold_frame_pointer_rows(std::vector<LedgerRow>& rows) {
  auto walked_by_fp = [](const LedgerRow& r) { return r.fp_walked && r.stack_id >= 0 && r.stack_id < kUserStackBase; };
  if (std::none_of(rows.begin(), rows.end(), walked_by_fp)) return;
  auto stack = [this](int32_t id) -> const std::vector<uint64_t>& {
    auto it = kernel_addresses_.find(id);
    if (it == kernel_addresses_.end()) it = kernel_addresses_.emplace(id, kernel_.read_stack(id)).first;
    return it->second;
  };
  using Group = std::tuple<TraceId, Kind, uint32_t>;
  std::map<Group, std::vector<size_t>> walked_by_cfi;
  for (size_t i = 0; i < rows.size(); ++i)
    if (!rows[i].fp_walked && rows[i].stack_id >= 0 && rows[i].stack_id < kUserStackBase)
      walked_by_cfi[{rows[i].trace_id, rows[i].kind, rows[i].fn}].push_back(i);
  std::vector<bool> folded(rows.size(), false);
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!walked_by_fp(rows[i])) continue;
    auto group = walked_by_cfi.find({rows[i].trace_id, rows[i].kind, rows[i].fn});
    if (group == walked_by_cfi.end()) continue;
    const std::vector<uint64_t>& prefix = stack(rows[i].stack_id);
    if (prefix.empty()) continue;
    size_t twin = rows.size(), twins = 0;
    for (size_t j : group->second) {
      if (rows[j].stack_id == rows[i].stack_id) {  // the same frames both ways
        twin = j;
        twins = 1;
        break;
      }
      const std::vector<uint64_t>& full = stack(rows[j].stack_id);
      if (full.size() > prefix.size() && std::equal(prefix.begin(), prefix.end(), full.begin())) {
        twin = j;
        ++twins;
      }
    }
    if (twins != 1) continue;
    LedgerValue& into = rows[twin].value;
    const LedgerValue& from = rows[i].value;
    // -1: every object of the row counted (not sampled).
    const int64_t into_counted = rows[twin].counted_objects >= 0 ? rows[twin].counted_objects : into.live_objects;
    const int64_t from_counted = rows[i].counted_objects >= 0 ? rows[i].counted_objects : from.live_objects;
    const bool sampled = rows[twin].counted_objects >= 0 || rows[i].counted_objects >= 0;
    into.live_bytes += from.live_bytes;
    into.live_objects += from.live_objects;
    into.allocs += from.allocs;
    into.frees += from.frees;
    into.bytes_allocated += from.bytes_allocated;
    into.first_ns = std::min(into.first_ns, from.first_ns);
    if (sampled) rows[twin].counted_objects = into_counted + from_counted;
    folded[i] = true;
  }
  size_t kept = 0;
  for (size_t i = 0; i < rows.size(); ++i)
    if (!folded[i]) rows[kept++] = std::move(rows[i]);
  rows.resize(kept);
}

int32_t StackStore::intern_named(TraceId id, std::string identity, std::vector<Frame> frames, size_t leak_site) {
  if (frames.empty()) return LS_STACK_UNKNOWN;
  auto key = std::make_pair(id, std::move(identity));
  if (auto it = named_ids_.find(key); it != named_ids_.end()) return it->second;
  if (named_ids_.size() >= max_user_stacks_ || next_named_id_ == INT32_MAX) return LS_STACK_UNKNOWN;
  const int32_t stack_id = next_named_id_++;
  named_ids_.emplace(std::move(key), stack_id);
  Resolved r;
  r.leak_site = std::min(leak_site, frames.size() - 1);
  r.frames = std::move(frames);
  frames_[{id, stack_id}] = std::move(r);
  return stack_id;
}

void StackStore::forget(TraceId id) {
  for (auto it = named_ids_.lower_bound({id, std::string()}); it != named_ids_.end() && it->first.first == id;)
    it = named_ids_.erase(it);
  for (auto it = frames_.lower_bound({id, INT32_MIN}); it != frames_.end() && it->first.first == id;)
    it = frames_.erase(it);
}

}  // namespace leakscope
