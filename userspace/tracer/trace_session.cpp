#include "tracer/trace_session.h"

#include <unistd.h>

#include <signal.h>
#include <malloc.h>
#include <sys/resource.h>

#include <cstdio>
#include <sstream>

#include "core/errors.h"
#include "core/terminal_text.h"
#include "core/log.h"
#include "core/service_notify.h"
#include "report/json.h"
#include "report/text.h"
#include "report/units.h"
#include "symbols/unwind_table.h"
#include "target/node_process.h"
#include "target/proc_maps.h"
#include "tracer/output.h"

namespace leakscope {

namespace {

// CPU time (user + system) of the whole tracer so far.
double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// The unwind table of a module, as UnwindTables loads it.
std::optional<std::vector<uint64_t>> compile_unwind_words(const std::string& path, std::string* error) {
  std::optional<UnwindTable> table = compile_unwind_table(path, error);
  if (!table) return std::nullopt;
  return std::move(table->words);
}

// --all --drill-js: a drill-down puts allocator probes on and, in a Node.js
// process, samples its JS heap too.
class DrillWithJs final : public DrillProbes {
 public:
  DrillWithJs(DrillProbes& allocator, JsHeaps* js) : allocator_(allocator), js_(js) {}
  bool start(TracedImage& image, double t) override {
    const bool heap = allocator_.start(image, t);
    if (!js_) return heap;
    std::optional<JsRefusal> refused = js_->start(image.id, image.pid());
    if (refused && !refused->not_node) log_info("JS heap not sampled: " + refused->reason);
    return heap || !refused;
  }
  void stop(TracedImage& image) override {
    allocator_.stop(image);
    if (js_) js_->stop(image.id);
  }

