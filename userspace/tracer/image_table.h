// The process images being traced: which are live, which have ended, and
// what is kept of those. It follows the kernel's filter (lifecycle events,
// and every tick the filter itself, so a lost event costs a tick, not a
// ledger), and tells an observer when images end, exec, close or go, so the
// parts that keep per-image state follow without knowing each other.
#pragma once

#include <sys/types.h>

#include <map>
#include <vector>

#include "probes/kernel.h"
#include "tracer/traced_image.h"

namespace leakscope {

class ImageObserver {
 public:
  virtual ~ImageObserver() = default;
  // `image` stops being traced (image.end says why); the process's maps are
  // still those its stacks were taken in.
  virtual void image_ended(const TracedImage& image) = 0;
  // Image `old` exec'd into `next`: what survives exec moves on.
  virtual void image_execd(TraceId old, TraceId next) = 0;
  // An ended image's kernel rows moved into image.final_rows and left the
  // kernel's maps.
  virtual void image_closed(const TracedImage& image) = 0;
  // Nothing of the image is kept any more.
  virtual void image_forgotten(TraceId id) = 0;
};

struct ImagePolicy {
  bool host_wide = false;    // --all: allocator probes only where drill-downs put them
  size_t keep_exited = 256;  // ended images whose report is kept
};

class ImageTable {
 public:
  ImageTable(Kernel& kernel, ImageObserver& observer, ImagePolicy policy);

  // A trace id for an image userspace starts tracing (below LS_FIRST_KERNEL_ID).
  TraceId new_id() { return next_id_++; }
  // An image an operator or --all attached to (its fields filled by the caller).
  TracedImage& add(TracedImage image);
  // An image the kernel side started tracing: a child, a new image after
  // exec, or one found only in the filter.
  TracedImage& adopt(pid_t pid, TraceId id, Origin origin, const TracedImage* parent, double t);
  void end(TracedImage& image, End why, double t);

  void apply(const LifecycleEvent& event, double t);
  // The filter is the truth: an image whose tgid left it has exited, a
  // tgid whose id changed has exec'd, an id we never heard of is a child
  // whose fork event was lost.
  void reconcile(double t);
  // Moves the kernel's rows of ended images out of `kernel_rows` into the
  // images, and deletes them from the kernel's maps.
  void close_ended(std::vector<LedgerRow>& kernel_rows);
  // Forgets ended images: at once those that hold nothing (in `rows`) and
  // no operator named; the oldest past keep_exited.
  void prune(const std::vector<LedgerRow>& rows);

  TracedImage* live(pid_t pid);
  bool traces(pid_t pid) const { return live_.count(pid) != 0; }
  const TracedImage* find(TraceId id) const;
  TracedImage* find(TraceId id);
  std::map<TraceId, TracedImage>& images() { return images_; }
  const std::map<TraceId, TracedImage>& images() const { return images_; }
  size_t size() const { return images_.size(); }
  // Every image has ended, none on request (a detach means an operator is
  // steering and more attaches may come).
  bool all_ended() const;

 private:
  void forget(TraceId id);

  Kernel& kernel_;
  ImageObserver& observer_;
  ImagePolicy policy_;
  std::map<TraceId, TracedImage> images_;  // ended images included
  std::map<pid_t, TraceId> live_;          // PID -> its current image
  TraceId next_id_ = 1;
};

}  // namespace leakscope
