#include "control/server.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
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

std::string seconds_text(std::chrono::milliseconds d) {
  char text[32];
  std::snprintf(text, sizeof text, "%g s", static_cast<double>(d.count()) / 1000);
  return text;
}

// Threads of the server take no signal: the trace loop reads them from its
// signalfd, and a signal delivered here would take the default action.
template <class F>
std::thread start_thread(F&& f) {
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  try {
    std::thread t(std::forward<F>(f));
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return t;
  } catch (...) {
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    throw;
  }
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

struct ControlServer::Pending {
  enum class State { Queued, Taken, Done };
  ControlRequest request;
  State state = State::Queued;
  ControlReply reply;
};

ControlServer::ControlServer(std::string path, ControlLimits limits)
    : path_(std::move(path)), limits_(limits) {
  if (limits_.max_clients == 0) limits_.max_clients = 1;
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
  ready_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (ready_fd_ < 0 || stop_fd_ < 0 || listen_fd_ < 0) {
    int e = errno;
    if (listen_fd_ >= 0) ::close(listen_fd_);  // not bound: nothing at path_ is ours
    listen_fd_ = -1;
    stop();
    throw FatalError(ExitCode::Failure, std::string("control socket: ") + std::strerror(e));
  }
  mode_t old = ::umask(0177);  // the socket is born 0600
  int rc = ::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  ::umask(old);
  // A deep backlog: a burst of clients is accepted and told "busy" at
  // once rather than left hanging in connect().
  if (rc != 0 || ::listen(listen_fd_, 128) != 0) {
    int e = errno;
    if (rc != 0) {  // nothing of ours at path_ to remove
      ::close(listen_fd_);
      listen_fd_ = -1;
    }
    stop();
    throw FatalError(ExitCode::Failure, "cannot listen on " + path_ + ": " + std::strerror(e));
  }
  ::chmod(path_.c_str(), 0600);
  try {
    acceptor_ = start_thread([this] { accept_loop(); });
    for (size_t i = 0; i < limits_.max_clients; ++i)
      workers_.push_back(start_thread([this] { worker_loop(); }));
  } catch (const std::exception& e) {
    stop();
    throw FatalError(ExitCode::Failure,
                     std::string("control socket: cannot start its threads: ") + e.what());
  }
}

ControlServer::~ControlServer() { stop(); }

void ControlServer::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  if (stop_fd_ >= 0) {
    uint64_t one = 1;
    (void)!::write(stop_fd_, &one, sizeof one);
  }
  work_cv_.notify_all();
  reply_cv_.notify_all();
  if (acceptor_.joinable()) acceptor_.join();
  for (std::thread& w : workers_)
    if (w.joinable()) w.join();
  workers_.clear();
  for (int conn : accepted_) ::close(conn);
  accepted_.clear();
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    ::unlink(path_.c_str());
    listen_fd_ = -1;
  }
  for (int* fd : {&ready_fd_, &stop_fd_})
    if (*fd >= 0) {
      ::close(*fd);
      *fd = -1;
    }
}

