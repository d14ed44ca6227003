#include "tracer/heap_sampling.h"

#include <string>

#include "core/bpf_contract.h"
#include "core/log.h"

namespace leakscope {

void HeapSampling::tick(double t) {
  if (capacity_ == 0 || !kernel_.heap_enabled()) return;
  const uint64_t entries = kernel_.live_object_entries();
  const double fill = double(entries) / double(capacity_);
  const double rate = last_t_ >= 0 && t > last_t_ ? (double(entries) - double(last_entries_)) / (t - last_t_) : 0;
  last_t_ = t;
  last_entries_ = entries;
  const bool filling = entries >= capacity_ || (rate > 0 && double(capacity_ - entries) / rate < kHorizonSeconds);
  if (fill < kHighWater || !filling || info_.shift >= LS_MAX_SAMPLE_SHIFT || t - last_step_ < kStepSeconds) return;
  ++info_.shift;
  last_step_ = t;
  kernel_.set_heap_sample_shift(info_.shift);
  info_.steps.push_back(HeapSamplingStep{t, 1u << info_.shift, fill});
  log_warn("objects map " + std::to_string(static_cast<int>(fill * 100)) + "% full (" + std::to_string(entries) +
           " of " + std::to_string(capacity_) + "): from now on 1 in " + std::to_string(1u << info_.shift) +
           " new heap blocks is kept, each counted " + std::to_string(1u << info_.shift) +
           " times; heap figures are estimates");
}

}  // namespace leakscope
