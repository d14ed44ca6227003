// Real services the e2e tests talk to, started on loopback.
#pragma once

#include <sys/types.h>

#include <string>

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

// Runs a shell command; returns {exit status, combined output}.
std::pair<int, std::string> run_command(const std::string& command);

}  // namespace e2e
