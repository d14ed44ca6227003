#include "cli/control_replies.h"

#include <cstdio>
#include <limits>
#include <utility>

#include "core/errors.h"
#include "report/formats.h"
#include "report/units.h"

namespace leakscope {

namespace {

using nlohmann::json;

[[noreturn]] void malformed(const std::string& what) {
  throw FatalError(ExitCode::Failure, "the tracer's reply is malformed: " + what);
}

// A string of the reply as it may appear in an error: JSON-quoted (control
// characters escaped, so the error stays one line) and cut short.
std::string quoted(const std::string& text) {
  std::string shown = text.size() > 40 ? text.substr(0, 40) + "..." : text;
  return json(shown).dump(-1, ' ', true, json::error_handler_t::replace);
}

// One object of the reply, read field by field; `where` names it in errors
// ("status", "status.targets[2]").
class Fields {
 public:
  Fields(const json& object, std::string where) : object_(object), where_(std::move(where)) {
    if (!object_.is_object()) malformed(where_ + " is not an object");
  }

  std::string text(const char* key, const char* fallback = "") const {
    const json* v = find(key);
    if (!v) return fallback;
    if (!v->is_string()) malformed(name(key) + " is not a string");
    return v->get<std::string>();
  }

  // Any JSON number: a figure shown rounded (seconds, bytes).
  double number(const char* key) const {
    const json* v = find(key);
    if (!v) return 0;
    if (!v->is_number()) malformed(name(key) + " is not a number");
    return v->get<double>();
  }

  // A JSON integer that fits Int (a float, or a count below zero, is not).
  template <class Int>
  Int integer(const char* key) const {
    const json* v = find(key);
    if (!v) return 0;
    if (v->is_number_unsigned()) {
      if (auto n = v->get<uint64_t>(); std::in_range<Int>(n)) return static_cast<Int>(n);
    } else if (v->is_number_integer()) {
      if (auto n = v->get<int64_t>(); std::in_range<Int>(n)) return static_cast<Int>(n);
    }
    malformed(name(key) + " is not an integer in range");
  }

  // An array (empty when absent).
  const json& array(const char* key) const {
    static const json kEmpty = json::array();
    const json* v = find(key);
    if (!v) return kEmpty;
    if (!v->is_array()) malformed(name(key) + " is not an array");
    return *v;
  }

  // An object (empty when absent).
  Fields object(const char* key) const {
    static const json kEmpty = json::object();
    const json* v = find(key);
    return Fields(v ? *v : kEmpty, name(key));
  }

  const json& value() const { return object_; }
  std::string name(const std::string& key) const { return where_ + "." + key; }

 private:
  const json* find(const char* key) const {
    auto it = object_.find(key);
    return it == object_.end() ? nullptr : &*it;
  }

  const json& object_;
  std::string where_;
};

// The reply's "status" object; a status reply without one is malformed.
Fields status_of(const json& header) {
  if (!header.is_object() || !header.contains("status")) malformed("it holds no status");
  return Fields(header["status"], "status");
}

}  // namespace

std::string status_text(const json& header) {
  const Fields s = status_of(header);
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "leakscope %s (pid %d), up %.0fs, %llu ticks, control %s\n",
                s.text("version").c_str(), s.integer<int>("pid"), s.number("uptime_seconds"),
                s.integer<unsigned long long>("ticks"), s.text("control").c_str());
  out += line;
  out += "kinds:";
  const json& kinds = s.array("kinds");
  for (size_t i = 0; i < kinds.size(); ++i) {
    if (!kinds[i].is_string()) malformed("status.kinds[" + std::to_string(i) + "] is not a string");
    out += " " + kinds[i].get<std::string>();
  }
  out += "\ntargets:\n";
  const json& targets = s.array("targets");
  for (size_t i = 0; i < targets.size(); ++i) {
    const Fields t(targets[i], "status.targets[" + std::to_string(i) + "]");
    std::snprintf(line, sizeof line, "  %-8d %-16s %-9s live %s in %lld objects, traced %.0fs\n",
                  t.integer<int>("pid"), t.text("comm").c_str(), t.text("state").c_str(),
                  format_bytes(t.number("live_bytes")).c_str(), t.integer<long long>("live_objects"),
                  t.number("traced_seconds"));
    out += line;
  }
  const Fields maps = s.object("maps");
  const Fields objects = maps.object("objects"), ledger = maps.object("ledger");
  std::snprintf(line, sizeof line, "maps: objects %lld/%lld, ledger %lld/%lld; probes %lld\n",
                objects.integer<long long>("used"), objects.integer<long long>("capacity"),
                ledger.integer<long long>("used"), ledger.integer<long long>("capacity"),
                s.integer<long long>("probes"));
  out += line;
  out += "drops:";
  const Fields drops = s.object("drops");
  for (const auto& [reason, n] : drops.value().items()) {
    if (!n.is_number()) malformed(drops.name(quoted(reason)) + " is not a number");
    out += " " + reason + " " + n.dump();
  }
  out += "\nalerts firing: " + std::to_string(s.integer<unsigned long long>("alerts_firing")) + "\n";
  const json& sinks = s.array("sinks");
  for (size_t i = 0; i < sinks.size(); ++i) {
    const Fields sink(sinks[i], "status.sinks[" + std::to_string(i) + "]");
    const std::string last_error = sink.text("last_error");
    std::snprintf(line, sizeof line, "  sink %s: %lld sent, %lld failed, %lld dropped, %lld queued%s%s\n",
                  sink.text("name").c_str(), sink.integer<long long>("delivered"),
                  sink.integer<long long>("failures"), sink.integer<long long>("dropped"),
                  sink.integer<long long>("queued"), last_error.empty() ? "" : "; last error: ",
                  last_error.c_str());
    out += line;
  }
  return out;
}

std::string status_json_text(const json& header) {
  // Nesting is bounded by the decoder (kMaxReplyHeaderDepth): the dump's
  // recursion is too. Strings came through the JSON parser: valid UTF-8.
  // ASCII only: a C1 control (U+009B) from a target's name stays \u009b.
  return status_of(header).value().dump(2, ' ', true) + "\n";
}

std::string action_message(const json& header) { return Fields(header, "reply").text("message", "done"); }

const std::vector<ControlPart>& report_parts(const ClientReply& reply, const std::vector<std::string>& formats) {
  if (reply.parts.size() != formats.size())
    malformed(std::to_string(reply.parts.size()) + " parts for " + std::to_string(formats.size()) +
              " formats asked for");
  for (size_t i = 0; i < formats.size(); ++i)
    if (reply.parts[i].name != formats[i])
      malformed("part " + std::to_string(i + 1) + " is " + quoted(reply.parts[i].name) + ", not the " +
                formats[i] + " asked for");
  return reply.parts;
}

}  // namespace leakscope
