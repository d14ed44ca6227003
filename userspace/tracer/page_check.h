// Kind fault's check of which booked pages a process has given back, off the
// trace loop. Reading /proc/PID/pagemap walks the process's page tables
// under its mmap lock; on a busy process (redis growing 40 MiB/s, measured)
// one read waited 10-20 s for that lock. A worker thread does the reads, one
// batch at a time; the loop hands it a batch when it is idle and takes what
// it found on a later tick. The worker is never joined: a read stuck on a
// lock must not hold the tracer's exit (it dies with the process).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "core/types.h"

namespace leakscope {

class PageCheck {
 public:
  struct Batch {
    TraceId id = 0;
    pid_t pid = 0;
    std::vector<uint64_t> pages;  // ascending
    uint64_t page_size = 4096;
  };
  struct Result {
    TraceId id = 0;
    std::vector<uint64_t> gone;   // pages of the batch no longer there
    bool process_gone = false;    // its pagemap could not be read
    uint64_t read_ns = 0;         // CLOCK_MONOTONIC (bpf_ktime_get_ns's clock) before the read
  };

  PageCheck();
  ~PageCheck();
  PageCheck(const PageCheck&) = delete;
  PageCheck& operator=(const PageCheck&) = delete;

  // Whether a batch may be submitted: none read or waiting to be taken.
  bool idle() const;
  // False (and nothing done) when not idle.
  bool submit(Batch batch);
  // What the worker found since the last call.
  std::optional<Result> take();

 private:
  struct State;
  std::shared_ptr<State> state_;  // shared with the worker, which may outlive us
};

}  // namespace leakscope
