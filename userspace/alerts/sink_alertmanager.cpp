#include <httplib.h>

#include <nlohmann/json.hpp>

#include "alerts/sinks.h"
#include "core/errors.h"
#include "report/frame_text.h"
#include "report/units.h"

namespace leakscope {

namespace {

constexpr time_t kTimeoutSeconds = 2;

struct Endpoint {
  std::string host;  // without brackets for IPv6
  int port = 80;
  std::string prefix;  // "" or "/path" without a trailing slash
};

[[noreturn]] void bad_url(const std::string& url, const std::string& why) {
  throw FatalError(ExitCode::Usage, "alert sink alertmanager:" + url + ": " + why +
                                        " (expected alertmanager:http://HOST[:PORT][/PREFIX])");
}

Endpoint parse_url(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) bad_url(url, "URL must start with http://");
  std::string rest = url.substr(scheme.size());
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  Endpoint ep;
  if (slash != std::string::npos) ep.prefix = rest.substr(slash);
  while (!ep.prefix.empty() && ep.prefix.back() == '/') ep.prefix.pop_back();
  if (ep.prefix.find_first_of("?# ") != std::string::npos) bad_url(url, "bad path prefix");
  if (authority.find('@') != std::string::npos) bad_url(url, "credentials are not supported");

  std::string port;
  if (!authority.empty() && authority[0] == '[') {  // [v6]:port
    auto close = authority.find(']');
    if (close == std::string::npos) bad_url(url, "bad IPv6 address");
    ep.host = authority.substr(1, close - 1);
    std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') bad_url(url, "bad port");
      port = after.substr(1);
      if (port.empty()) bad_url(url, "bad port");
    }
  } else {
    auto colon = authority.find(':');
    ep.host = authority.substr(0, colon);
    if (colon != std::string::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) bad_url(url, "bad port");
    }
  }
  if (ep.host.empty()) bad_url(url, "missing host");
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
      bad_url(url, "bad port");
    ep.port = std::stoi(port);
    if (ep.port < 1 || ep.port > 65535) bad_url(url, "bad port");
  }
  return ep;
}

std::string stack_text(const AlertSubject& s) {
  std::string out;
  const size_t site = s.frames.empty() ? 0 : alert_leak_site_index(s);
  for (size_t i = 0; i < s.frames.size(); ++i) {
    const Frame& f = s.frames[i];
    if (!out.empty()) out += "\n";
    if (is_js_frame(f)) {
      // "handler (/srv/app/app.js:42:13)"; marked when the runtime's frames
      // come first.
      out += alert_frame_text(f);
      if (site > 0 && i == site) out += "  <- leak site";
      continue;
    }
    out += f.display_name();
    if (!f.file.empty()) {
      out += " (" + f.file;
      if (f.line > 0) out += ":" + std::to_string(f.line);
      out += ")";
    }
    if (!f.module.empty() && !f.function.empty()) out += " in " + basename_of(f.module);
  }
  return out.empty() ? "[no stack]" : out;
}

// The leak_site label: the function (module+0xoffset when unknown); a JS
// function with its short file and line, "handler (app.js:42)", since
// "(anonymous)" alone names nothing.
std::string site_label(const Frame& f) {
  return is_js_frame(f) ? js_frame_short(f) : f.display_name();
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += ' ';
    out += s;
  }
  return out;
}

std::string growth_text(const AlertSubject& s) {
  if (s.rate_unit == "bytes/s" || s.rate_unit.empty()) return format_rate(s.rate);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%+.2f %s", s.rate, s.rate_unit.c_str());
  return buf;
}

std::string error_text(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection: return "cannot connect";
    case httplib::Error::ConnectionTimeout: return "connect timed out";
    case httplib::Error::Read: return "no response (read failed or timed out)";
    case httplib::Error::Write: return "sending failed";
    default: return "request failed (" + httplib::to_string(e) + ")";
  }
}

class AlertmanagerSink : public Sink {
 public:
  AlertmanagerSink(std::string url, Endpoint ep) : url_(std::move(url)), ep_(std::move(ep)) {}

  std::string name() const override { return "alertmanager:" + url_; }

  bool deliver(const AlertRecord& record, std::string* error) override {
    using nlohmann::json;
    const AlertSubject& s = record.subject;
    std::string fingerprint = record.fingerprint.empty() ? alert_fingerprint(s) : record.fingerprint;
    json labels = {{"alertname", "MemoryLeak"},
                   {"severity", "warning"},
                   {"pid", std::to_string(s.pid)},
                   {"kind", kind_name(s.kind)},
                   {"fingerprint", fingerprint},
                   {"leak_site", s.frames.empty() ? std::string("[unknown]")
                                                  : site_label(alert_leak_site(s))}};
    // An empty label value means "no label" to Alertmanager: leave those out.
    if (!s.host.empty()) labels["host"] = s.host;
    if (!s.comm.empty()) labels["comm"] = s.comm;

    json annotations = {{"summary", record.summary()},
                        {"description", stack_text(s)},
                        {"growth_rate", growth_text(s)},
                        {"live_bytes", std::to_string(s.live_bytes)},
                        {"live_objects", std::to_string(s.live_objects)},
                        {"confidence", std::to_string(s.confidence)}};
    auto annotate = [&annotations](const char* key, const std::string& value) {
      if (!value.empty()) annotations[key] = value;
    };
    annotate("first_seen", record.first_seen);
    annotate("cmdline", join(s.cmdline));
    annotate("cgroup", s.cgroup);
    annotate("container_id", s.container_id);

    json alert = {{"labels", labels}, {"annotations", annotations}};
    if (!record.starts_at.empty()) alert["startsAt"] = record.starts_at;
    if (!record.ends_at.empty()) alert["endsAt"] = record.ends_at;
    alert["generatorURL"] = record.generator_url.empty()
                                ? "http://" + (s.host.empty() ? std::string("localhost") : s.host) +
                                      "/leakscope"
                                : record.generator_url;
    std::string body =
        json::array({alert}).dump(-1, ' ', false, json::error_handler_t::replace);

    httplib::Client client(ep_.host, ep_.port);
    client.set_connection_timeout(kTimeoutSeconds, 0);
    client.set_read_timeout(kTimeoutSeconds, 0);
    client.set_write_timeout(kTimeoutSeconds, 0);
    client.set_keep_alive(false);
    auto res = client.Post((ep_.prefix + "/api/v2/alerts").c_str(), body, "application/json");
    if (!res) {
      if (error) *error = "POST " + url_ + ": " + error_text(res.error());
      return false;
    }
    if (res->status < 200 || res->status > 299) {
      if (error) {
        std::string text = res->body.substr(0, 200);
        for (char& c : text)
          if (c == '\n' || c == '\r') c = ' ';
        *error = "POST " + url_ + ": HTTP " + std::to_string(res->status) +
                 (text.empty() ? "" : ": " + text);
      }
      return false;
    }
    return true;
  }

 private:
  std::string url_;
  Endpoint ep_;
};

}  // namespace

std::unique_ptr<Sink> make_alertmanager_sink(const std::string& url) {
  Endpoint ep = parse_url(url);
  return std::make_unique<AlertmanagerSink>(url, std::move(ep));
}

}  // namespace leakscope
