// Graceful degradation of the heap kind: when the objects map nears full,
// new heap blocks are kept 1 in 2, then 1 in 4, ... instead of being
// dropped once it is full. Each kept block carries the weight it was kept
// at (bpf/heap.bpf.c), every free of a kept block is honoured, so the
// ledger's figures stay unbiased estimates; stacks say their error bars.
// The rate only rises, one step at a time, while the map stays over the
// mark; the report says when and why.
#pragma once

#include <cstdint>
#include <vector>

#include "probes/kernel.h"
#include "report/model.h"

namespace leakscope {

class HeapSampling {
 public:
  // Over this share of the objects map, the rate rises one step...
  static constexpr double kHighWater = 0.75;
  // ...at most once per this many seconds, so a step can take effect, and
  // only while the map would be full within kHorizonSeconds at the rate it
  // filled since the last tick (a map that levelled off keeps its rate).
  static constexpr double kStepSeconds = 2.0;
  static constexpr double kHorizonSeconds = 60.0;

  HeapSampling(Kernel& kernel, uint64_t capacity) : kernel_(kernel), capacity_(capacity) {}

  // Once per tick.
  void tick(double t);
  const HeapSamplingInfo& info() const { return info_; }

 private:
  Kernel& kernel_;
  uint64_t capacity_;
  double last_step_ = -1e9;
  double last_t_ = -1;
  uint64_t last_entries_ = 0;
  HeapSamplingInfo info_;
};

}  // namespace leakscope