 private:
  DrillProbes& allocator_;
  JsHeaps* js_;
};

}  // namespace

nlohmann::json enabled_kinds(uint32_t kinds_mask) {
  nlohmann::json kinds = nlohmann::json::array();
  for (uint32_t k = 0; k < LS_KIND__COUNT; ++k)
    if (kinds_mask & (1u << k)) kinds.push_back(std::string(kind_name(static_cast<Kind>(k))));
  return kinds;
}

TraceSession::TraceSession(const TraceConfig& config, ConfigReader reread)
    : config_(config),
      reread_(std::move(reread)),
      kernel_(open_kernel(config.kernel)),
      symbolizer_(spaces_, kMaxSymbolModules, Naming::Background),
      unwind_(config.unwind_cfi
                  ? std::make_unique<UnwindTables>(*kernel_, spaces_, compile_unwind_words, openable_path,
                                                   UnwindTables::Mode::Background)
                  : nullptr),
      images_(*kernel_, *this, ImagePolicy{config.all, config.keep_exited}),
      attacher_(config_, *kernel_, images_, spaces_),
      stacks_(*kernel_, symbolizer_, spaces_, config.kernel.sizes.max_stack_traces),
      ledgers_(images_, stacks_, spaces_),
      js_(config.js || config.drill_js ? std::make_unique<JsHeaps>(*kernel_, symbolizer_, stacks_,
                                                 JsHeapOptions{config.js_sampling_interval,
                                                              std::max(config.tick_seconds, config.js_pull_seconds)})
                    : nullptr),
      judge_(config_),
      clock_(config.tick_seconds),
      heap_sampling_(*kernel_, config.kernel.sizes.max_objects),
      age_scan_(kernel_->object_age_scan()),
      start_(std::chrono::steady_clock::now()) {
  if (config.all) host_.emplace(config_);
  if (!config.metrics_address.empty()) metrics_ = std::make_unique<MetricsServer>(config.metrics_address);
  if (!config.report_dir.empty())
    report_dir_ = std::make_unique<ReportDir>(config.report_dir, config.report_keep);
  if (!config.control_path.empty()) control_ = std::make_unique<ControlServer>(config.control_path);
}

// Stacks are read against the process's maps: resolve what an image holds
// while its maps are still the ones its stacks were taken in.
void TraceSession::resolve_live_stacks(const std::vector<LedgerRow>& rows, const TracedImage& image) {
  for (const LedgerRow& row : rows)
    if (row.trace_id == image.id && row.value.live_objects > 0) stacks_.frames(image.id, image.pid(), row.stack_id);
}

void TraceSession::start_js_heaps() {
  if (!js_ || config_.all) return;
  for (const auto& [id, image] : images_.images()) {
    if (image.exited() || js_tried_.count(id)) continue;
    // A command (or a child) may be a Node.js process that has not set up
    // its SIGUSR1 handler yet: wait for it; one that is no Node.js at all
    // (a shell, npm's wrapper) is left alone.
    std::optional<NodeProcess> node = read_node_process(image.pid());
    if (!node) {
      js_tried_.insert(id);
      continue;
    }
    if (!node->sigusr1_caught && !node->sigusr1_disabled && image.origin != Origin::Pid &&
        now() - image.attached_at < 10)
      continue;
    js_tried_.insert(id);
    if (std::optional<JsRefusal> refused = js_->start(id, image.pid()))
      log_warn("JS heap not sampled: " + refused->reason);
  }
}

void TraceSession::image_ended(const TracedImage& image) {
  if (js_) js_->stop(image.id);
  if (image.end == End::Exec && image.heap_probes)
    if (auto rows = kernel_->read_ledger()) resolve_live_stacks(*rows, image);
  resolve_live_stacks(view_.rows, image);
  ledgers_.image_ended(image);
}

void TraceSession::image_execd(TraceId old, TraceId next) {
  ledgers_.image_execd(old, next);
  if (host_) host_->image_execd(old, next);
}

void TraceSession::image_closed(const TracedImage& image) {
  resolve_live_stacks(image.final_rows, image);
  if (!images_.traces(image.pid())) {
    symbolizer_.forget(image.pid());
    if (unwind_) unwind_->forget(image.pid());
    spaces_.forget(image.pid());
  }
}

void TraceSession::image_forgotten(TraceId id) {
  if (js_) js_->forget(id);
  js_tried_.erase(id);
  timeline_.erase_trace(id);
  judge_.forget(id);
  ledgers_.forget(id);
  stacks_.forget(id);
  view_.forget(id);
  if (host_) host_->forget(id);
}

void TraceSession::tick(double t, bool last) {
  phases_.begin();
  spaces_.begin_tick();
  EventHandlers handlers;
  handlers.syscall = [this](const SyscallEvent& e) { ledgers_.apply(e); };
  handlers.lifecycle = [this, t](const LifecycleEvent& e) { images_.apply(e, t); };
  // Each ring gets a share of the period: one that fills faster than it
  // drains must not hold the tick (what it cannot hold, the kernel counts
  // as lost).
  const auto period =
      std::chrono::duration<double>(std::max(config_.tick_seconds * kDrainShare, last ? kFinalDrainSeconds : 0.0));
  const auto budget = std::chrono::duration_cast<std::chrono::steady_clock::duration>(period);
  Drained events = kernel_->drain_events(handlers, std::chrono::steady_clock::now() + budget);
  phases_.end("events");
  Drained faults = kernel_->drain_faults([this](const FaultEvent& e) { ledgers_.apply(e); },
                                         std::chrono::steady_clock::now() + budget);
  phases_.end("faults");
  rings_left_full_ = events.more || faults.more;
  if (events.more || faults.more) {
    ++drains_cut_;
    log_debug("event rings drained to their deadline: " + std::to_string(events.events) + " events, " +
              std::to_string(faults.events) + " page faults; the rest next tick");
  }
  // Ends of processes are read from the kernel's images map, which is ahead
  // of events left in a ring cut at its deadline: those events (a close
  // before an exit) would find their image ended. Ends wait for a tick whose
  // ring was drained.
  if (!events.more) images_.reconcile(t);
  phases_.end("lifecycle");
  if (host_) host_->scan(images_, [this, t](pid_t pid) { attacher_.attach(pid, Origin::Host, t); });
  for (auto& [id, image] : images_.images())
    if (!image.exited()) attacher_.refresh(image, t);
  start_js_heaps();
  phases_.end("attach");
  // Tables compiled off the loop since the last tick: their processes'
  // spaces go in now, before this tick's stacks are read. Most modules
  // take a few tens of milliseconds, so a moment's wait gives a new
  // process (a command just started) its space on this tick; a module
  // that takes longer (node's) stays in the background.
  if (unwind_) {
    unwind_->wait_idle(std::chrono::steady_clock::now() +
                       std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                           std::chrono::duration<double>(config_.tick_seconds * kUnwindWaitShare)));
    unwind_->collect();
  }
  phases_.end("unwind");

