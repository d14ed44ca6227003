// One trace session: the state the trace loop carries from tick to tick and
// the steps it takes. Internal to the tracer module; split over
// trace_session.cpp (attach, tick, loop), judging.cpp (detector, alerts,
// metrics), report_builder.cpp and control_requests.cpp.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "alerts/dispatcher.h"
#include "alerts/tracker.h"
#include "collector/collector.h"
#include "control/server.h"
#include "detector/detector.h"
#include "metrics/metrics.h"
#include "probes/session.h"
#include "resources/resource_ledger.h"
#include "report/formats.h"
#include "symbols/symbolizer.h"
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
  void attach_pid(pid_t pid);
  void detach_pid(pid_t pid, double t);
  void start_command();
  void tick(double t);
  void refresh(pid_t pid, TracedProcess& proc, double t);
  void replan(pid_t pid, TracedProcess& proc, double t, bool quiet_failure);
  const std::vector<Frame>& frames_for(pid_t pid, int32_t stack_id);
  void apply_syscall_events();
  int32_t syscall_stack_id(pid_t pid, const ls_sys_event& e);
  std::vector<LedgerRow> resource_rows() const;
  bool should_stop_for_targets() const;
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
  Symbolizer symbolizer_;
  Timeline timeline_;
  TargetSet targets_;
  std::optional<ChildCommand> child_;
  std::map<std::pair<pid_t, int32_t>, std::vector<Frame>> frames_;
  std::vector<LedgerRow> rows_;
  ResourceLedger resources_;
  // Stacks of syscall events, composed in userspace (see ls_sys_event);
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
  uint64_t ticks_ = 0;
};

SeriesKey key_of(const LedgerRow& row);

inline constexpr int32_t kSyscallStackBase = 1 << 24;

}  // namespace leakscope
