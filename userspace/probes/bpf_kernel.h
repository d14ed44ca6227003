// The kernel side over libbpf: the BPF object, its maps, its event rings
// and everything attached, behind the Kernel interface.
#pragma once

#include "probes/attachments.h"
#include "probes/bpf_object.h"
#include "probes/event_rings.h"
#include "probes/kernel.h"
#include "probes/kernel_maps.h"
#include "probes/signal_reader.h"
#include "probes/unwind_maps.h"

namespace leakscope {

class BpfKernel final : public Kernel {
 public:
  explicit BpfKernel(const KernelOptions& options);

  void track(pid_t pid, TraceId id, bool follow_children) override;
  void untrack(pid_t pid) override;
  std::map<pid_t, KernelImage> read_images() const override;

  AttachResult attach_allocator(pid_t pid, const AllocatorPlan& plan) override;
  void detach_allocator(pid_t pid) override;
  bool has_allocator_probes(pid_t pid) const override;
  size_t probes_attached() const override;

  std::optional<std::vector<LedgerRow>> read_ledger() const override;
  std::vector<uint64_t> read_stack(int32_t stack_id) const override;
  ObjectAgeScan object_age_scan() const override;
  void drop_image(TraceId id, bool objects) override;

  std::optional<uint32_t> load_unwind_table(std::span<const uint64_t> words, std::string* error) override;
  void drop_unwind_table(uint32_t table) override;
  bool set_unwind_space(pid_t pid, const ls_unwind_space& space) override;
  void clear_unwind_space(pid_t pid) override;

  std::optional<uint64_t> signal_handler(pid_t pid, int signo) override { return signals_.handler(pid, signo); }

  Drained drain_events(const EventHandlers& handlers, Deadline until) override;
  Drained drain_faults(const std::function<void(const FaultEvent&)>& visit, Deadline until) override;

  Counters counters() const override;
  size_t entries(MapName map) const override;
  std::vector<MapMemory> map_memory() const override;
  const MapSizes& sizes() const override { return object_.sizes(); }
  SyscallProbes syscall_probes() const override { return object_.syscall_probes(); }
  bool heap_enabled() const override { return object_.kind_enabled(LS_KIND_HEAP); }
  void set_heap_sample_shift(uint32_t shift) override { maps_.set_heap_sample_shift(shift); }
  uint64_t live_object_entries() const override { return maps_.live_object_entries(); }

 private:
  // Declared in the order they are built; links and rings go before the
  // object they belong to.
  BpfObject object_;
  KernelMaps maps_;
  UnwindMaps unwind_;
  EventRings rings_;
  Attachments attachments_;
  SignalReader signals_;  // its own object, loaded on the first query
};

}  // namespace leakscope
