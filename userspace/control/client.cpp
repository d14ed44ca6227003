#include "control/client.h"

#include <dirent.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "core/errors.h"

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
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) throw FatalError(ExitCode::Usage, "--control: path too long");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    ::close(fd);
    if (e == EACCES || e == EPERM)
      throw FatalError(ExitCode::Permission,
                       "permission denied: " + path + " is root's; run leakscope as root");
    throw FatalError(ExitCode::NotRunning,
                     "no running leakscope at " + path + ": " + std::strerror(e));
  }
  timeval tv{timeout_seconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  ClientReply reply;
  std::string line;
  // A refusing tracer answers without reading the request, so a failed
  // write is not the end: its answer may already be waiting.
  (void)write_all(fd, request.dump() + "\n");
  bool ok = read_line(fd, &line, 16 << 20);
  if (ok) {
    reply.header = nlohmann::json::parse(line, nullptr, false);
    ok = reply.header.is_object();
  }
  if (ok && reply.header.contains("parts")) {
    for (const auto& p : reply.header["parts"]) {
      ControlPart part{p.value("name", ""), {}};
      if (!read_exact(fd, p.value("size", size_t{0}), &part.bytes)) {
        ok = false;
        break;
      }
      reply.parts.push_back(std::move(part));
    }
  }
  ::close(fd);
  if (!ok) throw FatalError(ExitCode::Failure, "the tracer at " + path + " gave no complete answer");
  if (!reply.header.value("ok", false)) {
    std::string error = reply.header.value("error", "request failed");
    ExitCode code = error.rfind("permission denied", 0) == 0 ? ExitCode::Permission
                    : error.rfind("no process", 0) == 0      ? ExitCode::NoSuchProcess
                                                             : ExitCode::Failure;
    throw FatalError(code, error);
  }
  return reply;
}

}  // namespace leakscope
