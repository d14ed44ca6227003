#include "probes/link_reaper.h"

#include <algorithm>

namespace leakscope {

void destroy_links(std::vector<Link> links) {
  constexpr size_t kThreads = 8;
  if (links.size() <= 1) return;  // the vector's destructor does the one
  std::vector<std::thread> workers;
  size_t per = (links.size() + kThreads - 1) / kThreads;
  for (size_t begin = 0; begin < links.size(); begin += per) {
    size_t end = std::min(links.size(), begin + per);
    workers.emplace_back([&links, begin, end] {
      for (size_t i = begin; i < end; ++i) links[i].reset();
    });
  }
  for (auto& w : workers) w.join();
}

LinkReaper::LinkReaper() : thread_([this] { run(); }) {}

LinkReaper::~LinkReaper() { finish(); }

void LinkReaper::reap(std::vector<Link> links) {
  if (links.empty()) return;
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(links));
  }
  cv_.notify_one();
}

void LinkReaper::finish() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

size_t LinkReaper::pending() const {
  std::lock_guard lock(mu_);
  return queue_.size() + busy_;
}

void LinkReaper::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and nothing left
    std::vector<Link> batch;
    while (!queue_.empty()) {
      for (Link& l : queue_.front()) batch.push_back(std::move(l));
      queue_.pop_front();
    }
    busy_ = 1;
    lock.unlock();
    destroy_links(std::move(batch));
    lock.lock();
    busy_ = 0;
  }
}

}  // namespace leakscope
