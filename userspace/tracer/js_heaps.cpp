#include "tracer/js_heaps.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include <chrono>
#include <thread>

#include "core/log.h"
#include "core/unique_fd.h"
#include "target/node_process.h"

namespace leakscope {

namespace {

const char* state_name(JsSamplerState s) {
  switch (s) {
    case JsSamplerState::Connecting: return "connecting";
    case JsSamplerState::Sampling: return "sampling";
    case JsSamplerState::Failed: return "failed";
    case JsSamplerState::Stopped: return "stopped";
  }
  return "unknown";
}

// How long Node takes to open its inspector after SIGUSR1, at most.
constexpr double kInspectorOpenSeconds = 5;

}  // namespace

bool loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

std::string js_hint(pid_t pid) {
  if (!read_node_process(pid)) return {};
  return std::to_string(pid) +
         " is a Node.js process: its JavaScript heap is sampled only with --kinds js or --js "
         "(which opens its inspector on 127.0.0.1 while tracing; see the README)";
}

JsHeaps::JsHeaps(Kernel& kernel, Symbolizer& symbolizer, StackStore& stacks, JsHeapOptions options)
    : kernel_(kernel), symbolizer_(symbolizer), stacks_(stacks), options_(options) {}

JsHeaps::~JsHeaps() {
  // Each sampler leaves its process in a few round trips: all at once
  // (one after the other if no thread can be had).
  std::vector<std::thread> stopping;
  for (auto& [id, heap] : samplers_) {
    if (!heap.sampler) continue;
    try {
      stopping.emplace_back([s = heap.sampler.get()] { s->stop(); });
    } catch (const std::system_error&) {
      heap.sampler->stop();
    }
  }
  for (std::thread& t : stopping) t.join();
}

// Why SIGUSR1 might not reach Node's inspector in `pid` ("" when it will):
// the handler the kernel holds for it must be Node's own. An application's
// process.on('SIGUSR1') puts libuv's uv__signal_handler there instead; a
// handler that cannot be read or named is not taken on trust.
std::string JsHeaps::sigusr1_unsafe(pid_t pid) {
  const std::string who = std::to_string(pid);
  std::optional<uint64_t> handler = kernel_.signal_handler(pid, SIGUSR1);
  if (!handler) return who + ": its SIGUSR1 handler cannot be read, so leakscope does not send it";
  if (*handler <= 1) return who + " catches no SIGUSR1: it would end the process";
  // resolve() names return addresses (it looks up the byte before): a
  // function's first byte is named from the byte after it.
  Frame f = symbolizer_.resolve(pid, *handler + 1);
  auto slash = f.module.rfind('/');
  std::string module = slash == std::string::npos ? f.module : f.module.substr(slash + 1);
  if (f.function.find("uv__signal_handler") != std::string::npos || module.rfind("libuv", 0) == 0)
    return who + " handles SIGUSR1 itself (process.on('SIGUSR1')): it would run its handler, not open its "
                 "inspector; leakscope does not send it";
  if (f.function.find("StartIoThreadWakeup") != std::string::npos || module.rfind("libnode", 0) == 0) return {};
  return who + ": its SIGUSR1 handler (" + f.display_name() +
         ") is not Node's inspector's, so leakscope does not send it";
}

std::optional<JsRefusal> JsHeaps::start(TraceId id, pid_t pid) {
  if (auto it = samplers_.find(id); it != samplers_.end() && it->second.sampler) return std::nullopt;
  std::optional<NodeProcess> node = read_node_process(pid);
  if (!node) return JsRefusal{std::to_string(pid) + " is not a Node.js process", true};
  if (node->inspector_port == 0)
    return JsRefusal{std::to_string(pid) + " was started with --inspect-port=0: its inspector's port is not known"};
  const std::string where = node->inspector_host + ":" + std::to_string(node->inspector_port);
  bool opened = false;
  switch (listener_on_port(pid, node->inspector_port)) {
    case PortHolder::Target:
      log_info(std::to_string(pid) + ": its inspector is already open on " + where +
               "; used, and left open at the end");
      break;
    case PortHolder::Other:
      return JsRefusal{"port " + where + " in the network namespace of " + std::to_string(pid) +
                       " is held by another process (another inspector?): its inspector cannot open"};
    case PortHolder::None: {
      // Node's inspector is an unauthenticated debugger: leakscope opens it
      // only on loopback.
      if (!loopback(node->inspector_host))
        return JsRefusal{std::to_string(pid) + " would open its inspector on " + where +
                         ", not on loopback: leakscope opens no debugger port to the network"};
      if (node->sigusr1_disabled || !node->sigusr1_caught)
        return JsRefusal{std::to_string(pid) +
                         " was started with --disable-sigusr1 or catches no SIGUSR1: SIGUSR1 would not "
                         "open its inspector (it would end the process)"};
      // Held from here: the checks below and the signal are about the same process.
      UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
      if (pidfd.get() < 0) return JsRefusal{std::to_string(pid) + " is gone"};
      if (std::string unsafe = sigusr1_unsafe(pid); !unsafe.empty()) return JsRefusal{unsafe};
      if (::syscall(SYS_pidfd_send_signal, pidfd.get(), SIGUSR1, nullptr, 0) != 0)
        return JsRefusal{std::to_string(pid) + ": SIGUSR1 could not be sent: " + std::strerror(errno)};
      opened = true;
      const auto deadline =
          std::chrono::steady_clock::now() + std::chrono::duration<double>(kInspectorOpenSeconds);
      while (listener_on_port(pid, node->inspector_port) != PortHolder::Target) {
        if (std::chrono::steady_clock::now() > deadline)
          return JsRefusal{std::to_string(pid) + " did not open its inspector on " + where + " within 5 s of SIGUSR1"};
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      log_info(std::to_string(pid) + ": inspector opened on " + where +
               " (in its network namespace) for sampling its JS heap; closed when tracing ends");
      break;
    }
  }
  JsSamplerOptions o;
  o.endpoint.netns_pid = pid;
  o.endpoint.host = node->inspector_host == "localhost" ? "127.0.0.1" : node->inspector_host;
  o.endpoint.port = node->inspector_port;
  o.sampling_interval = options_.sampling_interval;
  o.period_seconds = options_.period_seconds;
  o.close_inspector = opened;
  Heap& heap = samplers_[id];
  heap.failure_logged = false;
  heap.pid = pid;
  heap.opened_inspector = opened;
  heap.port = node->inspector_port;
  heap.sampler = std::make_unique<JsHeapSampler>(o);
  return std::nullopt;
}

std::optional<JsRefusal> JsHeaps::wait_first_profile(TraceId id, double seconds) {
  auto it = samplers_.find(id);
  if (it == samplers_.end() || !it->second.sampler) return JsRefusal{"not sampled"};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (true) {
    JsSamplerSnapshot s = it->second.sampler->snapshot();
    if (s.state == JsSamplerState::Failed) return JsRefusal{s.error};
    if (s.profiles > 0) return std::nullopt;
    if (std::chrono::steady_clock::now() > deadline)
      return JsRefusal{"no sampling heap profile within " + std::to_string(int(seconds)) + " s"};
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void JsHeaps::stop(TraceId id) {
  auto it = samplers_.find(id);
  if (it == samplers_.end() || !it->second.sampler) return;
  it->second.sampler->stop();
  it->second.sampler.reset();
  // Not sampled any more: nothing is known live (a later drill-down starts
  // from V8's new samples).
  it->second.ledger.end_sampling();
  it->second.applied.reset();
}

void JsHeaps::forget(TraceId id) {
  stop(id);
  samplers_.erase(id);
}

std::vector<LedgerRow> JsHeaps::rows() {
  std::vector<LedgerRow> out;
  for (auto& [id, heap] : samplers_) {
    if (heap.sampler) {
      JsSamplerSnapshot snap = heap.sampler->snapshot();
      if (snap.state == JsSamplerState::Failed && !heap.failure_logged) {
        log_warn(std::to_string(heap.pid) + ": its JS heap is no longer sampled: " + snap.error);
        heap.failure_logged = true;
      }
      if (snap.profile && snap.profile != heap.applied) {
        heap.ledger.apply(*snap.profile, [this, id = id](const JsStack& js) {
          return stacks_.intern_named(id, js.identity, js.frames, js.leak_site);
        });
        heap.applied = snap.profile;
      }
    }
    for (const LedgerRow& row : heap.ledger.rows(id)) out.push_back(row);
  }
  return out;
}

std::vector<JsHeapStatus> JsHeaps::status() const {
  std::vector<JsHeapStatus> out;
  for (const auto& [id, heap] : samplers_) {
    JsHeapStatus s;
    s.trace_id = id;
    s.pid = heap.pid;
    s.opened_inspector = heap.opened_inspector;
    s.port = heap.port;
    if (heap.sampler) {
      JsSamplerSnapshot snap = heap.sampler->snapshot();
      s.state = state_name(snap.state);
      s.runtime_version = snap.runtime_version;
      s.profiles = snap.profiles;
      s.last_profile_bytes = snap.last_profile_bytes;
      s.last_pull_seconds = snap.last_pull_seconds;
      s.error = snap.error;
    } else {
      s.state = "stopped";
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace leakscope
