// TraceSession: SIGHUP with --config. The file is read again (with the
// command line's flags over it, as at start); what changed is applied where
// a running trace can take it, the rest named as needing a restart.
#include <string>

#include "core/errors.h"
#include "core/log.h"
#include "tracer/config_reload.h"
#include "tracer/trace_session.h"

namespace leakscope {

namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

}  // namespace

void TraceSession::reload_config(double t, double& next_table, double& next_report) {
  TraceConfig next;
  // Reading it again must not change how much is logged (-v in the file
  // sets the level as it is parsed): the level stays the one started with.
  const LogLevel level = log_level();
  try {
    next = reread_();
  } catch (const FatalError& e) {
    set_log_level(level);
    log_warn(std::string("config: not reloaded, the trace goes on unchanged: ") + e.what());
    return;
  }
  set_log_level(level);
  const ConfigChanges changes = diff_configs(config_, next);
  for (const std::string& flag : changes.needs_restart) log_warn("config: " + flag + " changed: needs a restart");
  if (changes.applied.empty()) {
    log_info(changes.needs_restart.empty() ? "config: reloaded, nothing changed"
                                           : "config: reloaded, nothing applied");
    return;
  }
  const TraceConfig before = config_;
  apply_reloadable(config_, next);
  judge_.set_alert_options(config_.alerts);
  if (report_dir_) report_dir_->set_keep(config_.report_keep);
  if (config_.interval_seconds != before.interval_seconds) next_table = t + config_.interval_seconds;
  if (config_.report_every_seconds != before.report_every_seconds)
    next_report = config_.report_every_seconds > 0 && report_dir_ ? t + config_.report_every_seconds : -1;
  log_info("config: reloaded, applied " + joined(changes.applied));
}

}  // namespace leakscope
