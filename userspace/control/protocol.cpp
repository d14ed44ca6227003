#include "control/protocol.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <string_view>

#include "core/log.h"

namespace leakscope {

ControlReply reply_error(const std::string& message) {
  ControlReply r;
  r.header = {{"ok", false}, {"error", message}};
  return r;
}

ControlReply reply_ok(nlohmann::json fields) {
  ControlReply r;
  r.header = std::move(fields);
  r.header["ok"] = true;
  return r;
}

void render_deferred(ControlReply* reply) {
  if (!reply->deferred) return;
  auto render = std::move(reply->deferred);
  reply->deferred = nullptr;
  try {
    for (ControlPart& part : render()) reply->parts.push_back(std::move(part));
  } catch (const std::exception& e) {
    log_warn(std::string("control: rendering a reply failed: ") + e.what());
    *reply = reply_error(std::string("request failed: ") + e.what());
  } catch (...) {
    log_warn("control: rendering a reply failed");
    *reply = reply_error("request failed");
  }
}

std::string encode_reply(const ControlReply& reply) {
  nlohmann::json header = reply.header;
  header["version"] = kControlProtocolVersion;
  nlohmann::json parts = nlohmann::json::array();
  size_t total = 0;
  for (const ControlPart& p : reply.parts) {
    parts.push_back({{"name", p.name}, {"size", p.bytes.size()}});
    total += p.bytes.size();
  }
  header["parts"] = std::move(parts);
  // Names read from targets (comm, cmdline, symbols) may hold any bytes:
  // replaced where not UTF-8, never thrown over.
  std::string out = header.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  out.reserve(out.size() + total);
  for (const ControlPart& p : reply.parts) out += p.bytes;
  return out;
}

const char* io_status_name(IoStatus status) {
  switch (status) {
    case IoStatus::Ok: return "ok";
    case IoStatus::Closed: return "closed by the peer";
    case IoStatus::TimedOut: return "timed out";
    case IoStatus::TooLong: return "too long";
    case IoStatus::Stopped: return "stopped";
    case IoStatus::Failed: return "failed";
  }
  return "failed";
}

namespace {

// Waits until `fd` is ready for `events`, the deadline passes or `stop_fd`
// becomes readable.
IoStatus wait_for(int fd, short events, ControlClock::time_point deadline, int stop_fd) {
  for (;;) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - ControlClock::now()).count();
    if (left <= 0) return IoStatus::TimedOut;
    pollfd p[2] = {{fd, events, 0}, {stop_fd, POLLIN, 0}};
    int n = ::poll(p, stop_fd >= 0 ? 2 : 1, static_cast<int>(std::min<long long>(left, 1 << 30)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoStatus::Failed;
    if (n == 0) continue;  // the deadline is checked above
    if (stop_fd >= 0 && (p[1].revents & POLLIN)) return IoStatus::Stopped;
    if (p[0].revents & (events | POLLHUP | POLLERR)) return IoStatus::Ok;
    if (p[0].revents & POLLNVAL) return IoStatus::Failed;
  }
}

}  // namespace

IoStatus write_all_until(int fd, std::string_view bytes, ControlClock::time_point deadline,
                         std::chrono::milliseconds stall, int stop_fd) {
  size_t done = 0;
  auto progress = ControlClock::now();
  while (done < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      done += static_cast<size_t>(n);
      progress = ControlClock::now();
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return errno == EPIPE ? IoStatus::Closed : IoStatus::Failed;
    if (IoStatus s = wait_for(fd, POLLOUT, std::min(deadline, progress + stall), stop_fd); s != IoStatus::Ok)
      return s;
  }
  return IoStatus::Ok;
}

IoStatus DeadlineReader::fill() {
  char chunk[16 * 1024];
  for (;;) {
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, MSG_DONTWAIT);
    if (n > 0) {
      buffer_.append(chunk, static_cast<size_t>(n));
      return IoStatus::Ok;
    }
    if (n == 0) return IoStatus::Closed;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return errno == ECONNRESET ? IoStatus::Closed : IoStatus::Failed;
    if (IoStatus s = wait_for(fd_, POLLIN, deadline_, stop_fd_); s != IoStatus::Ok) return s;
  }
}

IoStatus DeadlineReader::line(std::string* out, size_t limit) {
  size_t searched = 0;
  for (;;) {
    size_t nl = buffer_.find('\n', searched);
    if (nl != std::string::npos && nl <= limit) {
      out->assign(buffer_, 0, nl);
      buffer_.erase(0, nl + 1);
      return IoStatus::Ok;
    }
    if (nl != std::string::npos || buffer_.size() > limit) return IoStatus::TooLong;
    searched = buffer_.size();
    if (IoStatus s = fill(); s != IoStatus::Ok) return s;
  }
}

IoStatus DeadlineReader::exact(size_t n, std::string* out) {
  while (buffer_.size() < n)
    if (IoStatus s = fill(); s != IoStatus::Ok) return s;
  out->assign(buffer_, 0, n);
  buffer_.erase(0, n);
  return IoStatus::Ok;
}

IoStatus BytesReader::line(std::string* out, size_t limit) {
  size_t nl = rest_.find('\n');
  if (nl == std::string_view::npos) return rest_.size() > limit ? IoStatus::TooLong : IoStatus::Closed;
  if (nl > limit) return IoStatus::TooLong;
  out->assign(rest_.substr(0, nl));
  rest_.remove_prefix(nl + 1);
  return IoStatus::Ok;
}

IoStatus BytesReader::exact(size_t n, std::string* out) {
  if (rest_.size() < n) return IoStatus::Closed;
  out->assign(rest_.substr(0, n));
  rest_.remove_prefix(n);
  return IoStatus::Ok;
}

bool stale_control_socket(const std::string& file_name) {
  constexpr std::string_view prefix = "leakscope-", suffix = ".sock";
  std::string_view name = file_name;
  if (!name.starts_with(prefix) || !name.ends_with(suffix)) return false;
  name = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  int pid = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), pid);
  if (ec != std::errc() || end != name.data() + name.size() || pid <= 0) return false;
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string line;
  return !std::getline(comm, line) || line != "leakscope";
}

std::string default_control_path(int pid) {
  return std::string(kControlDir) + "/leakscope-" + std::to_string(pid) + ".sock";
}

}  // namespace leakscope
