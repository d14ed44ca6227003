// Kind js: the JavaScript heaps of traced Node.js processes, per JS
// allocation stack, from V8's sampling heap profiler (runtimes/). This is
// where a Node process's inspector is opened — only on request (--kinds js,
// --js, or --drill-js under --all) and only when that is safe — and where
// each sampler's profiles become ledger rows of the session.
//
// Opening the inspector is SIGUSR1 to the process. It is sent only when
// Node's own handler will receive it: a process started with
// --disable-sigusr1 has none (SIGUSR1 would kill it), and one whose code
// listens for SIGUSR1 (process.on('SIGUSR1'): libuv's handler replaces
// Node's) would run its own handler and open nothing. An inspector already
// open (node --inspect) is used and left open; a port held by another
// process (another inspector) is a refusal.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/types.h"
#include "probes/kernel.h"
#include "runtimes/js_heap_sampler.h"
#include "runtimes/js_ledger.h"
#include "symbols/symbolizer.h"
#include "tracer/stack_store.h"

namespace leakscope {

struct JsHeapOptions {
  uint32_t sampling_interval = 32 * 1024;
  double period_seconds = 1.0;  // the tick
};

// Why a process's JS heap is not sampled, in one line (no trailing period).
struct JsRefusal {
  std::string reason;
  bool not_node = false;  // it is no Node.js process at all
};

// What `status` and reports say of one process's JS heap.
struct JsHeapStatus {
  TraceId trace_id = 0;
  pid_t pid = 0;
  std::string state;  // "connecting", "sampling", "failed", "stopped"
  std::string runtime_version;
  bool opened_inspector = false;  // leakscope opened it and closes it
  uint16_t port = 0;
  uint64_t profiles = 0;
  size_t last_profile_bytes = 0;
  double last_pull_seconds = 0;
  std::string error;
};

class JsHeaps {
 public:
  JsHeaps(Kernel& kernel, Symbolizer& symbolizer, StackStore& stacks, JsHeapOptions options);
  ~JsHeaps();  // every sampler stopped (in parallel), each process left as it was
  JsHeaps(const JsHeaps&) = delete;
  JsHeaps& operator=(const JsHeaps&) = delete;

  // Opens `pid`'s inspector (when safe, see above) and starts sampling its
  // JS heap as image `id`. A refusal says why; nothing was sent then.
  std::optional<JsRefusal> start(TraceId id, pid_t pid);
  // Waits (at most `seconds`) until image `id`'s sampler has read its
  // first profile or failed; the failure, if any.
  std::optional<JsRefusal> wait_first_profile(TraceId id, double seconds);
  bool sampling(TraceId id) const {
    auto it = samplers_.find(id);
    return it != samplers_.end() && it->second.sampler;
  }

  // The image ended (exit, exec, detach): its sampler stops; its rows stay.
  void stop(TraceId id);
  void forget(TraceId id);

  // Every js row, live or not: the last profile of each sampler, stacks
  // no longer in it at zero. Failures since the last call are logged once.
  std::vector<LedgerRow> rows();
  std::vector<JsHeapStatus> status() const;

 private:
  struct Heap {
    pid_t pid = 0;
    bool opened_inspector = false;
    uint16_t port = 0;
    std::unique_ptr<JsHeapSampler> sampler;
    std::shared_ptr<const JsProfile> applied;  // the last profile turned into rows
    JsLedger ledger;
    bool failure_logged = false;
  };

  std::string sigusr1_unsafe(pid_t pid);

  Kernel& kernel_;
  Symbolizer& symbolizer_;
  StackStore& stacks_;
  const JsHeapOptions options_;
  std::map<TraceId, Heap> samplers_;  // images sampled now or before (stopped ones keep their rows)
};

// "PID is a Node.js process" hint for a process traced without kind js;
// empty when it is none.
std::string js_hint(pid_t pid);

}  // namespace leakscope
