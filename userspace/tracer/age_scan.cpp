#include "tracer/age_scan.h"

#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/worker_thread.h"

namespace leakscope {

struct AgeScan::State {
  explicit State(ObjectAgeScan s) : scan(std::move(s)) {}
  ObjectAgeScan scan;
  mutable std::mutex mutex;
  std::condition_variable wake;          // a job, or stop
  mutable std::condition_variable done;  // the job finished
  std::optional<std::set<TraceId>> job;
  std::optional<Snapshot> latest;
  bool busy = false;  // a job queued or under way
  bool stop = false;
};

AgeScan::AgeScan(ObjectAgeScan scan) : state_(std::make_shared<State>(std::move(scan))) {
  start_detached_worker([state = state_] {
    std::unique_lock lock(state->mutex);
    for (;;) {
      state->wake.wait(lock, [&] { return state->stop || state->job; });
      if (state->stop) return;
      std::set<TraceId> ids = std::move(*state->job);
      state->job.reset();
      lock.unlock();
      Snapshot snapshot{{}, std::chrono::steady_clock::now()};
      try {
        snapshot.ages = state->scan(ids);
      } catch (...) {
        // No ages this time: the report goes without them.
      }
      lock.lock();
      state->latest = std::move(snapshot);
      state->busy = false;
      state->done.notify_all();
    }
  });
}

AgeScan::~AgeScan() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stop = true;
  }
  state_->wake.notify_all();
}

void AgeScan::start(std::set<TraceId> ids) {
  {
    std::lock_guard lock(state_->mutex);
    if (state_->busy) return;
    state_->busy = true;
    state_->job = std::move(ids);
  }
  state_->wake.notify_one();
}

bool AgeScan::wait(std::chrono::steady_clock::time_point deadline) const {
  std::unique_lock lock(state_->mutex);
  return state_->done.wait_until(lock, deadline, [&] { return !state_->busy; });
}

std::optional<std::vector<ObjectAges>> AgeScan::latest(std::chrono::steady_clock::time_point now) const {
  std::lock_guard lock(state_->mutex);
  if (!state_->latest) return std::nullopt;
  const double since = std::chrono::duration<double>(now - state_->latest->taken).count();
  std::vector<ObjectAges> ages = state_->latest->ages;
  if (since > 0)
    for (ObjectAges& a : ages) {
      a.oldest_seconds += since;
      a.median_seconds += since;
    }
  return ages;
}

}  // namespace leakscope
