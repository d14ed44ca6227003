// Delivers alert records to sinks without ever stalling tracing: one worker
// thread per sink, a bounded queue, timeouts, retries with backoff, counters.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "alerts/alert.h"

namespace leakscope {

// A destination. deliver() may block up to its own timeout; it runs on the
// sink's worker thread only.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual std::string name() const = 0;  // "stdout", "jsonl:/var/log/x", ...
  // Returns true when delivered; false (with *error) to be retried.
  virtual bool deliver(const AlertRecord& record, std::string* error) = 0;
};

// Parses "stdout", "jsonl:FILE", "alertmanager:URL", "journald", "exec:COMMAND".
// Throws FatalError(Usage) on a bad spec.
std::unique_ptr<Sink> make_sink(const std::string& spec);

struct SinkHealth {
  std::string name;
  uint64_t delivered = 0;
  uint64_t failures = 0;   // failed attempts (each retry counts)
  uint64_t dropped = 0;    // records given up on (queue full or retries exhausted)
  size_t queued = 0;
  std::string last_error;
};

struct DispatcherOptions {
  size_t queue_capacity = 256;
  int max_attempts = 5;
  double initial_backoff_seconds = 0.5;  // doubled after each failure, capped at 30 s
};

class Dispatcher {
 public:
  Dispatcher(std::vector<std::unique_ptr<Sink>> sinks, DispatcherOptions options = {});
  ~Dispatcher();  // flushes what it can within ~2 s, then stops the workers
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  void submit(const AlertRecord& record);  // never blocks
  std::vector<SinkHealth> health() const;
  // Waits until every queue is empty or `timeout_seconds` passed.
  bool drain(double timeout_seconds);

 private:
  struct Worker;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace leakscope
