// Prometheus metrics: a plain snapshot the tracer publishes each tick, its
// text exposition, and a small HTTP server for GET /metrics.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "report/health.h"

namespace leakscope {

struct ProcessKindMetrics {
  pid_t pid = 0;
  std::string comm;
  std::string kind;            // "heap", "mmap", ...
  int64_t live_bytes = 0;
  int64_t live_objects = 0;
  double growth_bytes_per_second = 0;
  double growth_objects_per_second = 0;
  uint64_t suspected_leaks = 0;  // stacks with verdict "leak"
};

struct SinkMetrics {
  std::string sink;  // "alertmanager", "jsonl", ... (the type, not the URL: bounded labels)
  uint64_t delivered = 0;
  uint64_t failures = 0;
  uint64_t dropped = 0;
  size_t queued = 0;
};

struct MetricsSnapshot {
  std::string version;
  std::vector<ProcessKindMetrics> processes;
  uint64_t ticks = 0;
  double last_tick_seconds = 0;      // how long the last tick took
  double last_tick_cpu_seconds = 0;  // CPU (user + system) the last tick took
  uint64_t ticks_late = 0;           // ticks that began a period or more after they were due
  uint64_t tick_overruns = 0;        // ticks that took longer than their period
  double last_tick_lag_seconds = 0;  // how late the last tick began
  uint64_t tracer_rss_bytes = 0;     // leakscope's own resident memory
  uint64_t map_bytes = 0;            // kernel memory of its BPF maps
  double objects_map_fill = 0;       // 0..1
  double ledger_map_fill = 0;        // 0..1
  Health health;                     // its losses are leakscope_dropped_total, by reason
  uint64_t symbol_cache_modules = 0;
  uint64_t frame_names_pending = 0;  // frame names being looked up off the loop
  uint64_t unwind_tables_compiling = 0;  // modules whose unwind table compiles off the loop
  uint64_t alerts_firing = 0;
  std::vector<SinkMetrics> sinks;
};

// Prometheus text format 0.0.4. Labels are bounded: pid, comm, kind, sink type.
std::string render_prometheus(const MetricsSnapshot& snapshot);

// Before tracing starts: ADDR:PORT is well formed and can be bound now (the
// test socket is closed at once). Throws FatalError(Usage) when not: an
// address of no local interface, a port in use or reserved.
void check_listen_address(const std::string& addr_port);

// Serves GET /metrics on ADDR:PORT from a background thread.
class MetricsServer {
 public:
  // Throws FatalError(Usage) for a bad address, FatalError(Failure) when the
  // port cannot be bound.
  explicit MetricsServer(const std::string& addr_port);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  void publish(MetricsSnapshot snapshot);
  int port() const;  // the bound port (useful with port 0)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace leakscope
