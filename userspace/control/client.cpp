#include "control/client.h"

#include <dirent.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "core/errors.h"
#include "core/unique_fd.h"

namespace leakscope {

std::string find_control_socket(const std::string& explicit_path) {
  if (!explicit_path.empty()) return explicit_path;
  std::vector<std::string> found;
  if (DIR* d = ::opendir(kControlDir)) {
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      // A tracer killed with -9 leaves its socket behind: not a candidate.
      if (name.rfind("leakscope-", 0) == 0 && name.ends_with(".sock") && !stale_control_socket(name))
        found.push_back(std::string(kControlDir) + "/" + name);
    }
    ::closedir(d);
  } else if (errno == EACCES) {
    throw FatalError(ExitCode::Permission,
                     std::string("permission denied reading ") + kControlDir + ": run as root");
  }
  if (found.empty())
    throw FatalError(ExitCode::NotRunning, std::string("no running leakscope: no control socket in ") +
                                               kControlDir + " (start one with leakscope trace)");
  if (found.size() > 1) {
    std::string list;
    for (const auto& f : found) list += " " + f;
    throw FatalError(ExitCode::Usage, "several leakscope tracers are running; pick one with --control:" + list);
  }
  return found.front();
}

ClientReply control_request(const std::string& path, const nlohmann::json& request,
                            int timeout_seconds) {
  // One deadline for the whole exchange: a tracer that accepts and then
  // says nothing, or dribbles its answer, cannot hold the client longer.
  const auto deadline = ControlClock::now() + std::chrono::seconds(timeout_seconds);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) throw FatalError(ExitCode::Failure, std::string("socket: ") + std::strerror(errno));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) throw FatalError(ExitCode::Usage, "--control: path too long");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  // connect() on a Unix socket waits while the tracer's backlog is full;
  // the send timeout bounds that wait.
  timeval tv{timeout_seconds, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    if (e == EACCES || e == EPERM)
      throw FatalError(ExitCode::Permission,
                       "permission denied: " + path + " is root's; run leakscope as root");
    if (e == EAGAIN || e == EINPROGRESS)
      throw FatalError(ExitCode::Failure, "the tracer at " + path + " accepted no connection within " +
                                              std::to_string(timeout_seconds) + " s");
    throw FatalError(ExitCode::NotRunning,
                     "no running leakscope at " + path + ": " + std::strerror(e));
  }
  // A refusing tracer answers without reading the request, so a failed
  // write is not the end: its answer may already be waiting.
  (void)write_all_until(fd.get(),
                        request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n",
                        deadline, std::chrono::seconds(timeout_seconds));
  DeadlineReader reader(fd.get(), deadline);
  return read_control_reply(reader, path, timeout_seconds);
}

namespace {

// The header line as JSON: discarded (not an object) when it is not JSON or
// nests deeper than kMaxReplyHeaderDepth.
nlohmann::json parse_reply_header(const std::string& line) {
  bool too_deep = false;
  auto header = nlohmann::json::parse(
      line,
      [&too_deep](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
        if (depth > kMaxReplyHeaderDepth) too_deep = true;
        return !too_deep;
      },
      false);
  return too_deep ? nlohmann::json() : header;
}

// Reads the parts `parts` lists into `out`; false for a list that is not
// one, a part that is no {"size": unsigned}, parts past kMaxReplyPartBytes
// in all, or a part that did not all come.
bool read_parts(ByteSource& source, const nlohmann::json& parts, std::vector<ControlPart>* out,
                IoStatus* status) {
  if (!parts.is_array() || parts.size() > kMaxReplyParts) return false;
  // What the parts may hold in all, checked before a byte of them is read.
  uint64_t total = 0;
  for (const nlohmann::json& p : parts) {
    if (!p.is_object()) return false;
    auto size = p.find("size");
    if (size == p.end() || !size->is_number_unsigned()) return false;
    if (size->get<uint64_t>() > kMaxReplyPartBytes - total) return false;
    total += size->get<uint64_t>();
  }
  for (const nlohmann::json& p : parts) {
    auto size = p.find("size");
    auto name = p.find("name");
    ControlPart part{name != p.end() && name->is_string() ? name->get<std::string>() : "", {}};
    *status = source.exact(size->get<uint64_t>(), &part.bytes);
    if (*status != IoStatus::Ok) return false;
    out->push_back(std::move(part));
  }
  return true;
}

}  // namespace

ClientReply read_control_reply(ByteSource& source, const std::string& path, int timeout_seconds) {
  ClientReply reply;
  std::string line;
  IoStatus status = source.line(&line, kMaxReplyHeaderBytes);
  bool ok = status == IoStatus::Ok;
  if (ok) {
    reply.header = parse_reply_header(line);
    ok = reply.header.is_object();
  }
  if (ok)
    if (auto parts = reply.header.find("parts"); parts != reply.header.end())
      ok = read_parts(source, *parts, &reply.parts, &status);
  if (status == IoStatus::TimedOut)
    throw FatalError(ExitCode::Failure, "the tracer at " + path + " gave no complete answer within " +
                                            std::to_string(timeout_seconds) + " s");
  if (!ok) throw FatalError(ExitCode::Failure, "the tracer at " + path + " gave no complete answer");
  auto ok_field = reply.header.find("ok");
  if (ok_field == reply.header.end() || *ok_field != true) {
    auto e = reply.header.find("error");
    std::string error = e != reply.header.end() && e->is_string() ? e->get<std::string>() : "request failed";
    // Printed as the one line an error is: a newline or a terminal escape
    // in it is a space.
    for (char& c : error)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    ExitCode code = error.rfind("permission denied", 0) == 0 ? ExitCode::Permission
                    : error.rfind("no process", 0) == 0      ? ExitCode::NoSuchProcess
                                                             : ExitCode::Failure;
    throw FatalError(code, error);
  }
  return reply;
}

}  // namespace leakscope
