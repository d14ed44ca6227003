#include "symbols/frame_namer.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include "core/worker_thread.h"

namespace leakscope {

namespace {

// How long a destroyed FrameNamer waits for the lookup under way.
constexpr auto kStopWait = std::chrono::milliseconds(500);

}  // namespace

struct FrameNamer::State {
  struct Job {
    std::shared_ptr<Module> module;
    uint64_t vaddr = 0;
  };
  explicit State(size_t max) : max_queued(max) {}

  mutable std::mutex mutex;
  std::condition_variable wake;          // a job, or stop
  mutable std::condition_variable idle;  // no job queued or under way
  std::deque<Job> jobs;
  std::set<std::pair<const Module*, uint64_t>> queued;  // jobs and the one under way
  bool busy = false;
  bool stop = false;
  size_t max_queued;
};

FrameNamer::FrameNamer(size_t max_queued) : state_(std::make_shared<State>(max_queued)) {
  start_detached_worker([state = state_] {
    std::unique_lock lock(state->mutex);
    for (;;) {
      state->wake.wait(lock, [&] { return state->stop || !state->jobs.empty(); });
      if (state->stop) break;
      State::Job job = std::move(state->jobs.front());
      state->jobs.pop_front();
      state->busy = true;
      lock.unlock();
      try {
        job.module->lookup(job.vaddr);  // memoized in the module: lookup_ready finds it
      } catch (...) {
        // Nothing to name it with: the frame stays module+offset.
      }
      const std::pair<const Module*, uint64_t> key{job.module.get(), job.vaddr};
      job.module.reset();
      lock.lock();
      state->queued.erase(key);
      state->busy = false;
      if (state->jobs.empty()) state->idle.notify_all();
    }
  });
}

FrameNamer::~FrameNamer() {
  std::unique_lock lock(state_->mutex);
  state_->stop = true;
  state_->jobs.clear();  // here, not on the worker while the tracer exits
  state_->wake.notify_all();
  state_->idle.wait_for(lock, kStopWait, [&] { return !state_->busy; });
}

bool FrameNamer::submit(std::shared_ptr<Module> module, uint64_t vaddr) {
  if (!module) return false;
  {
    std::lock_guard lock(state_->mutex);
    if (!state_->queued.emplace(module.get(), vaddr).second) return true;
    if (state_->jobs.size() >= state_->max_queued) {
      state_->queued.erase({module.get(), vaddr});
      return false;
    }
    state_->jobs.push_back(State::Job{std::move(module), vaddr});
  }
  state_->wake.notify_one();
  return true;
}

bool FrameNamer::wait_idle(std::chrono::steady_clock::time_point deadline) const {
  std::unique_lock lock(state_->mutex);
  return state_->idle.wait_until(lock, deadline, [&] { return state_->jobs.empty() && !state_->busy; });
}

size_t FrameNamer::pending() const {
  std::lock_guard lock(state_->mutex);
  return state_->queued.size();
}

}  // namespace leakscope
