// One trace session: the state the trace loop carries from tick to tick and
// the steps it takes. Internal to the tracer module; split over
// trace_session.cpp (attach, tick, loop), lifecycle.cpp (fork, exec, exit,
// what is kept of ended images), host_watch.cpp (--all: every process,
// drill-down), judging.cpp (detector, alerts, metrics), report_builder.cpp
// and control_requests.cpp.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "alerts/dispatcher.h"
#include "alerts/tracker.h"
#include "collector/collector.h"
#include "control/server.h"
#include "detector/detector.h"
#include "metrics/metrics.h"
#include "probes/session.h"
#include "resources/page_ledger.h"
#include "resources/resource_ledger.h"
#include "report/formats.h"
#include "symbols/symbolizer.h"
#include "target/address_space.h"
#include "timeline/timeline.h"
#include "tracer/command.h"
#include "tracer/config.h"
#include "tracer/report_dir.h"
#include "tracer/signal_watch.h"
#include "tracer/target_set.h"

namespace leakscope {

class TraceSession {
 public:
  explicit TraceSession(const TraceConfig& config);
  int run();

 private:
  double now() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  // trace_session.cpp
  TraceId attach_pid(pid_t pid, Origin origin = Origin::Pid);
  void detach_pid(pid_t pid, double t);
  void start_command();
  void tick(double t);
  void refresh(TracedProcess& proc, double t);
  void replan(TracedProcess& proc, double t, bool quiet_failure);
  const std::vector<Frame>& frames_for(TraceId id, int32_t stack_id);
  void apply_syscall_events(double t);
  int32_t syscall_stack_id(pid_t pid, const ls_sys_event& e);
  int32_t intern_stack(std::vector<uint64_t> stack);
  // faults.cpp (kind fault)
  void apply_fault_events();
  std::vector<uint64_t> fault_stack(pid_t pid, const ls_fault_event& e);
  void release_gone_pages();
  std::vector<LedgerRow> resource_rows() const;
  bool should_stop_for_targets() const;
  TracedProcess* live_image(pid_t pid);
  // lifecycle.cpp
  bool on_lifecycle_event(const ls_sys_event& e, double t);
  TracedProcess& adopt(pid_t pid, TraceId id, Origin origin, const TracedProcess* parent, double t);
  void end_image(TracedProcess& proc, End why, double t);
  void reconcile_targets(double t);
  void close_ended(std::vector<LedgerRow>& kernel_rows);
  void forget_image(TraceId id);
  void prune_ended();
  // host_watch.cpp
  void scan_host();
  bool host_wants(pid_t pid, const ProcessInfo& info, const std::string& cgroup) const;
  void sample_rss(double t);
  void steer_drills(double t);
  // judging.cpp
  void judge(double t);
  void publish_metrics(double tick_seconds);
  AlertSubject subject_for(const LedgerRow& row, const Assessment& a);
  // report_builder.cpp
  Report build_report(double t, bool final, bool with_ages = true);
  // control_requests.cpp
  ControlReply handle_control(const nlohmann::json& request);
  nlohmann::json status_json() const;
  nlohmann::json enabled_kinds() const;
  void write_report_files(const char* why);

  const TraceConfig& config_;
  SignalWatch signals_;
  std::unique_ptr<Session> session_;
  Collector collector_;
  AddressSpaces spaces_;              // before symbolizer_, which reads it
  Symbolizer symbolizer_{spaces_};
  Timeline timeline_;
  TargetSet targets_;                 // by trace id, ended images included
  std::map<pid_t, TraceId> live_;     // PID -> its current image
  TraceId next_id_ = 1;               // userspace's trace ids (below LS_FIRST_KERNEL_ID)
  std::map<TraceId, Sample> rss_;     // --all: each live image's memory this tick
  std::map<pid_t, uint64_t> host_skipped_;   // --all: PID -> start time, not to be traced
  std::map<TraceId, double> drill_cooldown_; // --all: no new drill-down before then
  std::optional<ChildCommand> child_;
  std::map<std::pair<TraceId, int32_t>, std::vector<Frame>> frames_;
  std::vector<LedgerRow> rows_;
  ResourceLedger resources_;
  PageLedger pages_;                  // kind fault
  // Kind fault: thread -> (image, stack) of its last full fault event.
  std::unordered_map<uint32_t, std::pair<TraceId, int32_t>> fault_thread_stack_;
  // Stacks of syscall and page-fault events, composed in userspace (see
  // ls_sys_event, ls_fault_event);
  // their ids start at kSyscallStackBase, apart from the kernel's stack ids.
  std::map<std::vector<uint64_t>, int32_t> syscall_stack_ids_;
  std::vector<std::vector<uint64_t>> syscall_stacks_;
  std::map<SeriesKey, Assessment> assessments_;
  AlertTracker alerts_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<MetricsServer> metrics_;
  std::unique_ptr<ControlServer> control_;
  std::unique_ptr<ReportDir> report_dir_;
  std::string host_;
  std::chrono::steady_clock::time_point start_;
  double last_tick_ = 0;
  double last_tick_seconds_ = 0;      // wall time the last tick took
  double last_tick_cpu_ = 0;          // CPU time it took
  uint64_t ticks_ = 0;
};

SeriesKey key_of(const LedgerRow& row);

inline constexpr int32_t kSyscallStackBase = 1 << 24;

}  // namespace leakscope