  auto rows = kernel_->read_ledger();
  if (!rows) {
    log_warn("cannot read the ledger this tick");
    return;
  }
  heap_sampling_.tick(t);
  phases_.end("ledger");
  stacks_.fold_frame_pointer_rows(*rows);
  phases_.end("stacks");
  images_.close_ended(*rows);
  ledgers_.release_gone_pages();
  phases_.end("pages");
  for (LedgerRow& row : ledgers_.rows()) rows->push_back(row);
  if (js_)
    for (LedgerRow& row : js_->rows()) rows->push_back(row);
  for (const auto& [id, image] : images_.images())
    for (const LedgerRow& row : image.final_rows) rows->push_back(row);
  if (host_) {
    phases_.end("rows");
    host_->sample_rss(images_, t);
    for (const LedgerRow& row : host_->rss_rows()) rows->push_back(row);
    phases_.end("rss");
  }
  phases_.end("rows");
  const double last_tick = view_.t;
  for (const LedgerRow& row : *rows) {
    const TracedImage* image = images_.find(row.trace_id);
    if (!image) continue;
    // An ended image's rows are final; record them once more only on the
    // tick that noticed the end.
    if (image->exited() && image->exited_at != t) continue;
    // A new ledger row had nothing live before this tick; a process's
    // memory (rss) was there before we looked: no zero sample before it.
    double previous = row.kind == Kind::Rss ? t : std::max(last_tick, image->attached_at);
    timeline_.record(key_of(row), Sample{t, row.value.live_bytes, row.value.live_objects}, previous);
  }
  const Counters counters = kernel_->counters();
  // What the heap kind dropped this tick: a drill-down the maps cannot
  // keep up with backs off (HostWatch::steer).
  auto rise = [&](int c) { return counters[c] > last_counters_[c] ? counters[c] - last_counters_[c] : 0; };
  HeapPressure pressure;
  for (int c : {LS_CNT_OBJ_MAP_FULL, LS_CNT_LEDGER_FULL, LS_CNT_INFLIGHT_FULL}) pressure.allocations_dropped += rise(c);
  for (int c : {LS_CNT_STACK_IDS_FULL, LS_CNT_STACKS_FULL}) pressure.stacks_lost += rise(c);
  last_counters_ = counters;
  view_.set_rows(t, std::move(*rows), counters, ledgers_.pages_dropped(), kernel_->sizes());
  phases_.end("timeline");
  judge_.judge(view_, images_, timeline_, stacks_);
  phases_.end("judge");
  if (host_) {
    DrillWithJs drill(attacher_, config_.drill_js ? js_.get() : nullptr);
    host_->steer(t, images_, view_.verdicts, timeline_, kernel_->heap_enabled(), drill, pressure);
  }
  images_.prune(view_.rows);
  phases_.end("drill");
  if (!last) name_ahead(t);
  phases_.end("names");
}

ReportSources TraceSession::report_sources() {
  ReportSources src{config_, images_, timeline_, stacks_, {}, {}, {}, {}};
  if (host_) {
    src.drilled = [this](TraceId id) { return host_->drilled(id); };
    src.backed_off = [this](TraceId id) { return host_->backed_off(id); };
  }
  src.allocator_probes = [this](pid_t pid) { return kernel_->has_allocator_probes(pid); };
  return src;
}

