#include "services.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <httplib.h>
#include <stdexcept>
#include <thread>

namespace e2e {

int free_tcp_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

Alertmanager::Alertmanager() {
  const char* bin = "/usr/bin/prometheus-alertmanager";
  if (::access(bin, X_OK) != 0)
    throw std::runtime_error("prometheus-alertmanager is not installed: run tools/setup");
  char tmpl[] = "/tmp/leakscope-am-XXXXXX";
  dir_ = ::mkdtemp(tmpl);
  std::ofstream(dir_ + "/alertmanager.yml") << "route:\n  receiver: 'null'\n  group_wait: 0s\n"
                                               "receivers:\n  - name: 'null'\n";
  port_ = free_tcp_port();
  std::string listen = "--web.listen-address=127.0.0.1:" + std::to_string(port_);
  std::string config = "--config.file=" + dir_ + "/alertmanager.yml";
  std::string storage = "--storage.path=" + dir_;
  pid_ = ::fork();
  if (pid_ == 0) {
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::execl(bin, bin, listen.c_str(), config.c_str(), storage.c_str(), "--cluster.listen-address=",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  for (int i = 0; i < 200; ++i) {
    httplib::Client c("127.0.0.1", port_);
    c.set_connection_timeout(0, 200000);
    if (auto res = c.Get("/-/ready"); res && res->status == 200) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error("Alertmanager did not become ready");
}

Alertmanager::~Alertmanager() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
  std::string cmd = "rm -rf '" + dir_ + "'";
  (void)std::system(cmd.c_str());
}

std::string Alertmanager::get(const std::string& path) const {
  httplib::Client c("127.0.0.1", port_);
  c.set_connection_timeout(1);
  auto res = c.Get(path.c_str());
  return res && res->status == 200 ? res->body : std::string();
}

std::pair<int, std::string> run_command(const std::string& command) {
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return {-1, ""};
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace e2e
