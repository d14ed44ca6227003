// `leakscope trace` run: the preflight checks of what its flags name, then
// the trace. Apart from trace_command.cpp (the flags into a TraceConfig) so
// that the config-file fuzz target links the parsing alone.
#include <algorithm>
#include <string>

#include "alerts/dispatcher.h"
#include "cli/preflight.h"
#include "cli/trace_command.h"
#include "core/types.h"
#include "metrics/metrics.h"
#include "probes/bpf_object.h"
#include "tracer/tracer.h"

namespace leakscope {

namespace {

// Everything a flag names that exists outside leakscope is looked at before
// the first BPF program loads: privileges first (without them nothing else
// matters, and /run/leakscope is root's), then the files and sockets it will
// write, the address it will listen on, the alert sinks, and the targets.
void preflight(const TraceConfig& config) {
  PrivilegeNeeds needs;
  needs.uprobes = (config.kernel.kinds_mask & LS_KIND_BIT(LS_KIND_HEAP)) != 0;
  needs.other_users = config.all || std::ranges::any_of(config.pids, owned_by_another_user);
  check_capabilities(needs);
  check_can_load(config.kernel.btf_path);
  if (!config.json_path.empty()) check_output_file("--json", config.json_path);
  if (!config.report_dir.empty()) check_report_dir(config.report_dir);
  if (!config.control_path.empty()) check_control_path(config.control_path);
  if (!config.metrics_address.empty()) check_listen_address(config.metrics_address);
  for (const std::string& spec : config.alert_sinks) make_sink(spec);  // jsonl:FILE opened here too
  check_pids(config.pids);
  check_command(config.command);
}

}  // namespace

int TraceCommand::run(bool command_after_separator, ConfigReader reread) {
  const TraceConfig& checked = config(command_after_separator);
  preflight(checked);
  return run_trace(checked, std::move(reread));
}

}  // namespace leakscope
