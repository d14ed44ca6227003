#include "probes/bpf_kernel.h"


namespace leakscope {

BpfKernel::BpfKernel(const KernelOptions& options)
    : object_(options),
      maps_(object_, options.sample_every),
      unwind_(object_),
      rings_(object_),
      attachments_(object_, options.probes_at_entry),
      signals_(options.btf_path) {
  attachments_.attach_tracepoints(options.tracefs);
}

std::unique_ptr<Kernel> open_kernel(const KernelOptions& options) {
  return std::make_unique<BpfKernel>(options);
}

void BpfKernel::track(pid_t pid, TraceId id, bool follow_children) { maps_.track(pid, id, follow_children); }

void BpfKernel::untrack(pid_t pid) {
  maps_.untrack(pid);
  attachments_.detach_allocator(pid);
}

std::map<pid_t, KernelImage> BpfKernel::read_images() const { return maps_.read_images(); }

AttachResult BpfKernel::attach_allocator(pid_t pid, const AllocatorPlan& plan) {
  return attachments_.attach_allocator(pid, plan);
}

void BpfKernel::detach_allocator(pid_t pid) { attachments_.detach_allocator(pid); }

bool BpfKernel::has_allocator_probes(pid_t pid) const { return attachments_.has_allocator_probes(pid); }

size_t BpfKernel::probes_attached() const { return attachments_.probes_attached(); }

std::optional<std::vector<LedgerRow>> BpfKernel::read_ledger() const { return maps_.read_ledger(); }

std::vector<uint64_t> BpfKernel::read_stack(int32_t stack_id) const { return maps_.read_stack(stack_id); }

ObjectAgeScan BpfKernel::object_age_scan() const { return maps_.object_age_scan(); }

void BpfKernel::drop_image(TraceId id, bool objects) { maps_.drop_image(id, objects); }

std::optional<uint32_t> BpfKernel::load_unwind_table(std::span<const uint64_t> words, std::string* error) {
  return unwind_.load_table(words, error);
}
void BpfKernel::drop_unwind_table(uint32_t table) { unwind_.drop_table(table); }
bool BpfKernel::set_unwind_space(pid_t pid, const ls_unwind_space& space) {
  return unwind_.set_space(pid, space);
}
void BpfKernel::clear_unwind_space(pid_t pid) { unwind_.clear_space(pid); }

Drained BpfKernel::drain_events(const EventHandlers& handlers, Deadline until) {
  return rings_.drain_events(handlers, until);
}

Drained BpfKernel::drain_faults(const std::function<void(const FaultEvent&)>& visit, Deadline until) {
  return rings_.drain_faults(visit, until);
}

Counters BpfKernel::counters() const { return maps_.counters(); }

size_t BpfKernel::entries(MapName map) const { return maps_.entries(map); }

std::vector<MapMemory> BpfKernel::map_memory() const {
  std::vector<MapMemory> memory = maps_.map_memory();
  // unwind_words is listed with the object's maps, at its full size: say
  // how much of it the tables fill.
  for (MapMemory& m : memory)
    if (m.name == "unwind_words")
      m.name = "unwind tables (" + std::to_string(unwind_.tables()) + ", " +
               std::to_string(unwind_.table_bytes() >> 10) + " KiB used)";
  return memory;
}

}  // namespace leakscope
