// journald's native protocol, by hand: one datagram of fields to its socket.
// A field is "KEY=value\n", or, when the value holds a newline,
// "KEY\n" + little-endian 64-bit length + value + "\n".
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "alerts/sinks.h"
#include "report/frame_text.h"

namespace leakscope {

namespace {

constexpr const char* kDefaultSocket = "/run/systemd/journal/socket";

void add_field(std::string& out, const char* key, const std::string& value) {
  if (value.find('\n') == std::string::npos) {
    out += key;
    out += '=';
    out += value;
    out += '\n';
    return;
  }
  out += key;
  out += '\n';
  uint64_t len = value.size();
  for (int i = 0; i < 8; ++i) out += static_cast<char>((len >> (8 * i)) & 0xff);
  out += value;
  out += '\n';
}

std::string stack_text(const AlertSubject& s) {
  std::string out;
  const size_t site = s.frames.empty() ? 0 : alert_leak_site_index(s);
  for (size_t i = 0; i < s.frames.size(); ++i) {
    const Frame& f = s.frames[i];
    if (!out.empty()) out += '\n';
    if (is_js_frame(f)) {
      out += alert_frame_text(f);  // "handler (/srv/app/app.js:42:13)"
      if (site > 0 && i == site) out += "  <- leak site";
      continue;
    }
    out += f.display_name();
    if (!f.file.empty()) out += " (" + f.file + ":" + std::to_string(f.line) + ")";
  }
  return out;
}

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

class JournaldSink : public Sink {
 public:
  explicit JournaldSink(std::string socket_path) : path_(std::move(socket_path)) {}

  std::string name() const override { return "journald"; }

  bool deliver(const AlertRecord& record, std::string* error) override {
    const AlertSubject& s = record.subject;
    std::string msg;
    add_field(msg, "MESSAGE",
              "ALERT " + std::string(alert_state_name(record.state)) + ": " + record.summary());
    add_field(msg, "MESSAGE_ID", kJournalMessageId);
    add_field(msg, "PRIORITY", record.state == AlertState::Resolved ? "6" : "4");
    add_field(msg, "SYSLOG_IDENTIFIER", "leakscope");
    add_field(msg, "LEAKSCOPE_FINGERPRINT",
              record.fingerprint.empty() ? alert_fingerprint(s) : record.fingerprint);
    add_field(msg, "LEAKSCOPE_STATE", std::string(alert_state_name(record.state)));
    add_field(msg, "LEAKSCOPE_HOST", s.host);
    add_field(msg, "LEAKSCOPE_PID", std::to_string(s.pid));
    add_field(msg, "LEAKSCOPE_COMM", s.comm);
    add_field(msg, "LEAKSCOPE_KIND", std::string(kind_name(s.kind)));
    add_field(msg, "LEAKSCOPE_LEAK_SITE",
              s.frames.empty() ? std::string("[unknown]") : alert_frame_text(alert_leak_site(s)));
    add_field(msg, "LEAKSCOPE_RATE", number(s.rate));
    add_field(msg, "LEAKSCOPE_RATE_UNIT", s.rate_unit);
    add_field(msg, "LEAKSCOPE_LIVE_BYTES", std::to_string(s.live_bytes));
    add_field(msg, "LEAKSCOPE_LIVE_OBJECTS", std::to_string(s.live_objects));
    add_field(msg, "LEAKSCOPE_CONFIDENCE", number(s.confidence));
    add_field(msg, "LEAKSCOPE_STACK", stack_text(s));
    std::string cmdline;
    for (const auto& a : s.cmdline) cmdline += (cmdline.empty() ? "" : " ") + a;
    if (!cmdline.empty()) add_field(msg, "LEAKSCOPE_CMDLINE", cmdline);
    if (!s.cgroup.empty()) add_field(msg, "LEAKSCOPE_CGROUP", s.cgroup);
    if (!s.container_id.empty()) add_field(msg, "LEAKSCOPE_CONTAINER_ID", s.container_id);
    if (!record.first_seen.empty()) add_field(msg, "LEAKSCOPE_FIRST_SEEN", record.first_seen);
    if (!record.starts_at.empty()) add_field(msg, "LEAKSCOPE_STARTS_AT", record.starts_at);
    if (!record.ends_at.empty()) add_field(msg, "LEAKSCOPE_ENDS_AT", record.ends_at);

    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.size() >= sizeof addr.sun_path) {
      if (error) *error = "journald: socket path too long: " + path_;
      return false;
    }
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);

    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      if (error) *error = std::string("journald: socket: ") + std::strerror(errno);
      return false;
    }
    int sndbuf = 8 << 20;  // alerts with deep stacks can exceed the default buffer
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    ssize_t n;
    do {
      n = ::sendto(fd, msg.data(), msg.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
                   reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    } while (n < 0 && errno == EINTR);
    int err = errno;
    ::close(fd);
    if (n < 0) {
      if (error) *error = "journald: send to " + path_ + ": " + std::strerror(err);
      return false;
    }
    return true;
  }

 private:
  std::string path_;
};

}  // namespace

std::unique_ptr<Sink> make_journald_sink() {
  const char* env = std::getenv("LEAKSCOPE_JOURNAL_SOCKET");
  return std::make_unique<JournaldSink>(env && *env ? env : kDefaultSocket);
}

}  // namespace leakscope
