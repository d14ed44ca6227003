#include "runtimes/js_heap_sampler.h"

#include <nlohmann/json.hpp>

#include "core/log.h"

namespace leakscope {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// The watchdog installed in the process when leakscope opened its
// inspector (see js_heap_sampler.h). process.uptime() is monotonic.
constexpr const char* kInstallWatchdog = R"JS((() => {
  const key = '__leakscope_watchdog';
  const present = globalThis[key];
  if (present) { present.beat(); return 'present'; }
  const w = {
    seen: process.uptime(),
    timer: null,
    beat() { this.seen = process.uptime(); },
    end() { clearInterval(this.timer); delete globalThis[key]; },
  };
  Object.defineProperty(globalThis, key, { value: w, configurable: true, enumerable: false, writable: false });
  w.timer = setInterval(() => {
    if (process.uptime() - w.seen < 10) return;
    w.end();
    try { process._debugEnd(); } catch (e) {}
  }, 1000);
  w.timer.unref();
  return 'installed';
})())JS";
constexpr const char* kBeat = "globalThis.__leakscope_watchdog && globalThis.__leakscope_watchdog.beat()";
constexpr const char* kRemoveWatchdog = "globalThis.__leakscope_watchdog && globalThis.__leakscope_watchdog.end()";

constexpr std::chrono::milliseconds kQuickCall{2000};

json evaluate(const char* expression) { return json{{"expression", expression}, {"returnByValue", true}}; }

// The error of a reply, or of an evaluation that threw in the process.
std::string reply_error(const CdpReply& reply) {
  if (!reply.ok) return reply.error;
  auto details = reply.result.find("exceptionDetails");
  if (details != reply.result.end() && details->is_object()) {
    auto text = details->find("text");
    return "the expression threw" +
           (text != details->end() && text->is_string() ? ": " + text->get<std::string>().substr(0, 200) : "");
  }
  return {};
}

}  // namespace

JsHeapSampler::JsHeapSampler(JsSamplerOptions options) : options_(std::move(options)) {
  thread_ = std::thread([this] { run(); });
}

JsHeapSampler::~JsHeapSampler() { stop(); }

JsSamplerSnapshot JsHeapSampler::snapshot() const {
  std::lock_guard lock(mutex_);
  return snapshot_;
}

void JsHeapSampler::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool JsHeapSampler::sleep_for(double seconds) {
  std::unique_lock lock(mutex_);
  return !wake_.wait_for(lock, std::chrono::duration<double>(std::max(0.0, seconds)), [this] { return stopping_; });
}

void JsHeapSampler::fail(std::string error) {
  std::lock_guard lock(mutex_);
  snapshot_.state = JsSamplerState::Failed;
  snapshot_.error = std::move(error);
}

void JsHeapSampler::run() {
  // Nothing may escape the thread: a failure is a state the tracer reads.
  try {
    std::string error;
    auto cdp = CdpConnection::open(options_.endpoint, options_.connect_timeout, &error);
    if (!cdp) {
      // The inspector leakscope opened must not stay open: a second try,
      // only to close it.
      close_inspector_anew();
      return fail("cannot connect to the inspector: " + error);
    }
    {
      std::lock_guard lock(mutex_);
      snapshot_.runtime_version = cdp->runtime_version();
    }
    if (std::string old = js_runtime_too_old(cdp->runtime_version()); !old.empty()) {
      leave(*cdp, false);
      return fail(old);
    }
    sample(*cdp);
  } catch (const std::exception& e) {
    close_inspector_anew();
    fail(std::string("the JS sampler stopped: ") + e.what());
  }
}

void JsHeapSampler::close_inspector_anew() {
  if (!options_.close_inspector) return;
  std::string error;
  auto cdp = CdpConnection::open(options_.endpoint, std::chrono::milliseconds(3000), &error);
  if (!cdp) {
    log_warn("the inspector of " + std::to_string(options_.endpoint.netns_pid) +
             " may still be open on port " + std::to_string(options_.endpoint.port) + ": " + error);
    return;
  }
  cdp->send("Runtime.evaluate", evaluate("process._debugEnd()"));
  cdp->close();
}