void TraceSession::count_unread_at_exit() {
  if (!rings_left_full_) return;
  // What the last tick's drain could not take in time goes with the trace:
  // counted (a pass that only counts is quick), never dropped unsaid. Each
  // ring gets its own moment; a target still running writes on meanwhile,
  // so the count is a floor.
  uint64_t unread = 0;
  EventHandlers count;
  count.syscall = [&unread](const SyscallEvent&) { ++unread; };
  count.lifecycle = [&unread](const LifecycleEvent&) { ++unread; };
  const auto moment = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(kUnreadCountSeconds));
  kernel_->drain_events(count, std::chrono::steady_clock::now() + moment);
  kernel_->drain_faults([&unread](const FaultEvent&) { ++unread; }, std::chrono::steady_clock::now() + moment);
  view_.health.events_unread_at_exit = unread;
  log_warn("at least " + std::to_string(unread) +
           " events were left unread in the rings when the trace ended (the report counts them as lost)");
}

void TraceSession::name_ahead(double t) {
  if (name_ahead_skip_ > 0) {
    --name_ahead_skip_;
    return;
  }
  const auto start = std::chrono::steady_clock::now();
  ReportSources src = report_sources();
  (void)build_report(view_, src, t, false);  // locates its stacks: their names are asked for
  const double cost = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  name_ahead_skip_ = static_cast<int>(cost / (kNameAheadShare * config_.tick_seconds));
}

Report TraceSession::report(bool final, bool with_ages) {
  ReportSources src = report_sources();
  // Names and object ages are read off the loop (symbols/frame_namer,
  // tracer/age_scan): a report waits a moment for them (at most a drain
  // share of the tick), the final one longer (the loop is over, nothing
  // comes after it). A frame not named by then reads module+offset; ages
  // come from the latest scan. The live table waits for names only.
  const auto seconds = [](double s) {
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(s));
  };
  const auto deadline = final ? stopped_ + seconds(kFinalReportWithin)
                              : std::chrono::steady_clock::now() + seconds(config_.tick_seconds * kDrainShare);
  if (with_ages) {
    std::set<TraceId> live;
    for (const auto& [id, image] : images_.images())
      if (!image.exited()) live.insert(id);
    if (final) {
      src.ages = kernel_->object_age_scan()(live);
    } else {
      age_scan_.start(std::move(live));
      age_scan_.wait(deadline);
      if (auto ages = age_scan_.latest(std::chrono::steady_clock::now())) src.ages = std::move(*ages);
    }
  }
  // Building the report locates the frames of the stacks it carries and
  // asks for their names; when some were not named, it is built again once
  // the names asked for are in (or the wait is over).
  Report r = build_report(view_, src, now(), final);
  if (r.health.unknown_frames > 0) {
    symbolizer_.wait_named(deadline);
    r = build_report(view_, src, now(), final);
  }
  r.alerts_firing = judge_.alerts_firing();
  r.loop = clock_.timing();
  r.tracer = own_;
  for (const MapMemory& m : kernel_->map_memory()) {
    r.tracer.map_bytes += m.bytes;
    r.tracer.map_max_bytes += m.max_bytes;
  }
  r.heap_sampling = heap_sampling_.info();
  for (const SinkHealth& h : judge_.sink_health())
    r.sinks.push_back(SinkStatus{h.name, h.delivered, h.failures, h.dropped, h.last_error});
  return r;
}

void TraceSession::keep_memory_budget() {
  auto mem = process_memory(::getpid());
  if (!mem) return;
  own_.max_memory_bytes = config_.max_memory_bytes;
  own_.resident_bytes = mem->resident_bytes;
  own_.peak_resident_bytes = std::max(own_.peak_resident_bytes, own_.resident_bytes);
  if (double(own_.resident_bytes) < 0.9 * double(config_.max_memory_bytes)) return;
  if (now() - last_shed_ < 30) return;  // shed caches are opened again: not every tick
  last_shed_ = now();
  // Near the budget: what can be read again goes (ELF objects no process
  // maps now), and the allocator gives back what is free.
  symbolizer_.shed();
  ::malloc_trim(0);
  if (auto after = process_memory(::getpid())) own_.resident_bytes = after->resident_bytes;
  if (own_.resident_bytes > config_.max_memory_bytes && !own_.over_budget) {
    own_.over_budget = true;
    log_warn("own memory " + format_bytes(double(own_.resident_bytes)) + " past --max-memory " +
             format_bytes(double(config_.max_memory_bytes)) + " after shedding caches (the report says so)");
  }
}

