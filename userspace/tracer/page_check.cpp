#include "tracer/page_check.h"

#include <time.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/worker_thread.h"
#include "target/pagemap.h"

namespace leakscope {

struct PageCheck::State {
  std::mutex mutex;
  std::condition_variable wake;
  std::optional<Batch> job;
  std::optional<Result> done;
  bool busy = false;
  bool stop = false;
};

PageCheck::PageCheck() : state_(std::make_shared<State>()) {
  start_detached_worker([state = state_] {
    std::unique_lock lock(state->mutex);
    for (;;) {
      state->wake.wait(lock, [&] { return state->stop || state->job; });
      if (state->stop) return;
      Batch batch = std::move(*state->job);
      state->job.reset();
      lock.unlock();
      timespec now{};
      ::clock_gettime(CLOCK_MONOTONIC, &now);
      Result result{batch.id, {}, false,
                    static_cast<uint64_t>(now.tv_sec) * 1000000000ull + static_cast<uint64_t>(now.tv_nsec)};
      auto resident = pages_resident(batch.pid, batch.pages, batch.page_size);
      if (!resident) {
        result.process_gone = true;
      } else {
        for (size_t i = 0; i < batch.pages.size(); ++i)
          if (!(*resident)[i]) result.gone.push_back(batch.pages[i]);
      }
      lock.lock();
      state->done = std::move(result);
      state->busy = false;
    }
  });
}

PageCheck::~PageCheck() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stop = true;
  }
  state_->wake.notify_all();
}

bool PageCheck::idle() const {
  std::lock_guard lock(state_->mutex);
  return !state_->busy && !state_->done;
}

bool PageCheck::submit(Batch batch) {
  {
    std::lock_guard lock(state_->mutex);
    if (state_->busy || state_->done) return false;
    state_->busy = true;
    state_->job = std::move(batch);
  }
  state_->wake.notify_one();
  return true;
}

std::optional<PageCheck::Result> PageCheck::take() {
  std::lock_guard lock(state_->mutex);
  std::optional<Result> out = std::move(state_->done);
  state_->done.reset();
  return out;
}

}  // namespace leakscope
