#include "runtimes/js_ledger.h"

#include <algorithm>

namespace leakscope {

void JsLedger::apply(const JsProfile& profile, const Intern& intern) {
  for (auto& [stack_id, s] : stacks_) {
    s.value.live_bytes = 0;
    s.value.live_objects = 0;
    s.live_samples = 0;
  }
  for (const JsStack& js : profile.stacks) {
    Stack& s = stacks_[intern(js)];
    s.value.live_bytes += js.live_bytes;
    s.value.live_objects += js.live_objects;
    s.live_samples += js.live_samples;
    s.value.allocs += uint64_t(std::max<int64_t>(0, js.new_samples));
  }
  for (auto& [stack_id, s] : stacks_) {
    // Samples taken before the first profile count as made then.
    s.value.allocs = std::max<uint64_t>(s.value.allocs, uint64_t(s.live_samples));
    s.value.frees = s.value.allocs - uint64_t(s.live_samples);
  }
}

void JsLedger::end_sampling() {
  for (auto& [stack_id, s] : stacks_) {
    s.value.frees += uint64_t(s.live_samples);
    s.value.live_bytes = 0;
    s.value.live_objects = 0;
    s.live_samples = 0;
  }
}

std::vector<LedgerRow> JsLedger::rows(TraceId id) const {
  std::vector<LedgerRow> out;
  out.reserve(stacks_.size());
  for (const auto& [stack_id, s] : stacks_) {
    LedgerRow row;
    row.trace_id = id;
    row.kind = Kind::Js;
    row.stack_id = stack_id;
    row.value = s.value;
    row.counted_objects = s.live_samples;
    out.push_back(row);
  }
  return out;
}

}  // namespace leakscope
