// What the tracer answers on its control socket, and the report files it
// writes on SIGUSR1 and every --report-every.
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "core/errors.h"
#include "core/log.h"
#include "core/terminal_text.h"
#include "report/text.h"
#include "tracer/trace_session.h"

namespace leakscope {

namespace {

// std::visit over the request kinds, one lambda each.
template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

}  // namespace

ControlReply TraceSession::handle_control(const ControlRequest& request) {
  try {
    return std::visit(
        Overloaded{
            [&](const ReportRequest& r) {
              RenderOptions options;
              options.top = r.top ? r.top : config_.top;
              options.weight = r.weight;
              // The model is taken here, on the loop (it reads the session's
              // state); rendering it, which can take long for a big html or
              // pprof report, is the control server's, off the loop.
              auto rep = std::make_shared<const Report>(report(false));
              ControlReply reply = reply_ok();
              reply.deferred = [rep, formats = r.formats, options] {
                std::vector<ControlPart> parts;
                for (Format f : formats) parts.push_back(ControlPart{std::string(format_name(f)), render(*rep, f, options)});
                return parts;
              };
              return reply;
            },
            [&](const AttachRequest& r) {
              if (TracedImage* image = images_.live(r.pid)) {
                if (!host_ || image->heap_probes)
                  return reply_error("PID " + std::to_string(r.pid) + " is already traced");
                // Under --all: the operator asks for allocator probes on it, to stay.
                attacher_.add_allocator_probes(*image, now());
                host_->keep(image->id);
                log_info("PID " + std::to_string(r.pid) + " (" + image->info.comm + "): allocator probes on");
                return reply_ok({{"message", "allocator probes on PID " + std::to_string(r.pid) + " (" +
                                                 image->info.comm + ")"}});
              }
              TraceId id = attacher_.attach(r.pid, Origin::Pid, now());
              const std::string& comm = images_.find(id)->info.comm;
              log_info("PID " + std::to_string(r.pid) + " (" + comm + ") attached");
              return reply_ok({{"message", "tracing PID " + std::to_string(r.pid) + " (" + comm + ")"}});
            },
            [&](const DetachRequest& r) {
              attacher_.detach(r.pid, now());
              return reply_ok({{"message", "detached from PID " + std::to_string(r.pid) +
                                               "; its ledger stays in the report"}});
            },
            [&](const StatusRequest&) { return reply_ok({{"status", status_json()}}); },
        },
        request);
  } catch (const FatalError& e) {
    return reply_error(e.what());
  }
}

nlohmann::json TraceSession::status_json() const {
  nlohmann::json targets = nlohmann::json::array();
  double t = now();
  for (const auto& [id, image] : images_.images()) {
    const char* state = !image.exited() ? "traced"
                        : image.detached() ? "detached"
                        : image.end == End::Exec ? "exec'd"
                                                 : "exited";
    auto total = view_.totals.find(id);
    ImageTotals live = total == view_.totals.end() ? ImageTotals{} : total->second;
    // Under --all, the status lists what is being looked at closely.
    if (config_.all && !image.heap_probes && !live.live_objects) continue;
    targets.push_back({{"pid", image.pid()},
                       {"comm", image.info.comm},
                       {"state", state},
                       {"origin", origin_name(image.origin)},
                       {"parent_pid", image.parent_pid},
                       {"allocator_probes", !image.exited() && kernel_->has_allocator_probes(image.pid())},
                       {"traced_seconds", (image.exited() ? image.exited_at : t) - image.attached_at},
                       {"live_bytes", live.live_bytes},
                       {"live_objects", live.live_objects}});
  }
  int64_t live_objects = 0;
  for (const auto& [id, total] : view_.totals) live_objects += total.live_objects;
  nlohmann::json sinks = nlohmann::json::array();
  for (const SinkHealth& h : judge_.sink_health())
    sinks.push_back({{"name", h.name},
                     {"delivered", h.delivered},
                     {"failures", h.failures},
                     {"dropped", h.dropped},
                     {"queued", h.queued},
                     {"last_error", h.last_error}});
  nlohmann::json js_heaps = nlohmann::json::array();
  if (js_)
    for (const JsHeapStatus& h : js_->status())
      js_heaps.push_back({{"pid", h.pid},
                          {"state", h.state},
                          {"runtime_version", h.runtime_version},
                          {"inspector_port", h.port},
                          {"opened_inspector", h.opened_inspector},
                          {"profiles", h.profiles},
                          {"last_profile_bytes", h.last_profile_bytes},
                          {"last_pull_seconds", h.last_pull_seconds},
                          {"error", h.error}});
  const MapSizes& sizes = kernel_->sizes();
  const LoopTiming loop = clock_.timing();
  const UnwindTables::Stats unwind = unwind_ ? unwind_->stats() : UnwindTables::Stats{};
  nlohmann::json drops = nlohmann::json::object();
  for (const HealthLoss& loss : view_.health.losses()) drops[std::string(loss.name)] = loss.value;
  return {{"pid", ::getpid()},
          {"version", LEAKSCOPE_VERSION},
          {"uptime_seconds", t},
          {"ticks", view_.ticks},
          {"kinds", enabled_kinds(config_.kernel.kinds_mask)},
          {"targets", targets},
          {"probes", kernel_->probes_attached()},
          {"images_kept", images_.size()},
          {"tracer",
           {{"resident_bytes", [] {
              auto m = process_memory(::getpid());
              return m ? m->resident_bytes : 0;
            }()},
            {"map_bytes", kernel_->map_bytes()},
            {"last_tick_seconds", view_.tick_seconds},
            {"last_tick_cpu_seconds", view_.tick_cpu_seconds},
            {"tick_seconds", config_.tick_seconds},
            {"ticks_on_schedule", loop.on_schedule},
            {"tick_overruns", loop.overruns},
            {"last_tick_lag_seconds", loop.last_lag},
            {"tick_lag_p90_seconds", loop.lag_p90},
            {"tick_lag_max_seconds", loop.lag_max},
            {"tick_duration_max_seconds", loop.duration_max},
            {"ticks_event_rings_left_full", drains_cut_},
            {"frame_names_pending", symbolizer_.stats().names_pending},
            {"unwind_tables_compiling", unwind.pending_modules},
            {"processes_awaiting_unwind_tables", unwind.held_back_processes}}},
          {"maps",
           {{"objects", {{"used", kernel_->entries(MapName::Objects)}, {"capacity", sizes.max_objects}}},
            {"ledger", {{"used", kernel_->entries(MapName::Ledger)}, {"capacity", sizes.max_stacks}}},
            {"targets", {{"used", kernel_->entries(MapName::Images)}, {"capacity", sizes.max_images}}}}},
          {"live_objects", live_objects},
          {"drops", drops},
          {"alerts_firing", judge_.alerts_firing()},
          {"js_heaps", js_heaps},
          {"sinks", sinks},
          {"control", control_ ? control_->path() : ""},
          {"report_dir", config_.report_dir}};
}

void TraceSession::write_report_files(const char* why) {
  Report r = report(false);
  RenderOptions options;
  options.top = config_.top;
  options.weight = config_.folded_weight;
  if (!report_dir_) {
    // No --report-dir: a person asked with kill -USR1; show it here.
    std::string text = terminal_safe(render_text(r, config_.top));
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return;
  }
  std::vector<std::pair<Format, std::string>> parts;
  for (Format f : config_.report_formats) parts.emplace_back(f, render(r, f, options));
  try {
    auto paths = report_dir_->write(parts);
    log_info(std::string("report written ") + why + ": " + (paths.empty() ? "" : paths.front()) +
             (paths.size() > 1 ? " (+" + std::to_string(paths.size() - 1) + " more formats)" : ""));
  } catch (const FatalError& e) {
    log_warn(e.what());  // a full disk must not end the trace
  }
}

}  // namespace leakscope
