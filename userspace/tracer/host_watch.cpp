#include "tracer/host_watch.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "core/errors.h"
#include "core/log.h"
#include "report/units.h"
#include "target/cgroup.h"

namespace leakscope {

namespace {

// PIDs of every process now, from /proc.
std::vector<pid_t> list_pids() {
  std::vector<pid_t> out;
  DIR* dir = ::opendir("/proc");
  if (!dir) return out;
  while (dirent* d = ::readdir(dir)) {
    char* end = nullptr;
    long v = std::strtol(d->d_name, &end, 10);
    if (end && *end == '\0' && v > 0) out.push_back(static_cast<pid_t>(v));
  }
  ::closedir(dir);
  return out;
}

}  // namespace

HostWatch::HostWatch(const TraceConfig& config) : config_(config) {}

bool HostWatch::wants(pid_t pid, const ProcessInfo& info, const std::string& cgroup) const {
  if (pid == ::getpid() || info.kernel_thread) return false;
  if (std::find(config_.exclude_pids.begin(), config_.exclude_pids.end(), pid) != config_.exclude_pids.end())
    return false;
  if (!config_.comms.empty() &&
      std::find(config_.comms.begin(), config_.comms.end(), info.comm) == config_.comms.end())
    return false;
  if (!config_.cgroup_filter.empty() && cgroup.rfind(config_.cgroup_filter, 0) != 0) return false;
  return true;
}

// Processes forked by traced ones are traced from birth by the kernel
// side; this finds the rest: those running at start, and children of
// untraced ones.
void HostWatch::scan(const ImageTable& images, const std::function<void(pid_t)>& attach) {
  for (pid_t pid : list_pids()) {
    if (images.traces(pid) || pid == ::getpid()) continue;
    auto stat = process_stat(pid);
    if (!stat || (stat->flags & kKernelThreadFlag) || stat->state == 'Z') continue;
    auto skipped = skipped_.find(pid);
    if (skipped != skipped_.end() && skipped->second == stat->start_time_ticks) continue;
    ProcessInfo probe;
    probe.comm = stat->comm;
    if (!wants(pid, probe, process_cgroup(pid))) {
      skipped_[pid] = stat->start_time_ticks;
      continue;
    }
    try {
      attach(pid);
    } catch (const FatalError& e) {
      log_debug(std::string("--all: not tracing: ") + e.what());
      skipped_[pid] = stat->start_time_ticks;
    }
  }
  // Forget skipped PIDs that are gone: the map stays as small as the host.
  for (auto it = skipped_.begin(); it != skipped_.end();)
    it = process_stat(it->first) ? std::next(it) : skipped_.erase(it);
}

void HostWatch::sample_rss(const ImageTable& images, double t) {
  std::map<TraceId, Sample> now;
  for (const auto& [id, image] : images.images()) {
    if (image.exited()) continue;
    if (auto mem = process_memory(image.pid())) now[id] = Sample{t, static_cast<int64_t>(mem->anon_bytes), 0};
  }
  rss_ = std::move(now);
}

std::vector<LedgerRow> HostWatch::rss_rows() const {
  std::vector<LedgerRow> rows;
  for (const auto& [id, sample] : rss_) {
    LedgerRow row;
    row.trace_id = id;
    row.kind = Kind::Rss;
    row.value.live_bytes = sample.live_bytes;
    row.value.live_objects = 0;
    rows.push_back(row);
  }
  return rows;
}

void HostWatch::end_drill(TracedImage& image, Drill& drill, double t, DrillProbes& probes) {
  probes.stop(image);
  drill.until = -1;
  drill.without_leak = std::min(drill.without_leak + 1, 6);
  drill.cooldown_until = t + config_.drill_seconds * double(1 << drill.without_leak);
}

void HostWatch::steer(double t, ImageTable& images, const std::map<SeriesKey, Assessment>& verdicts,
                      const Timeline& timeline, bool heap_enabled, DrillProbes& probes,
                      const HeapPressure& pressure) {
  const double span = std::max(3 * config_.tick_seconds, std::min(config_.detector.window_seconds, 10.0));
  size_t running = 0;
  for (auto& [id, drill] : drills_) {
    TracedImage* image = images.find(id);
    if (!image || image->exited() || drill.until < 0) continue;
    bool leak = false;
    for (const auto& [key, a] : verdicts)
      if (key.trace_id == id &&
          (key.kind == static_cast<uint32_t>(Kind::Heap) || key.kind == static_cast<uint32_t>(Kind::Js)) &&
          a.verdict == Verdict::Leak)
        leak = true;
    if (leak && !drill.confirmed) {
      drill.confirmed = true;
      log_info("PID " + std::to_string(image->pid()) + " (" + image->info.comm +
               "): heap leak confirmed; allocator probes stay on");
    }
    if (!drill.confirmed && t >= drill.until) {
      // It grows, but not through the heap: look again later, and later
      // each time (2x, 4x, ... --drill-for, at most 64x).
      end_drill(*image, drill, t, probes);
      log_info("PID " + std::to_string(image->pid()) + " (" + image->info.comm +
               "): no heap leak confirmed; allocator probes off");
      continue;
    }
    if (!drill.confirmed) ++running;
  }
  const bool pressed = pressure.allocations_dropped > 0 || pressure.stacks_lost > 0;
  pressed_ticks_ = pressed ? pressed_ticks_ + 1 : 0;
  if (pressed_ticks_ >= kBackOffTicks) {
    // The maps cannot hold what the drills bring in: the newest drill not
    // confirmed backs off first (a confirmed leak keeps its probes; this
    // tick's confirmations are in by now).
    Drill* newest = nullptr;
    TracedImage* newest_image = nullptr;
    for (auto& [id, drill] : drills_) {
      TracedImage* image = images.find(id);
      if (!image || image->exited() || drill.until < 0 || drill.confirmed) continue;
      if (!newest || drill.started > newest->started) {
        newest = &drill;
        newest_image = image;
      }
    }
    if (newest) {
      std::string lost;
      if (pressure.allocations_dropped > 0) lost = std::to_string(pressure.allocations_dropped) + " allocations";
      if (pressure.stacks_lost > 0)
        lost += (lost.empty() ? "" : " and ") + std::to_string(pressure.stacks_lost) + " stacks";
      newest->backed_off = "the kernel's maps are full: " + lost + " not kept in the last tick, " +
                           std::to_string(pressed_ticks_) + " ticks in a row";
      end_drill(*newest_image, *newest, t, probes);
      log_warn("PID " + std::to_string(newest_image->pid()) + " (" + newest_image->info.comm +
               "): drill-down backs off: " + newest->backed_off + "; allocator probes off, next try in " +
               format_duration(newest->cooldown_until - t));
      --running;  // it was counted above, unconfirmed and running
      pressed_ticks_ = 0;  // one at a time: see what that changed
    }
  }
  // No new drill while the kernel is dropping: it would only lose more.
  if (!heap_enabled || pressed) return;
  // New drill-downs, fastest growing first.
  std::vector<std::pair<double, TraceId>> candidates;
  for (const auto& [id, image] : images.images()) {
    if (image.exited() || image.heap_probes) continue;
    if (auto d = drills_.find(id); d != drills_.end() && (d->second.until >= 0 || t < d->second.cooldown_until))
      continue;
    const Series* s = timeline.find(SeriesKey{id, static_cast<uint32_t>(Kind::Rss), LS_STACK_UNKNOWN, 0});
    if (!s) continue;
    double rate = s->recent_bytes_per_second(span, 3);
    if (rate >= config_.drill_rate) candidates.emplace_back(rate, id);
  }
  std::sort(candidates.rbegin(), candidates.rend());
  for (const auto& [rate, id] : candidates) {
    if (running >= config_.drill_max) break;
    TracedImage& image = *images.find(id);
    Drill& drill = drills_[id];
    if (!probes.start(image, t)) {
      drill.cooldown_until = t + config_.drill_seconds;
      continue;
    }
    drill.until = t + config_.drill_seconds;
    drill.started = t;
    drill.backed_off.clear();  // the last drill is this one now
    ++running;
    log_info("PID " + std::to_string(image.pid()) + " (" + image.info.comm + ") grows " + format_bytes(rate) +
             "/s: allocator probes on for " + std::to_string(static_cast<int>(config_.drill_seconds)) + " s");
  }
}

void HostWatch::keep(TraceId id) { drills_[id].confirmed = true; }

bool HostWatch::drilled(TraceId id) const {
  auto it = drills_.find(id);
  return it != drills_.end() && (it->second.until >= 0 || it->second.confirmed);
}

bool HostWatch::drilling(TraceId id) const {
  auto it = drills_.find(id);
  return it != drills_.end() && it->second.until >= 0 && !it->second.confirmed;
}

std::string HostWatch::backed_off(TraceId id) const {
  auto it = drills_.find(id);
  return it != drills_.end() ? it->second.backed_off : std::string();
}

void HostWatch::image_execd(TraceId old, TraceId next) {
  auto it = drills_.find(old);
  if (it == drills_.end()) return;
  // The drill goes on in the new image; its history (waits, why the last
  // one backed off) belonged to the old program.
  Drill carried;
  carried.until = it->second.until;
  carried.confirmed = it->second.confirmed;
  carried.started = it->second.started;
  drills_[next] = carried;
}

void HostWatch::forget(TraceId id) {
  drills_.erase(id);
  rss_.erase(id);
}

}  // namespace leakscope
