#include "alerts/alert.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "report/units.h"

namespace leakscope {

std::string_view alert_state_name(AlertState state) {
  switch (state) {
    case AlertState::Pending: return "pending";
    case AlertState::Firing: return "firing";
    case AlertState::Resolved: return "resolved";
  }
  return "unknown";
}

namespace {

// What one object of an object-counted kind is called in a summary.
std::string_view object_noun(Kind kind) {
  switch (kind) {
    case Kind::Timerfd: return "timers";
    case Kind::Epoll: return "epoll instances";
    default: return "objects";
  }
}

std::string leak_site_text(const AlertSubject& s) {
  if (s.frames.empty()) return "[unknown]";
  const Frame& f = s.frames.front();
  std::string out = f.display_name();
  if (!f.file.empty()) {
    out += " (" + basename_of(f.file);
    if (f.line > 0) out += ":" + std::to_string(f.line);
    out += ")";
  }
  return out;
}

nlohmann::json nullable(const std::string& s) {
  return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
}

std::string hex(uint64_t v, int width) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%0*llx", width, static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

std::string AlertRecord::summary() const {
  const AlertSubject& s = subject;
  std::string out = "leak in " + (s.comm.empty() ? std::string("?") : s.comm) +
                    " (pid " + std::to_string(s.pid) + "): ";
  if (s.rate_unit == "objects/s") {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%+.1f", s.rate);
    out += buf;
    out += " ";
    out += object_noun(s.kind);
    out += "/s";
    if (s.kind != Kind::Timerfd && s.kind != Kind::Epoll) {
      out += " ";
      out += kind_name(s.kind);
    }
  } else {
    out += format_rate(s.rate);
    out += " ";
    out += kind_name(s.kind);
  }
  out += " at " + leak_site_text(s);
  return out;
}

std::string alert_fingerprint(const AlertSubject& subject) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a 64 offset basis
  auto mix = [&h](std::string_view bytes) {
    for (unsigned char c : bytes) {
      h ^= c;
      h *= 0x100000001b3ULL;  // FNV-1a 64 prime
    }
    h ^= 0xff;  // field separator, so ("ab","c") != ("a","bc")
    h *= 0x100000001b3ULL;
  };
  mix(subject.host);
  mix(subject.comm);
  mix(kind_name(subject.kind));
  for (const Frame& f : subject.frames) {
    if (!f.function.empty())
      mix(f.function);
    else
      mix(basename_of(f.module.empty() ? std::string("[unknown]") : f.module) + "+0x" +
          hex(f.module_offset, 1));
  }
  return hex(h, 16);
}

std::string alert_to_json(const AlertRecord& record) {
  using nlohmann::json;
  const AlertSubject& s = record.subject;
  json frames = json::array();
  for (const Frame& f : s.frames) {
    frames.push_back({{"address", "0x" + hex(f.address, 1)},
                      {"function", nullable(f.function)},
                      {"file", nullable(f.file)},
                      {"line", f.line},
                      {"module", nullable(f.module)},
                      {"module_offset", "0x" + hex(f.module_offset, 1)},
                      {"display", f.display_name()}});
  }
  json site = {{"function", nullptr}, {"file", nullptr}, {"line", 0}, {"module", nullptr}};
  if (!s.frames.empty()) {
    const Frame& f = s.frames.front();
    site = {{"function", f.display_name()},
            {"file", nullable(f.file)},
            {"line", f.line},
            {"module", nullable(f.module)}};
  }
  json j = {
      {"schema_version", kAlertSchemaVersion},
      {"fingerprint", record.fingerprint.empty() ? alert_fingerprint(s) : record.fingerprint},
      {"state", alert_state_name(record.state)},
      {"summary", record.summary()},
      {"host", s.host},
      {"pid", s.pid},
      {"comm", s.comm},
      {"cmdline", s.cmdline},
      {"cgroup", nullable(s.cgroup)},
      {"container_id", nullable(s.container_id)},
      {"kind", kind_name(s.kind)},
      {"leak_site", site},
      {"frames", frames},
      {"rate", s.rate},
      {"rate_unit", s.rate_unit},
      {"live_bytes", s.live_bytes},
      {"live_objects", s.live_objects},
      {"confidence", s.confidence},
      {"first_seen", nullable(record.first_seen)},
      {"starts_at", nullable(record.starts_at)},
      {"ends_at", nullable(record.ends_at)},
  };
  if (!record.generator_url.empty()) j["generator_url"] = record.generator_url;
  // comm and cmdline come from the target: never let bad UTF-8 throw.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace leakscope
