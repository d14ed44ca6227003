#include "control/protocol.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <fstream>
#include <string_view>

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

bool write_all(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    // send(MSG_NOSIGNAL): a peer that hung up is an error to report, never
    // a SIGPIPE that kills the tracer or the client.
    ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

bool read_line(int fd, std::string* line, size_t limit) {
  line->clear();
  char c;
  while (line->size() < limit) {
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    if (c == '\n') return true;
    line->push_back(c);
  }
  return false;
}

bool read_exact(int fd, size_t n, std::string* out) {
  out->resize(n);
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::read(fd, out->data() + done, n - done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    done += static_cast<size_t>(r);
  }
  return true;
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
