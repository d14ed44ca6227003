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
  w.timer = setInterval(() => {
    if (process.uptime() - w.seen < 10) return;
    w.end();
    try { process._debugEnd(); } catch (e) {}
  }, 1000);
  w.timer.unref();
  Object.defineProperty(globalThis, key, { value: w, configurable: true, enumerable: false, writable: false });
  return 'installed';
})())JS";
constexpr const char* kBeat = "globalThis.__leakscope_watchdog && globalThis.__leakscope_watchdog.beat()";
constexpr const char* kRemoveWatchdog = "globalThis.__leakscope_watchdog && globalThis.__leakscope_watchdog.end()";

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
    if (!cdp) return fail("cannot connect to the inspector: " + error);
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
    fail(std::string("the JS sampler stopped: ") + e.what());
  }
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
  uint64_t ordinal_seen = 0;
  auto next = Clock::now();
  while (true) {
    next += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.period_seconds));
    if (!sleep_for(std::chrono::duration<double>(next - Clock::now()).count())) break;
    if (next < Clock::now()) next = Clock::now();  // a slow pull: no burst of catching up
    const auto began = Clock::now();
    CdpReply r = cdp.call("HeapProfiler.getSamplingProfile", json::object(), timeout);
    if (std::string e = reply_error(r); !e.empty()) {
      leave(cdp, watchdog);
      return fail("HeapProfiler.getSamplingProfile failed: " + e);
    }
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
    if (watchdog) cdp.call("Runtime.evaluate", evaluate(kBeat), timeout);
    std::lock_guard lock(mutex_);
    snapshot_.profile = std::make_shared<const JsProfile>(std::move(*profile));
    ++snapshot_.profiles;
    snapshot_.last_profile_bytes = cdp.last_reply_bytes();
    snapshot_.last_pull_seconds = std::chrono::duration<double>(Clock::now() - began).count();
  }
  leave(cdp, watchdog);
  std::lock_guard lock(mutex_);
  snapshot_.state = JsSamplerState::Stopped;
}

// Stops the sampling, removes the watchdog and closes the inspector when
// leakscope opened it. Bounded: a process that stopped answering costs
// at most a few seconds.
void JsHeapSampler::leave(CdpConnection& cdp, bool watchdog) {
  if (!cdp.is_open()) return;
  const std::chrono::milliseconds quick{2000};
  cdp.call("HeapProfiler.stopSampling", json::object(), quick);
  if (watchdog) cdp.call("Runtime.evaluate", evaluate(kRemoveWatchdog), quick);
  // Its reply may never come: the inspector closes under the session.
  if (options_.close_inspector) cdp.send("Runtime.evaluate", evaluate("process._debugEnd()"));
  cdp.close();
}

}  // namespace leakscope
