// What the tracer answers on its control socket, and the report files it
// writes on SIGUSR1 and every --report-every.
#include <unistd.h>

#include <cstdio>

#include "core/errors.h"
#include "core/log.h"
#include "report/text.h"
#include "tracer/health.h"
#include "tracer/trace_session.h"

namespace leakscope {

namespace {

std::vector<Format> formats_of(const nlohmann::json& request) {
  std::vector<Format> out;
  if (request.contains("formats") && request["formats"].is_array()) {
    for (const auto& f : request["formats"]) {
      auto format = f.is_string() ? parse_format(f.get<std::string>()) : std::nullopt;
      if (!format)
        throw FatalError(ExitCode::Usage, "unknown report format " + f.dump() +
                                              " (text, json, folded, pprof, html)");
      out.push_back(*format);
    }
  }
  if (out.empty()) out.push_back(Format::Text);
  return out;
}

}  // namespace

ControlReply TraceSession::handle_control(const nlohmann::json& request) {
  std::string cmd = request.value("cmd", "");
  try {
    if (cmd == "report") {
      RenderOptions options;
      options.top = request.value("top", config_.top);
      options.weight = request.value("weight", "live") == "growth" ? FoldedWeight::Growth
                                                                   : FoldedWeight::LiveBytes;
      std::vector<Format> formats = formats_of(request);
      Report report = build_report(now(), false);
      ControlReply reply = reply_ok();
      for (Format f : formats)
        reply.parts.push_back(ControlPart{std::string(format_name(f)), render(report, f, options)});
      return reply;
    }
    if (cmd == "attach" || cmd == "detach") {
      if (!request.contains("pid") || !request["pid"].is_number_integer())
        return reply_error(cmd + ": a pid is required");
      pid_t pid = request["pid"].get<pid_t>();
      if (cmd == "attach") {
        if (TracedProcess* proc = live_image(pid)) {
          if (!config_.all || proc->heap_probes)
            return reply_error("PID " + std::to_string(pid) + " is already traced");
          // Under --all: the operator asks for allocator probes on it, to stay.
          proc->heap_probes = proc->named = proc->drill_confirmed = true;
          proc->maps_hash = 0;
          replan(*proc, now(), true);
          symbolizer_.observe(pid);
          log_info("PID " + std::to_string(pid) + " (" + proc->info.comm + "): allocator probes on");
          return reply_ok({{"message", "allocator probes on PID " + std::to_string(pid) + " (" +
                                           proc->info.comm + ")"}});
        }
        TraceId id = attach_pid(pid);
        const std::string& comm = targets_.at(id).info.comm;
        log_info("PID " + std::to_string(pid) + " (" + comm + ") attached");
        return reply_ok({{"message", "tracing PID " + std::to_string(pid) + " (" + comm + ")"}});
      }
      detach_pid(pid, now());
      return reply_ok({{"message", "detached from PID " + std::to_string(pid) +
                                       "; its ledger stays in the report"}});
    }
    if (cmd == "status") return reply_ok({{"status", status_json()}});
    return reply_error("unknown command '" + cmd + "' (report, attach, detach, status)");
  } catch (const FatalError& e) {
    return reply_error(e.what());
  }
}

nlohmann::json TraceSession::enabled_kinds() const {
  nlohmann::json kinds = nlohmann::json::array();
  for (uint32_t k = 0; k < LS_KIND__COUNT; ++k)
    if (config_.session.kinds_mask & (1u << k)) kinds.push_back(std::string(kind_name(static_cast<Kind>(k))));
  return kinds;
}

nlohmann::json TraceSession::status_json() const {
  nlohmann::json targets = nlohmann::json::array();
  std::map<TraceId, std::pair<int64_t, int64_t>> live;
  int64_t live_objects = 0;
  for (const LedgerRow& row : rows_) {
    if (row.kind == Kind::Rss) continue;
    live[row.trace_id].first += row.value.live_bytes;
    live[row.trace_id].second += row.value.live_objects;
    live_objects += row.value.live_objects;
  }
  double t = now();
  for (const auto& [id, proc] : targets_) {
    const char* state = !proc.exited() ? "traced"
                        : proc.detached() ? "detached"
                        : proc.end == End::Exec ? "exec'd"
                                                : "exited";
    // Under --all, the status lists what is being looked at closely.
    if (config_.all && !proc.heap_probes && !live[id].second) continue;
    targets.push_back({{"pid", proc.info.pid},
                       {"comm", proc.info.comm},
                       {"state", state},
                       {"origin", origin_name(proc.origin)},
                       {"parent_pid", proc.parent_pid},
                       {"allocator_probes", !proc.exited() && session_->has_allocator_probes(proc.info.pid)},
                       {"traced_seconds", (proc.exited() ? proc.exited_at : t) - proc.attached_at},
                       {"live_bytes", live[id].first},
                       {"live_objects", live[id].second}});
  }
  nlohmann::json drops = nlohmann::json::object();
  for (const HealthLoss& loss : health_from(session_->counters(), pages_.pages_dropped()).losses())
    drops[std::string(loss.name)] = loss.value;
  nlohmann::json sinks = nlohmann::json::array();
  if (dispatcher_)
    for (const SinkHealth& h : dispatcher_->health())
      sinks.push_back({{"name", h.name},
                       {"delivered", h.delivered},
                       {"failures", h.failures},
                       {"dropped", h.dropped},
                       {"queued", h.queued},
                       {"last_error", h.last_error}});
  const MapSizes& sizes = session_->sizes();
  return {{"pid", ::getpid()},
          {"version", LEAKSCOPE_VERSION},
          {"uptime_seconds", t},
          {"ticks", ticks_},
          {"kinds", enabled_kinds()},
          {"targets", targets},
          {"probes", session_->probes_attached()},
          {"images_kept", targets_.size()},
          {"tracer",
           {{"resident_bytes", [] {
              auto m = process_memory(::getpid());
              return m ? m->resident_bytes : 0;
            }()},
            {"map_bytes", session_->map_bytes()},
            {"last_tick_seconds", last_tick_seconds_},
            {"last_tick_cpu_seconds", last_tick_cpu_},
            {"tick_seconds", config_.tick_seconds}}},
          {"maps",
           {{"objects", {{"used", session_->entries(MapName::Objects)}, {"capacity", sizes.max_objects}}},
            {"ledger", {{"used", session_->entries(MapName::Ledger)}, {"capacity", sizes.max_stacks}}},
            {"targets", {{"used", session_->entries(MapName::Targets)}, {"capacity", sizes.max_targets}}}}},
          {"live_objects", live_objects},
          {"drops", drops},
          {"alerts_firing", alerts_.firing()},
          {"sinks", sinks},
          {"control", control_ ? control_->path() : ""},
          {"report_dir", config_.report_dir}};
}

void TraceSession::write_report_files(const char* why) {
  Report report = build_report(now(), false);
  RenderOptions options;
  options.top = config_.top;
  options.weight = config_.folded_weight;
  if (!report_dir_) {
    // No --report-dir: a person asked with kill -USR1; show it here.
    std::string text = render_text(report, config_.top);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return;
  }
  std::vector<std::pair<Format, std::string>> parts;
  for (Format f : config_.report_formats) parts.emplace_back(f, render(report, f, options));
  try {
    auto paths = report_dir_->write(parts);
    log_info(std::string("report written ") + why + ": " + (paths.empty() ? "" : paths.front()) +
             (paths.size() > 1 ? " (+" + std::to_string(paths.size() - 1) + " more formats)" : ""));
  } catch (const FatalError& e) {
    log_warn(e.what());  // a full disk must not end the trace
  }
}

}  // namespace leakscope
