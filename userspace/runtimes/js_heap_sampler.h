// V8's sampling heap profiler in one Node.js process, driven over its
// inspector from a thread of its own: connect, start sampling, pull the
// profile every period, and on the way out leave the process as it was.
//
// What the process sees while it is sampled (the README says it too):
// - its inspector, opened by the caller (SIGUSR1) or already open;
// - one DevTools session, sampling every `sampling_interval` bytes;
// - when leakscope opened the inspector, an unref'd 1 s timer and a
//   non-enumerable global (`__leakscope_watchdog`) that close the inspector
//   (`process._debugEnd()`) if leakscope stops beating for 10 s: after a
//   `kill -9` of leakscope the session drops (which stops the sampling) and
//   the port closes within 11 s of leakscope's last beat (one a tick).
// On stop: sampling stopped, the watchdog removed, and the inspector
// closed if leakscope opened it; every step bounded in time. A process that
// is exiting waits for its DevTools sessions to go: the sampler asks Node
// to say so (NodeRuntime.waitingForDisconnect) and goes within 2 s.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "runtimes/cdp_connection.h"
#include "runtimes/js_profile.h"

namespace leakscope {

struct JsSamplerOptions {
  InspectorEndpoint endpoint;
  uint32_t sampling_interval = 32 * 1024;  // bytes between samples, on average
  double period_seconds = 1.0;             // one profile per period (a beat every 2 s at most)
  bool close_inspector = true;             // leakscope opened it: close it at the end
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds call_timeout{6000};  // with the 2 s beat, under the watchdog's 10 s
};

enum class JsSamplerState { Connecting, Sampling, Failed, Stopped };

// What the sampler has to show, as of its last profile.
struct JsSamplerSnapshot {
  JsSamplerState state = JsSamplerState::Connecting;
  std::shared_ptr<const JsProfile> profile;  // the last one read; null before the first
  uint64_t profiles = 0;                     // profiles read so far
  size_t last_profile_bytes = 0;             // size of the last reply, as sent
  double last_pull_seconds = 0;              // how long pulling and reading it took
  std::string runtime_version;               // "v20.20.2"
  std::string error;                         // why it failed (state Failed), one line
};

class JsHeapSampler {
 public:
  explicit JsHeapSampler(JsSamplerOptions options);
  ~JsHeapSampler();  // stop()
  JsHeapSampler(const JsHeapSampler&) = delete;
  JsHeapSampler& operator=(const JsHeapSampler&) = delete;

  JsSamplerSnapshot snapshot() const;
  // Leaves the process as it was (see above) and joins the thread. A
  // process already gone costs nothing. Idempotent.
  void stop();

 private:
  void run();
  void sample(CdpConnection& cdp);
  void leave(CdpConnection& cdp, bool watchdog);
  bool exiting(CdpConnection& cdp);
  // After a failure, when leakscope opened the inspector: a new session,
  // only to close it.
  void close_inspector_anew();
  void fail(std::string error);
  bool sleep_for(double seconds);  // false when asked to stop

  const JsSamplerOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mutex_
  JsSamplerSnapshot snapshot_;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace leakscope
