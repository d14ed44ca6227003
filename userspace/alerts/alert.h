// Alert records: what sinks see. Never detector internals.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/types.h"

namespace leakscope {

inline constexpr int kAlertSchemaVersion = 1;

enum class AlertState { Pending, Firing, Resolved };
std::string_view alert_state_name(AlertState state);  // "pending", "firing", "resolved"

// One suspected leak, as the tracer sees it on a tick.
struct AlertSubject {
  std::string host;
  pid_t pid = 0;
  std::string comm;
  std::vector<std::string> cmdline;
  std::string cgroup;        // cgroup v2 path, "" when unknown
  std::string container_id;  // "" when not in a container
  Kind kind = Kind::Heap;
  std::vector<Frame> frames;  // innermost first
  size_t leak_site = 0;       // index in frames of the leak site (see StackEntry::leak_site)
  double rate = 0;            // growth per second
  std::string rate_unit;      // "bytes/s" or "objects/s"
  int64_t live_bytes = 0;
  int64_t live_objects = 0;
  double confidence = 0;
  bool is_leak = false;       // the detector's verdict is "leak" this tick
};

// A notification for sinks: the subject plus its alert state.
struct AlertRecord {
  AlertSubject subject;
  AlertState state = AlertState::Pending;
  std::string fingerprint;      // stable: host, comm, kind, symbolized stack (no pid, no addresses)
  std::string first_seen;       // RFC 3339 UTC: when this subject first looked like a leak
  std::string starts_at;        // RFC 3339 UTC: when it started firing
  std::string ends_at;          // RFC 3339 UTC: resolution time, or a horizon while firing
  std::string generator_url;    // optional
  // One human line: "leak in svc (pid 42): +12 KiB/s heap at cache_put (cache.c:20)";
  // js: "... js at handler (app.js:42:13)" (the leak site, not the runtime's frame).
  std::string summary() const;
};

// Stable fingerprint of a subject: hex of a 64-bit hash over host, comm,
// kind and the function names (or module+offset) of its frames; a JS frame
// counts with its file ("(anonymous)" names nothing alone).
std::string alert_fingerprint(const AlertSubject& subject);

// The leak site of a subject: frames[leak_site], or frames[0] when the index
// is out of range. alert_leak_site needs a frame (throws on none).
size_t alert_leak_site_index(const AlertSubject& subject);
const Frame& alert_leak_site(const AlertSubject& subject);

// A frame in one line of text: "handler (/srv/app/app.js:42:13)" for JS,
// Frame::display_name() for native frames.
std::string alert_frame_text(const Frame& frame);

// The JSON object of an alert (jsonl sink, exec sink stdin); schema in README.
std::string alert_to_json(const AlertRecord& record);

}  // namespace leakscope
