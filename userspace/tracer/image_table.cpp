#include "tracer/image_table.h"

#include <unistd.h>

#include <algorithm>

#include "core/log.h"

namespace leakscope {

ImageTable::ImageTable(Kernel& kernel, ImageObserver& observer, ImagePolicy policy)
    : kernel_(kernel), observer_(observer), policy_(policy) {}

TracedImage& ImageTable::add(TracedImage image) {
  TraceId id = image.id;
  live_[image.pid()] = id;
  return images_[id] = std::move(image);
}

TracedImage& ImageTable::adopt(pid_t pid, TraceId id, Origin origin, const TracedImage* parent, double t) {
  TracedImage p;
  p.id = id;
  p.origin = origin;
  p.info.pid = pid;
  if (parent) {
    p.info.comm = parent->info.comm;
    p.info.cmdline = parent->info.cmdline;
    p.parent = parent->id;
    p.parent_pid = origin == Origin::Exec ? parent->parent_pid : parent->pid();
    p.cgroup = parent->cgroup;
    p.container_id = parent->container_id;
    // Allocator probes follow a child or a new image when its parent had
    // them, except under --all, where drill-down decides.
    p.heap_probes = parent->heap_probes && (!policy_.host_wide || origin == Origin::Exec);
    if (origin == Origin::Exec) p.named = parent->named;
  } else {
    p.heap_probes = kernel_.heap_enabled() && !policy_.host_wide;
  }
  p.attached_at = t;
  log_verbose("PID " + std::to_string(pid) + ": new image " + std::to_string(id) + " (" +
              origin_name(origin) + (parent ? " of PID " + std::to_string(parent->pid()) : "") + ")");
  return add(std::move(p));
}

void ImageTable::end(TracedImage& image, End why, double t) {
  if (image.exited()) return;
  image.end = why;
  image.exited_at = t;
  pid_t pid = image.pid();
  if (auto it = live_.find(pid); it != live_.end() && it->second == image.id) live_.erase(it);
  if (why == End::Exit) kernel_.detach_allocator(pid);
  observer_.image_ended(image);
  bool told = image.origin == Origin::Pid || image.origin == Origin::Command;
  std::string msg = "PID " + std::to_string(pid) + " (" + image.info.comm + ") " +
                    (why == End::Exec ? "exec'd" : why == End::Detach ? "detached" : "exited") +
                    "; its ledger is kept";
  if (told && why != End::Detach)
    log_info(msg);
  else
    log_verbose(msg);
}

void ImageTable::apply(const LifecycleEvent& e, double t) {
  switch (e.op) {
    case LifecycleEvent::Op::Fork: {
      if (images_.count(e.next_id)) return;  // adopted already (reconciled)
      adopt(static_cast<pid_t>(e.child_tgid), e.next_id, Origin::Child, find(e.trace_id), t);
      return;
    }
    case LifecycleEvent::Op::Exec: {
      TracedImage* old = find(e.trace_id);
      if (!old || old->exited() || images_.count(e.next_id)) return;
      observer_.image_execd(old->id, e.next_id);
      end(*old, End::Exec, t);
      adopt(static_cast<pid_t>(e.tgid), e.next_id, Origin::Exec, old, t);
      return;
    }
    case LifecycleEvent::Op::Exit:
      if (TracedImage* image = find(e.trace_id)) end(*image, End::Exit, t);
      return;
  }
}

void ImageTable::reconcile(double t) {
  auto kernel = kernel_.read_images();
  std::vector<std::pair<TraceId, End>> ended;
  for (auto& [id, image] : images_) {
    if (image.exited()) continue;
    auto k = kernel.find(image.pid());
    if (k == kernel.end())
      ended.emplace_back(id, End::Exit);
    else if (k->second.id != id)
      ended.emplace_back(id, End::Exec);
  }
  for (auto [id, why] : ended) {
    TracedImage& image = images_.at(id);
    pid_t pid = image.pid();
    if (why == End::Exec) {
      TraceId next = kernel.at(pid).id;
      observer_.image_execd(id, next);
      end(image, End::Exec, t);
      if (!images_.count(next)) adopt(pid, next, Origin::Exec, &images_.at(id), t);
    } else {
      end(image, End::Exit, t);
    }
  }
  for (const auto& [pid, k] : kernel) {
    if (images_.count(k.id) || pid == ::getpid()) continue;
    const TracedImage* parent = nullptr;
    if (auto stat = process_stat(pid))
      if (auto it = live_.find(stat->ppid); it != live_.end()) parent = &images_.at(it->second);
    adopt(pid, k.id, Origin::Child, parent, t);
  }
}

void ImageTable::close_ended(std::vector<LedgerRow>& kernel_rows) {
  std::map<TraceId, TracedImage*> closing;
  for (auto& [id, image] : images_)
    if (image.exited() && !image.closed) closing[id] = &image;
  if (closing.empty()) return;
  std::vector<LedgerRow> kept;
  kept.reserve(kernel_rows.size());
  for (LedgerRow& row : kernel_rows) {
    auto it = closing.find(row.trace_id);
    if (it == closing.end())
      kept.push_back(row);
    else
      it->second->final_rows.push_back(row);
  }
  kernel_rows = std::move(kept);
  for (auto& [id, image] : closing) {
    const bool objects = std::any_of(image->final_rows.begin(), image->final_rows.end(), [](const LedgerRow& r) {
      return r.kind == Kind::Heap && r.value.live_objects > 0;
    });
    kernel_.drop_image(id, objects);
    image->closed = true;
    observer_.image_closed(*image);
  }
}

void ImageTable::prune(const std::vector<LedgerRow>& rows) {
  std::map<TraceId, bool> holds;
  for (const LedgerRow& row : rows)
    if (row.value.live_objects > 0 || row.value.live_bytes > 0) holds[row.trace_id] = true;
  std::vector<std::pair<double, TraceId>> ended;
  std::vector<TraceId> empty;
  for (const auto& [id, image] : images_) {
    if (!image.exited() || !image.closed) continue;
    // An image that exec'd is the same process under a new image: kept
    // only when it holds something.
    bool named = image.named && image.end != End::Exec;
    if (!named && !holds.count(id))
      empty.push_back(id);
    else
      ended.emplace_back(image.exited_at, id);
  }
  for (TraceId id : empty) {
    log_debug("image " + std::to_string(id) + " forgotten: nothing left");
    forget(id);
  }
  if (ended.size() <= policy_.keep_exited) return;
  std::sort(ended.begin(), ended.end());
  for (size_t i = 0; i + policy_.keep_exited < ended.size(); ++i) forget(ended[i].second);
}

void ImageTable::forget(TraceId id) {
  observer_.image_forgotten(id);
  images_.erase(id);
}

TracedImage* ImageTable::live(pid_t pid) {
  auto it = live_.find(pid);
  if (it == live_.end()) return nullptr;
  TracedImage* image = find(it->second);
  return image && !image->exited() ? image : nullptr;
}

const TracedImage* ImageTable::find(TraceId id) const {
  auto it = images_.find(id);
  return it == images_.end() ? nullptr : &it->second;
}

TracedImage* ImageTable::find(TraceId id) {
  auto it = images_.find(id);
  return it == images_.end() ? nullptr : &it->second;
}

bool ImageTable::all_ended() const {
  for (const auto& [id, image] : images_)
    if (!image.exited() || image.detached()) return false;
  return !images_.empty();
}

}  // namespace leakscope
