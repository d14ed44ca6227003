#include "tracer/judge.h"

#include "tracer/output.h"

namespace leakscope {

namespace {

// Ticks a leak's alert waits for its stack's names (Naming::Background)
// before it goes out with what it has (module+offset frames).
constexpr int kNameWaitTicks = 5;

}  // namespace

Judge::Judge(const TraceConfig& config) : config_(config), host_(host_name()), alerts_(config.alerts) {
  std::vector<std::unique_ptr<Sink>> sinks;
  for (const std::string& spec : config.alert_sinks) sinks.push_back(make_sink(spec));
  if (!sinks.empty()) dispatcher_ = std::make_unique<Dispatcher>(std::move(sinks));
}

void Judge::judge(TickView& view, const ImageTable& images, const Timeline& timeline, StackStore& stacks) {
  std::vector<AlertSubject> suspects;
  for (const LedgerRow& row : view.rows) {
    const TracedImage* image = images.find(row.trace_id);
    if (!image) continue;
    bool fresh = !image->exited() || image->exited_at == view.t;
    if (!fresh) continue;  // an exited process keeps its last verdict
    // The allocator's growth is the footprint of the heap stacks it
    // serves, never a verdict of its own. Not under --sample N: the heap
    // kind may then have sampled none of the blocks a growth was for (a
    // few big mmap'd ones), and the growth is the only sign of their leak.
    if (auto growth = config_.kernel.sample_every > 1 ? std::nullopt : allocator_growth(row, *image, stacks)) {
      view.allocator_growth[key_of(row)] = *growth;
      view.verdicts.erase(key_of(row));
      continue;
    }
    view.allocator_growth.erase(key_of(row));
    const Series* series = timeline.find(key_of(row));
    if (!series) continue;
    Assessment a = assess(*series, row.kind, config_.detector);
    // A series whose samples stopped coming is not judged again from the
    // few left in its window: its last verdict stands (and its alert with it).
    if (auto last = view.verdicts.find(key_of(row)); a.evidence.sparse && last != view.verdicts.end())
      a = last->second;
    view.verdicts[key_of(row)] = a;
    if (a.verdict != Verdict::Leak || image->exited()) continue;
    AlertSubject s;
    s.host = host_;
    s.pid = image->pid();
    s.comm = image->info.comm;
    s.cmdline = image->info.cmdline;
    s.cgroup = image->cgroup;
    s.container_id = image->container_id;
    s.kind = row.kind;
    AlertStack& alerted = alert_stacks_[key_of(row)];
    if (!alerted.sent) {
      // An alert names its leak site: one whose names are being looked up
      // waits for them (a tick or two), never for long.
      const StackStore::Resolved& stack = stacks.resolved(row.trace_id, image->pid(), row.stack_id);
      if (!stack.named() && alerted.waited++ < kNameWaitTicks) continue;
      alerted = AlertStack{alerted.waited, true, stack.frames, stack.leak_site};
    }
    s.frames = alerted.frames;
    s.leak_site = alerted.leak_site;
    s.rate = a.evidence.rate;
    s.rate_unit = std::string(a.evidence.unit);
    s.live_bytes = row.value.live_bytes;
    s.live_objects = row.value.live_objects;
    s.confidence = a.confidence;
    s.is_leak = true;
    suspects.push_back(std::move(s));
  }
  auto records = alerts_.update(suspects, std::chrono::system_clock::now());
  if (dispatcher_)
    for (const AlertRecord& r : records) dispatcher_->submit(r);
}

void Judge::finish(double seconds) {
  if (!dispatcher_) return;
  for (const AlertRecord& r : alerts_.resolve_all(std::chrono::system_clock::now())) dispatcher_->submit(r);
  dispatcher_->drain(seconds);
}

void Judge::forget(TraceId id) {
  std::erase_if(alert_stacks_, [id](const auto& entry) { return entry.first.trace_id == id; });
}

std::vector<SinkHealth> Judge::sink_health() const {
  return dispatcher_ ? dispatcher_->health() : std::vector<SinkHealth>{};
}

}  // namespace leakscope
