// The alert state machine per (host, pid, kind, stack fingerprint):
// pending -> firing -> resolved, deduplicated, re-sent while firing.
// Pure: time is passed in, records are returned.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "alerts/alert.h"

namespace leakscope {

struct AlertOptions {
  double pending_seconds = 10;   // a leak verdict must hold this long to fire (0: fire at once)
  double resolve_seconds = 10;   // no leak verdict for this long resolves a firing alert
  double repeat_seconds = 60;    // re-send a firing alert this often
};

class AlertTracker {
 public:
  explicit AlertTracker(AlertOptions options = {});
  ~AlertTracker();  // defined where Entry is complete
  AlertTracker(AlertTracker&&) noexcept;
  AlertTracker& operator=(AlertTracker&&) noexcept;

  // Feeds this tick's subjects (every stack judged this tick; is_leak set on
  // the suspected ones) at wall-clock time `now`. Returns the records to
  // send: newly firing, re-sends due, resolutions. A subject absent from
  // `subjects` (its process gone) counts as not leaking.
  std::vector<AlertRecord> update(const std::vector<AlertSubject>& subjects,
                                  std::chrono::system_clock::time_point now);

  // Resolves everything still firing (on shutdown).
  std::vector<AlertRecord> resolve_all(std::chrono::system_clock::time_point now);

  size_t firing() const;
  size_t pending() const;
  // New timings (a reloaded config) for alerts pending, firing and resolving now.
  void set_options(AlertOptions options) { options_ = options; }

 private:
  struct Entry;
  AlertOptions options_;
  std::map<std::string, Entry> entries_;  // key: host/pid/kind/fingerprint
};

}  // namespace leakscope