void JsHeapSampler::sample(CdpConnection& cdp) {
  const auto timeout = options_.call_timeout;
  bool watchdog = false;
  if (options_.close_inspector) {
    CdpReply r = cdp.call("Runtime.evaluate", evaluate(kInstallWatchdog), timeout);
    if (std::string e = reply_error(r); !e.empty()) {
      // Without its watchdog the port could outlive a killed leakscope:
      // better not to sample at all.
      leave(cdp, false);
      return fail("cannot install the inspector's watchdog: " + e);
    }
    watchdog = true;
  }
  // Node tells when it waits for the session to go before exiting.
  cdp.call("NodeRuntime.notifyWhenWaitingForDisconnect", json{{"enabled", true}}, timeout);
  CdpReply started = cdp.call("HeapProfiler.startSampling",
                              json{{"samplingInterval", options_.sampling_interval}}, timeout);
  if (std::string e = reply_error(started); !e.empty()) {
    leave(cdp, watchdog);
    return fail("HeapProfiler.startSampling failed: " + e);
  }
  {
    std::lock_guard lock(mutex_);
    snapshot_.state = JsSamplerState::Sampling;
  }
  // Pull a profile every period; beat (and look for the process exiting)
  // every slice of at most 2 s, whatever the period: the watchdog gives up
  // after 10 s of silence.
  uint64_t ordinal_seen = 0;
  const auto period = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(std::max(0.05, options_.period_seconds)));
  const auto slice = std::min<Clock::duration>(period, std::chrono::seconds(2));
  auto next_pull = Clock::now() + period;
  while (true) {
    const auto wake = std::min(next_pull, Clock::now() + slice);
    if (!sleep_for(std::chrono::duration<double>(wake - Clock::now()).count())) break;
    if (watchdog) cdp.call("Runtime.evaluate", evaluate(kBeat), kQuickCall);
    if (exiting(cdp)) return;
    if (!cdp.is_open()) {
      close_inspector_anew();
      return fail("lost the inspector");
    }
    if (Clock::now() < next_pull) continue;
    next_pull = std::max(next_pull + period, Clock::now());  // a slow pull: no burst of catching up
    const auto began = Clock::now();
    CdpReply r = cdp.call("HeapProfiler.getSamplingProfile", json::object(), timeout);
    if (exiting(cdp)) return;
    if (std::string e = reply_error(r); !e.empty()) {
      leave(cdp, watchdog);
      return fail("HeapProfiler.getSamplingProfile failed: " + e);
    }
    const size_t reply_bytes = cdp.last_reply_bytes();
    std::string error;
    auto profile_member = r.result.find("profile");
    std::optional<JsProfile> profile =
        profile_member == r.result.end()
            ? std::nullopt
            : read_js_profile(*profile_member, options_.sampling_interval, ordinal_seen, &error);
    if (!profile) {
      leave(cdp, watchdog);
      return fail(error.empty() ? "the reply holds no sampling heap profile" : error);
    }
    ordinal_seen = profile->max_ordinal;
    std::lock_guard lock(mutex_);
    snapshot_.profile = std::make_shared<const JsProfile>(std::move(*profile));
    ++snapshot_.profiles;
    snapshot_.last_profile_bytes = reply_bytes;
    snapshot_.last_pull_seconds = std::chrono::duration<double>(Clock::now() - began).count();
  }
  leave(cdp, watchdog);
  std::lock_guard lock(mutex_);
  snapshot_.state = JsSamplerState::Stopped;
}

// The process is on its way out and waits for the session to go (Node does
// not exit while a DevTools session is connected): it goes at once.
bool JsHeapSampler::exiting(CdpConnection& cdp) {
  if (!cdp.saw_event("NodeRuntime.waitingForDisconnect")) return false;
  cdp.close();
  std::lock_guard lock(mutex_);
  snapshot_.state = JsSamplerState::Stopped;
  snapshot_.error = "the process is exiting";
  return true;
}

// Stops the sampling, removes the watchdog and closes the inspector when
// leakscope opened it. Bounded: a process that stopped answering costs
// at most a few seconds.
void JsHeapSampler::leave(CdpConnection& cdp, bool watchdog) {
  if (!cdp.is_open()) return close_inspector_anew();
  cdp.call("HeapProfiler.stopSampling", json::object(), kQuickCall);
  if (watchdog && cdp.is_open()) cdp.call("Runtime.evaluate", evaluate(kRemoveWatchdog), kQuickCall);
  // Its reply may never come: the inspector closes under the session.
  if (!cdp.is_open()) return close_inspector_anew();
  if (options_.close_inspector) cdp.send("Runtime.evaluate", evaluate("process._debugEnd()"));
  cdp.close();
}

}  // namespace leakscope