void TraceSession::publish_metrics() {
  if (!metrics_) return;
  MetricsSnapshot m = metrics_snapshot(view_, images_, timeline_, kernel_->sizes());
  m.version = LEAKSCOPE_VERSION;
  const LoopTiming loop = clock_.timing();
  m.ticks_late = loop.ticks - loop.on_schedule;
  m.tick_overruns = loop.overruns;
  m.last_tick_lag_seconds = loop.last_lag;
  m.map_bytes = kernel_->map_bytes();
  if (auto mem = process_memory(::getpid())) m.tracer_rss_bytes = mem->resident_bytes;
  const SymbolizerStats symbols = symbolizer_.stats();
  m.symbol_cache_modules = symbols.modules_cached;
  m.frame_names_pending = symbols.names_pending;
  if (unwind_) m.unwind_tables_compiling = unwind_->stats().pending_modules;
  m.alerts_firing = judge_.alerts_firing();
  for (const SinkHealth& h : judge_.sink_health()) {
    SinkMetrics sm;
    sm.sink = h.name.substr(0, h.name.find(':'));
    sm.delivered = h.delivered;
    sm.failures = h.failures;
    sm.dropped = h.dropped;
    sm.queued = h.queued;
    m.sinks.push_back(std::move(sm));
  }
  metrics_->publish(std::move(m));
}

