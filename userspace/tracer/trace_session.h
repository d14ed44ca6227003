// One trace session: the loop (run, tick) and the wiring of its parts. Each
// part owns its state: the kernel side (probes/kernel.h), the images
// (image_table.h), attaching (attacher.h), the stacks (stack_store.h), the
// ledgers kept from events (event_ledgers.h), the kernel's unwind tables
// (unwind_tables.h), --all (host_watch.h), judging
// (judge.h) and the view of the last tick (tick_view.h), from which reports,
// metrics and status are made. Split over trace_session.cpp (the loop),
// control_requests.cpp (the control socket and report files) and
// session_reload.cpp (SIGHUP: the config reloaded).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "control/server.h"
#include "metrics/metrics.h"
#include "probes/kernel.h"
#include "symbols/symbolizer.h"
#include "target/address_space.h"
#include "timeline/timeline.h"
#include "tracer/attacher.h"
#include "tracer/config.h"
#include "tracer/config_reload.h"
#include "tracer/event_ledgers.h"
#include "tracer/age_scan.h"
#include "tracer/heap_sampling.h"
#include "tracer/host_watch.h"
#include "tracer/image_table.h"
#include "tracer/js_heaps.h"
#include "tracer/judge.h"
#include "tracer/report_dir.h"
#include "tracer/signal_watch.h"
#include "tracer/stack_store.h"
#include "tracer/tick_clock.h"
#include "tracer/tick_view.h"
#include "tracer/unwind_tables.h"

namespace leakscope {

class TraceSession final : private ImageObserver {
 public:
  // `reread`: how to read the config again on SIGHUP (empty: started
  // without --config; SIGHUP stops the trace).
  explicit TraceSession(const TraceConfig& config, ConfigReader reread = {});
  int run();

 private:
  double now() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  // trace_session.cpp
  // `last`: the tick before the final report, whose rings drain for up to
  // kFinalDrainSeconds (events left in them would be lost with the trace).
  void tick(double t, bool last = false);
  void image_ended(const TracedImage& image) override;
  void image_execd(TraceId old, TraceId next) override;
  void image_closed(const TracedImage& image) override;
  void image_forgotten(TraceId id) override;
  // Kind js for images traced from the start or born since (-p, -- CMD,
  // children): started once each is a Node.js process ready for it.
  void start_js_heaps();
  void resolve_live_stacks(const std::vector<LedgerRow>& rows, const TracedImage& image);
  Report report(bool final, bool with_ages = true);
  ReportSources report_sources();
  // Locates the stacks a report built now would carry, so that their names
  // are looked up ahead of it: a report, the final one above all (due
  // kFinalReportWithin after the loop), finds them named instead of asking
  // for every module's first lookup then. Run each tick unless the last run
  // cost more than kNameAheadShare of the period: then every few ticks.
  void name_ahead(double t);
  // After the loop: the events the last tick's drain left in the rings,
  // counted into the final report's health (events_unread_at_exit).
  void count_unread_at_exit();
  // Reads the tracer's own resident memory; near --max-memory, sheds caches.
  void keep_memory_budget();
  void publish_metrics();
  // control_requests.cpp
  ControlReply handle_control(const ControlRequest& request);
  nlohmann::json status_json() const;
  void write_report_files(const char* why);
  // session_reload.cpp: on SIGHUP, the config read again and what a running
  // trace can take applied (the loop's next table and report rescheduled
  // from `t`); the rest logged as needing a restart. A bad file changes nothing.
  void reload_config(double t, double& next_table, double& next_report);

  // The session's own copy, which every part reads: a reload changes the
  // fields a running trace can take (tracer/config_reload.h).
  TraceConfig config_;
  ConfigReader reread_;
  SignalWatch signals_;
  std::unique_ptr<Kernel> kernel_;
  AddressSpaces spaces_;  // before the symbolizer, which reads them
  Symbolizer symbolizer_;
  std::unique_ptr<UnwindTables> unwind_;  // serves every address space read from the start; none with --unwind fp
  Timeline timeline_;
  ImageTable images_;
  Attacher attacher_;
  StackStore stacks_;
  EventLedgers ledgers_;
  std::unique_ptr<JsHeaps> js_;  // kind js (--kinds js, --js, --drill-js)
  std::set<TraceId> js_tried_;   // images kind js was started on or refused (not --drill-js)
  std::optional<HostWatch> host_;  // --all
  Judge judge_;
  TickView view_;
  TickClock clock_;
  // Share of a tick's period each event ring may take to drain (and an
  // on-demand report may wait for frame names).
  static constexpr double kDrainShare = 0.25;
  // ELF objects the symbolizer keeps open (Symbolizer's max_modules).
  static constexpr size_t kMaxSymbolModules = 256;
  // From the end of the loop to the final report, at most: the sinks'
  // last deliveries (kFinalSinkWait of it), then the frame names still
  // being looked up. With the last tick's drains, SIGINT to final report
  // stays under 5 s. A report on request waits a drain share of the tick
  // for names and a fresh object-age scan.
  static constexpr double kFinalReportWithin = 2.0;
  static constexpr double kFinalSinkWait = 1.5;
  // Seconds the last tick's rings may take to drain, each.
  static constexpr double kFinalDrainSeconds = 0.5;
  // Seconds each ring may take to count what the last drain left.
  static constexpr double kUnreadCountSeconds = 0.1;
  // Seconds the start waits for the unwind tables of the processes found
  // then (node's takes about one), so their first stacks are whole; what
  // compiles longer is walked by frame pointer until its table is in.
  static constexpr double kStartUnwindWait = 10.0;
  // Share of a tick's period it may wait for unwind tables being compiled.
  static constexpr double kUnwindWaitShare = 0.1;
  // Share of a tick's period name_ahead may take, over the ticks it skips.
  static constexpr double kNameAheadShare = 0.02;
  int name_ahead_skip_ = 0;  // ticks name_ahead still skips
  Counters last_counters_{};  // the kernel's counters at the last tick
  uint64_t drains_cut_ = 0;  // ticks whose rings were left with events in them
  bool rings_left_full_ = false;  // the last tick's drain ran out of time
  TracerCost own_;           // resident figures kept by keep_memory_budget
  double last_shed_ = -1e9;  // when keep_memory_budget last shed caches
  HeapSampling heap_sampling_;
  AgeScan age_scan_;  // object ages for reports on request
  TickPhases phases_;
  std::unique_ptr<MetricsServer> metrics_;
  std::unique_ptr<ControlServer> control_;
  std::unique_ptr<ReportDir> report_dir_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point stopped_{};  // when the loop ended: the final report is due
                                                     // kFinalReportWithin after it
};

// Kinds the session accounts, by name.
nlohmann::json enabled_kinds(uint32_t kinds_mask);

}  // namespace leakscope
