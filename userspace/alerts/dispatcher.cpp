#include "alerts/dispatcher.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "alerts/sinks.h"
#include "core/errors.h"
#include "core/log.h"

namespace leakscope {

std::unique_ptr<Sink> make_sink(const std::string& spec) {
  auto value_of = [&spec](std::string_view prefix) -> std::optional<std::string> {
    if (spec.rfind(prefix, 0) != 0) return std::nullopt;
    return spec.substr(prefix.size());
  };
  if (spec == "stdout") return make_stdout_sink();
  if (spec == "journald") return make_journald_sink();
  if (auto file = value_of("jsonl:"); file && !file->empty()) return make_jsonl_sink(*file);
  if (auto url = value_of("alertmanager:"); url && !url->empty())
    return make_alertmanager_sink(*url);
  if (auto cmd = value_of("exec:"); cmd && !cmd->empty()) return make_exec_sink(*cmd);
  throw FatalError(ExitCode::Usage,
                   "bad alert sink '" + spec +
                       "': expected stdout, jsonl:FILE, alertmanager:http://HOST:PORT[/PREFIX], "
                       "journald or exec:COMMAND");
}

namespace {
constexpr double kMaxBackoffSeconds = 30;
constexpr double kShutdownSeconds = 2;
}  // namespace

struct Dispatcher::Worker {
  std::unique_ptr<Sink> sink;
  DispatcherOptions options;
  std::string name;

  mutable std::mutex mu;
  std::condition_variable wake;  // new work or stop
  std::condition_variable idle;  // queue emptied
  std::deque<AlertRecord> queue;
  bool in_flight = false;  // the front record is being delivered or retried
  bool stop = false;
  SinkHealth health;
  std::thread thread;

  size_t backlog() const { return queue.size() + (in_flight ? 1 : 0); }

  void run() {
    std::unique_lock lock(mu);
    while (true) {
      wake.wait(lock, [this] { return stop || !queue.empty(); });
      if (stop) break;
      AlertRecord record = std::move(queue.front());
      queue.pop_front();
      in_flight = true;

      double backoff = options.initial_backoff_seconds;
      bool done = false;
      for (int attempt = 1; !done; ++attempt) {
        lock.unlock();
        std::string error;
        bool ok = false;
        try {
          ok = sink->deliver(record, &error);
        } catch (const std::exception& e) {
          error = e.what();
        }
        lock.lock();
        if (ok) {
          ++health.delivered;
          break;
        }
        ++health.failures;
        if (error.empty()) error = "delivery failed";
        health.last_error = error;
        // Log without the lock: stderr may block, submit() must not.
        if (attempt >= std::max(1, options.max_attempts) || stop) {
          ++health.dropped;
          lock.unlock();
          log_warn("alert sink " + name + ": giving up on an alert: " + error);
          lock.lock();
          break;
        }
        lock.unlock();
        log_verbose("alert sink " + name + ": " + error + " (retrying)");
        lock.lock();
        auto wait = std::chrono::duration<double>(std::min(backoff, kMaxBackoffSeconds));
        done = wake.wait_for(lock, wait, [this] { return stop; });
        if (done) ++health.dropped;  // shutting down mid-retry
        backoff = std::min(backoff * 2, kMaxBackoffSeconds);
      }
      in_flight = false;
      if (queue.empty()) idle.notify_all();
    }
    health.dropped += queue.size();
    queue.clear();
    idle.notify_all();
  }
};

Dispatcher::Dispatcher(std::vector<std::unique_ptr<Sink>> sinks, DispatcherOptions options) {
  for (auto& sink : sinks) {
    if (!sink) continue;
    auto w = std::make_unique<Worker>();
    w->name = sink->name();
    w->health.name = w->name;
    w->sink = std::move(sink);
    w->options = options;
    workers_.push_back(std::move(w));
  }
  for (auto& w : workers_) w->thread = std::thread([p = w.get()] { p->run(); });
}

Dispatcher::~Dispatcher() {
  drain(kShutdownSeconds);
  for (auto& w : workers_) {
    {
      std::lock_guard lock(w->mu);
      w->stop = true;
    }
    w->wake.notify_all();
  }
  // A delivery in progress ends within its sink's own timeout.
  for (auto& w : workers_)
    if (w->thread.joinable()) w->thread.join();
}

void Dispatcher::submit(const AlertRecord& record) {
  for (auto& w : workers_) {
    {
      std::lock_guard lock(w->mu);
      if (w->stop) continue;
      if (w->queue.size() >= std::max<size_t>(1, w->options.queue_capacity)) {
        ++w->health.dropped;  // drop the newest: what is queued keeps its order
        w->health.last_error = "queue full";
        continue;
      }
      w->queue.push_back(record);
    }
    w->wake.notify_one();
  }
}

std::vector<SinkHealth> Dispatcher::health() const {
  std::vector<SinkHealth> out;
  for (const auto& w : workers_) {
    std::lock_guard lock(w->mu);
    SinkHealth h = w->health;
    h.queued = w->backlog();
    out.push_back(std::move(h));
  }
  return out;
}

bool Dispatcher::drain(double timeout_seconds) {
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                      std::chrono::duration<double>(std::max(0.0, timeout_seconds)));
  bool all = true;
  for (auto& w : workers_) {
    std::unique_lock lock(w->mu);
    if (!w->idle.wait_until(lock, deadline, [&w] { return w->backlog() == 0; })) all = false;
  }
  return all;
}

}  // namespace leakscope
