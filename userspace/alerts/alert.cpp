#include "alerts/alert.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "report/frame_text.h"
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
  const Frame& f = alert_leak_site(s);
  // JS: "handler (app.js:42:13)": the function and its short file, line, column.
  if (is_js_frame(f)) {
    std::string out = js_function(f);
    if (!f.file.empty()) {
      out += " (" + js_short_file(f.file);
      if (f.line > 0) out += ":" + std::to_string(f.line);
      if (f.line > 0 && f.column > 0) out += ":" + std::to_string(f.column);
      out += ")";
    }
    return out;
  }
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

size_t alert_leak_site_index(const AlertSubject& subject) {
  return leak_site_index(subject.frames, subject.leak_site);
}

const Frame& alert_leak_site(const AlertSubject& subject) {
  return subject.frames.at(alert_leak_site_index(subject));
}

std::string alert_frame_text(const Frame& f) {
  if (is_js_frame(f)) return js_frame_text(f);
  return f.display_name();
}

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
    if (is_js_frame(f))
      // "(anonymous)" is everywhere: a JS function counts with its file
      // (not its line, which moves with every edit above it).
      mix(js_function(f) + " @ " + f.file);
    else if (!f.function.empty())
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
    json fj = {{"address", "0x" + hex(f.address, 1)},
               {"function", nullable(f.function)},
               {"file", nullable(f.file)},
               {"line", f.line},
               {"module", nullable(f.module)},
               {"module_offset", "0x" + hex(f.module_offset, 1)},
               {"display", alert_frame_text(f)}};
    if (f.column > 0) fj["column"] = f.column;  // JS frames
    frames.push_back(std::move(fj));
  }
  json site = {
      {"function", nullptr}, {"file", nullptr}, {"line", 0}, {"module", nullptr}, {"index", 0}};
  if (!s.frames.empty()) {
    const Frame& f = alert_leak_site(s);
    site = {{"function", is_js_frame(f) ? js_function(f) : f.display_name()},
            {"file", nullable(f.file)},
            {"line", f.line},
            {"module", nullable(f.module)},
            {"index", alert_leak_site_index(s)}};
    if (f.column > 0) site["column"] = f.column;
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
