// The tracer's end of the control socket: a Unix stream socket owned by
// root, mode 0600, that refuses peers whose credentials are not root's.
// Single-threaded: the trace loop polls fd() and calls serve_one().
#pragma once

#include <functional>
#include <string>

#include "control/protocol.h"
#include "control/request.h"

namespace leakscope {

class ControlServer {
 public:
  // Gets requests checked already (control/request.h).
  using Handler = std::function<ControlReply(const ControlRequest& request)>;

  // Creates the directory (0700) and the socket. A stale socket left by a
  // dead tracer is replaced; one a live tracer answers on is an error.
  // Throws FatalError.
  explicit ControlServer(std::string path);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

  // Accepts one pending connection and answers it (bounded by socket
  // timeouts, so a stuck client cannot hold the trace loop for long). A
  // malformed request gets a one-line error; nothing a client sends ends
  // the tracer.
  void serve_one(const Handler& handler);

 private:
  void remove_stale_sockets();

  std::string path_;
  int fd_ = -1;
};

}  // namespace leakscope