int TraceSession::run() {
  for (pid_t pid : config_.pids) attacher_.attach(pid, Origin::Pid, now());
  if (!config_.command.empty()) attacher_.start_command(signals_.original(), now());
  if (host_) host_->scan(images_, [this](pid_t pid) { attacher_.attach(pid, Origin::Host, now()); });
  if (unwind_) {
    const auto until = std::chrono::steady_clock::now() +
                       std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                           std::chrono::duration<double>(kStartUnwindWait));
    if (!unwind_->wait_idle(until))
      log_verbose("unwind tables still compiling after " + format_duration(kStartUnwindWait) +
                  ": those processes are walked by frame pointer until they are in");
    unwind_->collect();
  }
  if (js_ && !config_.all) {
    // -p targets: kind js was asked for them by name; a refusal ends here,
    // before any tracing, with nothing sent to the process.
    for (const auto& [id, image] : images_.images()) {
      if (image.origin != Origin::Pid) continue;
      js_tried_.insert(id);
      std::optional<JsRefusal> refused = js_->start(id, image.pid());
      if (!refused) refused = js_->wait_first_profile(id, 15);
      if (refused) throw FatalError(ExitCode::JsRefused, "kind js: " + refused->reason);
    }
  } else if (!config_.all) {
    for (const auto& [id, image] : images_.images())
      if (image.origin == Origin::Pid)
        if (std::string hint = js_hint(image.pid()); !hint.empty()) log_info(hint);
  }

  if (config_.all) {
    std::string kinds;
    for (const auto& k : enabled_kinds(config_.kernel.kinds_mask))
      if (k != "heap") kinds += k.get<std::string>() + ", ";
    log_info("tracing the whole host: " + std::to_string(images_.size()) + " processes (" + kinds +
             "memory; allocator probes where memory grows past " +
             std::to_string(static_cast<long long>(config_.drill_rate)) + " B/s); Ctrl-C for the final report");
  } else {
    std::ostringstream who;
    for (const auto& [id, image] : images_.images()) who << " " << image.pid() << " (" << image.info.comm << ")";
    log_info("tracing " + std::to_string(images_.size()) + " process(es):" + who.str() + ", " +
             std::to_string(kernel_->probes_attached()) + " probes" +
             (config_.follow_children ? " (and their children)" : "") + "; Ctrl-C for the final report");
  }
  notify_ready(config_.all ? "tracing the whole host" : "tracing " + std::to_string(images_.size()) + " process(es)");

  {
    // What the maps hold in the kernel at start: bucket arrays sized from
    // the options; the object and ledger entries come as they are used.
    std::ostringstream maps;
    uint64_t map_bytes = 0, max_bytes = 0;
    for (const MapMemory& m : kernel_->map_memory()) {
      map_bytes += m.bytes;
      max_bytes += m.max_bytes;
      if (m.max_bytes >= (1u << 20)) {
        maps << ", " << m.name << " " << format_bytes(double(m.bytes));
        if (m.max_bytes > m.bytes) maps << " (at most " << format_bytes(double(m.max_bytes)) << ")";
      }
    }
    log_info("kernel maps: " + format_bytes(double(map_bytes)) + " now, at most " + format_bytes(double(max_bytes)) +
             maps.str());
    keep_memory_budget();
    log_info("own memory: " + format_bytes(double(own_.resident_bytes)) + " now, kept under " +
             format_bytes(double(config_.max_memory_bytes)) + " (--max-memory)");
  }
  if (control_) log_verbose("control socket: " + control_->path());
  double next_tick = config_.tick_seconds;
  double next_table = config_.interval_seconds;
  double next_report = config_.report_every_seconds > 0 ? config_.report_every_seconds : -1;
  bool stop = false;
  // --duration is honoured to the moment, not at the first tick after it.
  const double end = config_.duration_seconds > 0 ? config_.duration_seconds : -1;
  while (!stop) {
    const double wake = end > 0 ? std::min(next_tick, end) : next_tick;
    auto events = signals_.wait(wake - now(), control_ ? control_->fd() : -1);
    bool report_now = false;
    for (int sig : events.signals) {
      if (sig == SIGUSR1) {
        report_now = true;
      } else if (sig != SIGCHLD) {
        log_info(std::string("stopping on ") + sigabbrev_np(sig));
        stop = true;
      }
    }
    if (events.hangup && reread_) {
      reload_config(now(), next_table, next_report);
    } else if (events.hangup) {
      log_info("stopping on HUP (no --config to reload)");
      stop = true;
    }
    double t = now();
    if (events.extra_ready) {
      // A request between ticks: answer it against the latest tick.
      control_->serve_pending([this](const ControlRequest& req) { return handle_control(req); });
      if (t < wake && !report_now && !stop) continue;
    }
    double cpu_before = cpu_seconds();
    // A tick run early (a report asked for) was not due: no lag.
    const double due = t >= next_tick ? next_tick : t;
    tick(t, stop || (end > 0 && t >= end));
    const double ended = now();
    clock_.record(due, t, ended);
    view_.tick_seconds = ended - t;
    view_.tick_cpu_seconds = cpu_seconds() - cpu_before;
    keep_memory_budget();
    if (view_.tick_seconds > config_.tick_seconds)
      log_verbose("tick at " + format_duration(t) + " took " + format_duration(view_.tick_seconds) +
                  " (longer than its period)" + phases_.describe());
    publish_metrics();
    notify_watchdog();
    while (next_tick <= t) next_tick += config_.tick_seconds;
    if (!config_.all && images_.all_ended()) {
      log_info("every traced process has exited");
      stop = true;
    }
    if (end > 0 && t >= end) stop = true;
    if (next_report > 0 && t >= next_report) {
      while (next_report <= t) next_report += config_.report_every_seconds;
      report_now = true;
    }
    if (report_now) write_report_files("on request");
    if (!stop && t >= next_table) {
      while (next_table <= t) next_table += config_.interval_seconds;
      if (!config_.quiet) {
        std::string table = terminal_safe(render_table(report(false, false), config_.top));
        std::fwrite(table.data(), 1, table.size(), stdout);
        std::fflush(stdout);
      }
    }
  }

  stopped_ = std::chrono::steady_clock::now();
  count_unread_at_exit();
  judge_.finish(kFinalSinkWait);
  Report final_report = report(true);
  std::string text = terminal_safe(render_text(final_report, config_.top));
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
  if (!config_.json_path.empty()) write_file_atomic(config_.json_path, render_json(final_report));
  return 0;
}

}  // namespace leakscope
