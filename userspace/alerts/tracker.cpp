#include "alerts/tracker.h"

#include <cstdio>
#include <ctime>

namespace leakscope {

using Clock = std::chrono::system_clock;

struct AlertTracker::Entry {
  AlertSubject subject;  // latest observation
  std::string fingerprint;
  AlertState state = AlertState::Pending;
  Clock::time_point first_seen;  // became pending
  Clock::time_point starts_at;   // started firing
  Clock::time_point last_leak;   // last tick with a leak verdict
  Clock::time_point last_sent;   // last firing record
  bool leaking_now = false;      // leak verdict on the current tick
};

namespace {

// RFC 3339 UTC with milliseconds: "2024-05-01T12:00:00.250Z".
std::string rfc3339(Clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  auto secs = static_cast<time_t>(ms / 1000);
  auto frac = static_cast<int>(ms % 1000);
  if (frac < 0) {
    frac += 1000;
    --secs;
  }
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

std::string entry_key(const AlertSubject& s, const std::string& fingerprint) {
  return s.host + "/" + std::to_string(s.pid) + "/" + std::string(kind_name(s.kind)) + "/" +
         fingerprint;
}

}  // namespace

std::vector<AlertRecord> AlertTracker::update(const std::vector<AlertSubject>& subjects,
                                              Clock::time_point now) {
  for (auto& [key, e] : entries_) e.leaking_now = false;

  for (const AlertSubject& s : subjects) {
    std::string fp = alert_fingerprint(s);
    std::string key = entry_key(s, fp);
    auto it = entries_.find(key);
    if (it == entries_.end()) {
      if (!s.is_leak) continue;  // nothing to track
      Entry e;
      e.fingerprint = fp;
      e.first_seen = now;
      it = entries_.emplace(key, std::move(e)).first;
    }
    Entry& e = it->second;
    e.subject = s;  // freshest numbers, also for a resolution
    if (s.is_leak) {
      e.leaking_now = true;
      e.last_leak = now;
    }
  }

  auto make_record = [](const Entry& e, AlertState state) {
    AlertRecord r;
    r.subject = e.subject;
    r.state = state;
    r.fingerprint = e.fingerprint;
    r.first_seen = rfc3339(e.first_seen);
    r.starts_at = rfc3339(e.starts_at);
    return r;
  };

  std::vector<AlertRecord> out;
  for (auto it = entries_.begin(); it != entries_.end();) {
    Entry& e = it->second;
    if (e.state == AlertState::Pending) {
      if (!e.leaking_now) {  // stopped before it fired: forget quietly
        it = entries_.erase(it);
        continue;
      }
      if (now - e.first_seen >= seconds(options_.pending_seconds)) {
        e.state = AlertState::Firing;
        e.starts_at = now;
        e.last_sent = now;
        AlertRecord r = make_record(e, AlertState::Firing);
        r.ends_at = rfc3339(now + seconds(3 * options_.repeat_seconds));
        out.push_back(std::move(r));
      }
      ++it;
      continue;
    }
    // Firing.
    if (!e.leaking_now && now - e.last_leak >= seconds(options_.resolve_seconds)) {
      AlertRecord r = make_record(e, AlertState::Resolved);
      r.subject.is_leak = false;
      r.ends_at = rfc3339(now);
      out.push_back(std::move(r));
      it = entries_.erase(it);
      continue;
    }
    if (now - e.last_sent >= seconds(options_.repeat_seconds)) {
      e.last_sent = now;
      AlertRecord r = make_record(e, AlertState::Firing);
      r.ends_at = rfc3339(now + seconds(3 * options_.repeat_seconds));
      out.push_back(std::move(r));
    }
    ++it;
  }
  return out;
}

std::vector<AlertRecord> AlertTracker::resolve_all(Clock::time_point now) {
  std::vector<AlertRecord> out;
  for (auto& [key, e] : entries_) {
    if (e.state != AlertState::Firing) continue;
    AlertRecord r;
    r.subject = e.subject;
    r.subject.is_leak = false;
    r.state = AlertState::Resolved;
    r.fingerprint = e.fingerprint;
    r.first_seen = rfc3339(e.first_seen);
    r.starts_at = rfc3339(e.starts_at);
    r.ends_at = rfc3339(now);
    out.push_back(std::move(r));
  }
  entries_.clear();
  return out;
}

size_t AlertTracker::firing() const {
  size_t n = 0;
  for (const auto& [key, e] : entries_) n += e.state == AlertState::Firing;
  return n;
}

size_t AlertTracker::pending() const {
  size_t n = 0;
  for (const auto& [key, e] : entries_) n += e.state == AlertState::Pending;
  return n;
}

AlertTracker::AlertTracker(AlertOptions options) : options_(options) {}
AlertTracker::~AlertTracker() = default;
AlertTracker::AlertTracker(AlertTracker&&) noexcept = default;
AlertTracker& AlertTracker::operator=(AlertTracker&&) noexcept = default;

}  // namespace leakscope
