// Detaching a uprobe waits for an RCU grace period (~0.1 s each here), so
// links of targets that are done with are destroyed off the trace loop, on
// one background thread (several at once for a big batch) that lives as
// long as the session: a churn of thousands of short processes costs no
// thread per process.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "probes/link.h"

namespace leakscope {

class LinkReaper {
 public:
  LinkReaper();
  ~LinkReaper();
  LinkReaper(const LinkReaper&) = delete;
  LinkReaper& operator=(const LinkReaper&) = delete;

  // Hands links over; they are detached soon, in the background.
  void reap(std::vector<Link> links);
  // Detaches everything handed over so far and stops the thread.
  void finish();
  // Batches handed over and not yet detached.
  size_t pending() const;

 private:
  void run();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::vector<Link>> queue_;
  size_t busy_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

// Destroys `links` on several threads at once: each detach sleeps through a
// grace period, and those overlap.
void destroy_links(std::vector<Link> links);

}  // namespace leakscope