// An answer to a connection no worker takes (busy, not root): one try,
// never waiting on the peer.
void ControlServer::refuse(int conn, const std::string& message) {
  std::string bytes = encode_reply(reply_error(message));
  (void)!::send(conn, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::close(conn);
}

void ControlServer::accept_loop() {
  bool told_fd_limit = false;
  for (;;) {
    pollfd p[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0 && errno != EINTR) return;
    if (p[1].revents & POLLIN) return;
    for (;;) {
      int conn = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (conn < 0) {
        if (errno == EMFILE || errno == ENFILE) {
          // Out of descriptors: the connection waits in the backlog; look
          // again a little later instead of spinning on it.
          if (!told_fd_limit) log_warn("control: out of file descriptors; connections wait");
          told_fd_limit = true;
          pollfd s{stop_fd_, POLLIN, 0};
          ::poll(&s, 1, 100);
        }
        break;
      }
      try {
        ucred cred{};
        socklen_t len = sizeof cred;
        if (::getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != 0) {
          log_warn("control: refused a request from uid " + std::to_string(cred.uid) + " (pid " +
                   std::to_string(cred.pid) + "): only root may control leakscope");
          refuse(conn, "permission denied: only root may control leakscope");
          continue;
        }
        bool busy;
        {
          std::lock_guard lock(mutex_);
          busy = accepted_.size() + serving_ >= limits_.max_clients;
          if (!busy) accepted_.push_back(conn);
        }
        if (busy) {
          refuse(conn, "busy: " + std::to_string(limits_.max_clients) +
                           " clients are being served already; try again");
          continue;
        }
        work_cv_.notify_one();
      } catch (const std::exception& e) {
        log_warn(std::string("control: ") + e.what());
        ::close(conn);
      }
    }
  }
}

void ControlServer::worker_loop() {
  for (;;) {
    int conn;
    {
      std::unique_lock lock(mutex_);
      work_cv_.wait(lock, [&] { return stopping_ || !accepted_.empty(); });
      if (stopping_) return;
      conn = accepted_.front();
      accepted_.pop_front();
      ++serving_;
    }
    try {
      serve_connection(conn);
    } catch (const std::exception& e) {
      log_warn(std::string("control: serving a client failed: ") + e.what());
    } catch (...) {
      log_warn("control: serving a client failed");
    }
    ::close(conn);
    std::lock_guard lock(mutex_);
    --serving_;
  }
}

void ControlServer::serve_connection(int conn) {
  DeadlineReader reader(conn, ControlClock::now() + limits_.read_deadline, stop_fd_);
  std::string line;
  ControlReply reply;
  switch (reader.line(&line, limits_.line_limit)) {
    case IoStatus::Ok: {
      auto json = nlohmann::json::parse(line, nullptr, false);
      auto request = parse_control_request(json);
      if (auto* error = std::get_if<std::string>(&request))
        reply = reply_error(*error);
      else
        reply = wait_for_reply(std::get<ControlRequest>(request));
      break;
    }
    case IoStatus::TooLong:
      reply = reply_error("malformed request: a request is one line of at most " +
                          std::to_string(limits_.line_limit) + " bytes");
      break;
    case IoStatus::TimedOut:
      reply = reply_error("timed out: no complete request line within " +
                          seconds_text(limits_.read_deadline));
      break;
    case IoStatus::Stopped:
      reply = reply_error("leakscope is stopping");
      break;
    default:
      return;  // the peer is gone
  }
  render_deferred(&reply);
  const std::string bytes = encode_reply(reply);
  IoStatus written = write_all_until(conn, bytes, ControlClock::now() + limits_.write_deadline,
                                     limits_.write_stall, stop_fd_);
  if (written == IoStatus::TimedOut)
    log_verbose("control: gave up on a client that did not read its reply (" +
                std::to_string(bytes.size()) + " bytes)");
}

// Queues `request` for the trace loop and waits for its reply.
ControlReply ControlServer::wait_for_reply(const ControlRequest& request) {
  auto pending = std::make_shared<Pending>();
  pending->request = request;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return reply_error("leakscope is stopping");
    queue_.push_back(pending);
  }
  uint64_t one = 1;
  (void)!::write(ready_fd_, &one, sizeof one);
  std::unique_lock lock(mutex_);
  using State = Pending::State;
  reply_cv_.wait_until(lock, ControlClock::now() + limits_.queue_deadline,
                       [&] { return stopping_ || pending->state != State::Queued; });
  if (pending->state == State::Queued) {
    std::erase(queue_, pending);
    if (stopping_) return reply_error("leakscope is stopping");
    return reply_error("busy: the tracer did not take the request within " +
                       seconds_text(limits_.queue_deadline) + "; try again");
  }
  // Taken: the loop is running the handler; it always finishes.
  reply_cv_.wait(lock, [&] { return stopping_ || pending->state == State::Done; });
  if (pending->state != State::Done) return reply_error("leakscope is stopping");
  return std::move(pending->reply);
}

void ControlServer::serve_pending(const Handler& handler) {
  uint64_t count;
  (void)!::read(ready_fd_, &count, sizeof count);  // re-armed by the next request
  std::deque<std::shared_ptr<Pending>> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(queue_);
    for (auto& p : batch) p->state = Pending::State::Taken;
  }
  for (auto& p : batch) {
    ControlReply reply;
    try {
      reply = handler(p->request);
    } catch (const std::exception& e) {
      // A request must never end the trace: the operator loses the report.
      log_warn(std::string("control: request failed: ") + e.what());
      reply = reply_error(std::string("request failed: ") + e.what());
    } catch (...) {
      log_warn("control: request failed");
      reply = reply_error("request failed");
    }
    {
      std::lock_guard lock(mutex_);
      p->reply = std::move(reply);
      p->state = Pending::State::Done;
    }
    reply_cv_.notify_all();
  }
}

}  // namespace leakscope
