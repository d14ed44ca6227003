// The tracer's end of the control socket: a Unix stream socket owned by
// root, mode 0600, that refuses peers whose credentials are not root's.
//
// Served off the trace loop. The server's own threads accept, check the
// peer, read the request line (one overall deadline per connection, a
// length limit) and validate it; a valid request is queued, and fd()
// becomes readable. The trace loop polls fd() and calls serve_pending(),
// which runs the handler on the loop's thread (the handler reads the
// session's state) and hands the reply back; the server's thread renders
// the reply's deferred parts and writes it with its own deadline. Nothing
// a client does (sending slowly, never reading, flooding) holds the loop.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "control/protocol.h"
#include "control/request.h"

namespace leakscope {

struct ControlLimits {
  size_t max_clients = 8;                           // connections served at once; more get "busy"
  size_t line_limit = 64 * 1024;                    // bytes in a request line
  std::chrono::milliseconds read_deadline{5000};    // connect to complete request line
  std::chrono::milliseconds queue_deadline{10000};  // queued until the loop takes it
  std::chrono::milliseconds write_stall{5000};      // the peer reads nothing for this long
  std::chrono::milliseconds write_deadline{60000};  // whole reply written
};

class ControlServer {
 public:
  // Gets requests checked already (control/request.h). Runs on the thread
  // that calls serve_pending().
  using Handler = std::function<ControlReply(const ControlRequest& request)>;

  // Creates the directory (0700) and the socket, and starts the server's
  // threads. A stale socket left by a dead tracer is replaced; one a live
  // tracer answers on is an error. Throws FatalError.
  explicit ControlServer(std::string path, ControlLimits limits = {});
  // Wakes and joins the threads, closes every connection, removes the socket.
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Readable while requests wait for serve_pending().
  int fd() const { return ready_fd_; }
  const std::string& path() const { return path_; }
  const ControlLimits& limits() const { return limits_; }

  // Answers every queued request with `handler`, on the caller's thread;
  // never blocks on a client. An exception from the handler becomes a
  // one-line error reply.
  void serve_pending(const Handler& handler);

 private:
  struct Pending;
  void remove_stale_sockets();
  void stop();
  void accept_loop();
  void worker_loop();
  void serve_connection(int conn);
  ControlReply wait_for_reply(const ControlRequest& request);
  void refuse(int conn, const std::string& message);

  std::string path_;
  ControlLimits limits_;
  int listen_fd_ = -1;
  int ready_fd_ = -1;  // eventfd: requests queued
  int stop_fd_ = -1;   // eventfd: written once, at stop; readable from then on

  std::mutex mutex_;
  std::condition_variable work_cv_;   // accepted_ gained a connection, or stopping_
  std::condition_variable reply_cv_;  // a Pending got its reply, or stopping_
  bool stopping_ = false;
  std::deque<int> accepted_;                    // connections not yet taken by a worker
  size_t serving_ = 0;                          // connections a worker holds
  std::deque<std::shared_ptr<Pending>> queue_;  // requests for the loop

  std::thread acceptor_;
  std::vector<std::thread> workers_;
};

}  // namespace leakscope
