// One process image's kind-js ledger: what each of its JS stacks holds as
// of the last profile, and what was sampled and died under it since the
// first. Pure: profiles in, ledger rows out.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "core/types.h"
#include "runtimes/js_profile.h"

namespace leakscope {

class JsLedger {
 public:
  // The stack id of a JS stack (the session's stack store interns it).
  using Intern = std::function<int32_t(const JsStack&)>;

  // The profile taken now replaces the last one: each stack holds what the
  // profile says, stacks no longer in it hold nothing (their objects died).
  // Stacks of the same id add up (stacks V8 tells apart that are one leak).
  void apply(const JsProfile& profile, const Intern& intern);

  // Sampling ended (a drill-down's end): nothing is known live any more;
  // what was made and released stays counted.
  void end_sampling();

  // Every stack ever seen, live or not, as rows of kind js of image `id`.
  // Objects and bytes are V8's estimates; allocs and frees count sampled
  // objects (counted_objects: those live now, for the error bars).
  std::vector<LedgerRow> rows(TraceId id) const;

 private:
  struct Stack {
    LedgerValue value;
    int64_t live_samples = 0;
  };
  std::map<int32_t, Stack> stacks_;
};

}  // namespace leakscope
