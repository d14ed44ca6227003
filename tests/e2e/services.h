// Real services the e2e tests talk to, started on loopback.
#pragma once

#include <sys/types.h>

#include <signal.h>

#include <memory>
#include <string>
#include <vector>

namespace e2e {

int free_tcp_port();

// A real Alertmanager (Debian's prometheus-alertmanager) on 127.0.0.1.
class Alertmanager {
 public:
  Alertmanager();  // starts it and waits until /-/ready answers; throws on failure
  ~Alertmanager();
  Alertmanager(const Alertmanager&) = delete;
  Alertmanager& operator=(const Alertmanager&) = delete;
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  std::string get(const std::string& path) const;  // body of GET path ("" on failure)

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string dir_;
};

// A program started in the background with extra environment, its stdout
// and stderr in a file; killed (SIGKILL) and reaped when destroyed.
class Program {
 public:
  Program(const std::vector<std::string>& argv, const std::vector<std::string>& env = {});
  ~Program();
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;
  pid_t pid() const { return pid_; }
  bool running() const;
  std::string output() const;  // stdout and stderr so far
  // Waits until the output holds `text`; false on timeout or exit.
  bool wait_output(const std::string& text, double timeout_s);
  void kill(int sig = SIGKILL);

 private:
  pid_t pid_ = -1;
  std::string log_;
  mutable int status_ = -1;
};

// The Express app of examples/express-leaks (its node_modules installed by
// tools/setup) on a free loopback port, ready to serve.
class ExpressApp {
 public:
  ExpressApp();  // throws std::runtime_error when it does not come up
  pid_t pid() const { return app_->pid(); }
  int port() const { return port_; }
  static std::string dir();  // examples/express-leaks of the source tree
  static std::string script() { return dir() + "/app.js"; }
  // Drives `routes` at `rate` requests/s each until destroyed.
  std::unique_ptr<Program> drive(const std::vector<std::string>& routes, int rate) const;
  Program& process() { return *app_; }

 private:
  int port_ = 0;
  std::unique_ptr<Program> app_;
};

// Debian's redis-server on a free loopback port, without persistence (no
// file written), ready to answer; killed when destroyed.
class RedisServer {
 public:
  // `config`: more of redis-server's options, as on its command line
  // ({"--maxmemory", "8mb", "--maxmemory-policy", "allkeys-lru"}).
  // Throws std::runtime_error when it does not come up.
  explicit RedisServer(const std::vector<std::string>& config = {});
  pid_t pid() const { return server_->pid(); }
  int port() const { return port_; }
  bool running() const { return server_->running(); }
  // Whether it answers `redis-cli ping` with PONG (within 10 s).
  bool ping() const;
  // A field of `redis-cli info` ("used_memory", "evicted_keys"); -1 when
  // it does not answer or has no such field.
  long long info_field(const std::string& field) const;
  // redis-benchmark storing new keys (random among 10^9, `value_bytes`
  // each) until destroyed: the server's memory grows for as long as it runs.
  std::unique_ptr<Program> fill(int value_bytes = 100) const;

 private:
  int port_ = 0;
  std::unique_ptr<Program> server_;
};

// Status of GET http://127.0.0.1:PORT/PATH (0 when it could not connect).
int http_get_status(int port, const std::string& path);
// Whether something accepts TCP connections on 127.0.0.1:PORT (in our
// network namespace).
bool tcp_port_open(int port);

// Runs a shell command; returns {exit status, combined output}.
std::pair<int, std::string> run_command(const std::string& command);

}  // namespace e2e
