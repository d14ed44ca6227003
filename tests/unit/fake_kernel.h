// A kernel side in memory, for unit tests of the tracer's parts: what the
// tracer asks of it is recorded, what it reads is what the test put there.
// And an image observer that ignores every notice.
#pragma once

#include <map>
#include <set>
#include <vector>

#include "probes/kernel.h"
#include "tracer/image_table.h"

namespace leakscope::testing {

class FakeKernel final : public Kernel {
 public:
  // What the kernel holds, set by the test.
  std::map<pid_t, KernelImage> filter;
  std::vector<LedgerRow> ledger;
  std::map<int32_t, std::vector<uint64_t>> stacks;
  Counters counter_values{};
  MapSizes map_sizes;
  bool heap = true;
  // What the tracer did, recorded.
  std::set<pid_t> probed;
  std::vector<pid_t> detached;
  std::vector<TraceId> dropped;
  int attach_calls = 0;
  bool fail_attach = false;
  std::map<uint32_t, std::vector<uint64_t>> unwind_tables;  // handle -> words
  uint32_t next_table = 1;
  std::map<pid_t, ls_unwind_space> unwind_spaces;
  bool refuse_tables = false;

  void track(pid_t pid, TraceId id, bool follow) override { filter[pid] = KernelImage{id, follow}; }
  void untrack(pid_t pid) override {
    filter.erase(pid);
    detach_allocator(pid);
  }
  std::map<pid_t, KernelImage> read_images() const override { return filter; }
  AttachResult attach_allocator(pid_t pid, const AllocatorPlan& plan) override {
    ++attach_calls;
    if (fail_attach) return {};
    probed.insert(pid);
    return AttachResult{plan.sites.size(), {}};
  }
  void detach_allocator(pid_t pid) override {
    if (probed.erase(pid)) detached.push_back(pid);
  }
  bool has_allocator_probes(pid_t pid) const override { return probed.count(pid) != 0; }
  size_t probes_attached() const override { return probed.size(); }
  std::optional<std::vector<LedgerRow>> read_ledger() const override { return ledger; }
  std::vector<uint64_t> read_stack(int32_t id) const override {
    auto it = stacks.find(id);
    return it == stacks.end() ? std::vector<uint64_t>{} : it->second;
  }
  ObjectAgeScan object_age_scan() const override {
    return [](const std::set<TraceId>&) { return std::vector<ObjectAges>{}; };
  }
  void drop_image(TraceId id, bool) override {
    dropped.push_back(id);
    std::erase_if(ledger, [id](const LedgerRow& r) { return r.trace_id == id; });
  }
  std::optional<uint32_t> load_unwind_table(std::span<const uint64_t> words, std::string* error) override {
    if (refuse_tables) {
      if (error) *error = "refused";
      return std::nullopt;
    }
    const uint32_t table = next_table;
    next_table += static_cast<uint32_t>(words.size());
    unwind_tables[table].assign(words.begin(), words.end());
    return table;
  }
  void drop_unwind_table(uint32_t table) override { unwind_tables.erase(table); }
  bool set_unwind_space(pid_t pid, const ls_unwind_space& space) override {
    unwind_spaces[pid] = space;
    return true;
  }
  void clear_unwind_space(pid_t pid) override { unwind_spaces.erase(pid); }
  std::optional<uint64_t> signal_handler(pid_t, int) override { return std::nullopt; }
  Drained drain_events(const EventHandlers&, Deadline) override { return {}; }
  Drained drain_faults(const std::function<void(const FaultEvent&)>&, Deadline) override { return {}; }
  Counters counters() const override { return counter_values; }
  size_t entries(MapName) const override { return 0; }
  void set_heap_sample_shift(uint32_t shift) override { heap_sample_shift = shift; }
  uint64_t live_object_entries() const override { return object_entries; }
  uint32_t heap_sample_shift = 0;
  uint64_t object_entries = 0;
  std::vector<MapMemory> map_memory() const override { return {}; }
  const MapSizes& sizes() const override { return map_sizes; }
  SyscallProbes syscall_probes() const override { return SyscallProbes::None; }
  bool heap_enabled() const override { return heap; }
};

// For tests of parts that need an image table but not its notices.
class NullImageObserver final : public ImageObserver {
 public:
  void image_ended(const TracedImage&) override {}
  void image_execd(TraceId, TraceId) override {}
  void image_closed(const TracedImage&) override {}
  void image_forgotten(TraceId) override {}
};

}  // namespace leakscope::testing
