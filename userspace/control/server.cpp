#include "control/server.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/errors.h"
#include "core/log.h"

namespace leakscope {

namespace {

sockaddr_un address_of(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    throw FatalError(ExitCode::Usage, "--control: path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

void set_timeouts(int fd, int seconds) {
  timeval tv{seconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// True when something accepts connections at `path`.
bool someone_listens(const sockaddr_un& addr) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  bool live = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return live;
}

}  // namespace

// Sockets of tracers that died (kill -9) in the default directory go, so
// that `leakscope status` finds the live one.
void ControlServer::remove_stale_sockets() {
  DIR* d = ::opendir(kControlDir);
  if (!d) return;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (!stale_control_socket(name)) continue;
    std::string stale = std::string(kControlDir) + "/" + name;
    struct stat st {};
    if (::lstat(stale.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && ::unlink(stale.c_str()) == 0)
      log_verbose("control: removed " + stale + ", left by a tracer that is gone");
  }
  ::closedir(d);
}

ControlServer::ControlServer(std::string path) : path_(std::move(path)) {
  std::string dir = path_.substr(0, path_.find_last_of('/'));
  if (!dir.empty() && ::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    throw FatalError(ExitCode::Failure, "cannot create " + dir + ": " + std::strerror(errno));
  remove_stale_sockets();
  sockaddr_un addr = address_of(path_);
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      throw FatalError(ExitCode::Usage, "--control: " + path_ + " exists and is not a socket");
    if (someone_listens(addr))
      throw FatalError(ExitCode::Usage, "--control: another leakscope already listens on " + path_);
    ::unlink(path_.c_str());  // stale, from a tracer that died
  }
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0) throw FatalError(ExitCode::Failure, std::string("socket: ") + std::strerror(errno));
  mode_t old = ::umask(0177);  // the socket is born 0600
  int rc = ::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  ::umask(old);
  if (rc != 0 || ::listen(fd_, 8) != 0) {
    int e = errno;
    ::close(fd_);
    throw FatalError(ExitCode::Failure, "cannot listen on " + path_ + ": " + std::strerror(e));
  }
  ::chmod(path_.c_str(), 0600);
}

ControlServer::~ControlServer() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
}

void ControlServer::serve_one(const Handler& handler) {
  int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (conn < 0) return;
  set_timeouts(conn, 2);
  ucred cred{};
  socklen_t len = sizeof cred;
  ControlReply reply;
  if (::getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != 0) {
    log_warn("control: refused a request from uid " + std::to_string(cred.uid) + " (pid " +
             std::to_string(cred.pid) + "): only root may control leakscope");
    reply = reply_error("permission denied: only root may control leakscope");
  } else {
    std::string line;
    if (!read_line(conn, &line)) {
      ::close(conn);
      return;
    }
    auto json = nlohmann::json::parse(line, nullptr, false);
    auto request = parse_control_request(json);
    if (auto* error = std::get_if<std::string>(&request)) {
      reply = reply_error(*error);
    } else {
      try {
        reply = handler(std::get<ControlRequest>(request));
      } catch (const std::exception& e) {
        // A request must never end the trace: the operator loses the report.
        log_warn(std::string("control: request failed: ") + e.what());
        reply = reply_error(std::string("request failed: ") + e.what());
      }
    }
  }
  write_all(conn, encode_reply(reply));
  ::close(conn);
}

}  // namespace leakscope
