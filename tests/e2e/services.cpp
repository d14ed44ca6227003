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

Program::Program(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  char name[] = "/tmp/leakscope-e2e-program-XXXXXX";
  int fd = ::mkstemp(name);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  log_ = name;
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    for (const std::string& e : env) ::putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(fd);
}

Program::~Program() {
  kill(SIGKILL);
  std::remove(log_.c_str());
}

bool Program::running() const {
  if (status_ != -1) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    status_ = status;
    return false;
  }
  return true;
}

void Program::kill(int sig) {
  if (!running()) return;
  ::kill(pid_, sig);
  if (sig == SIGKILL) {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    status_ = status;
  }
}

std::string Program::output() const {
  std::ifstream in(log_);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool Program::wait_output(const std::string& text, double timeout_s) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < end) {
    if (output().find(text) != std::string::npos) return true;
    if (!running()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

std::string ExpressApp::dir() { return std::string(LEAKSCOPE_SOURCE_DIR) + "/examples/express-leaks"; }

ExpressApp::ExpressApp() {
  if (::access((dir() + "/node_modules/express").c_str(), F_OK) != 0)
    throw std::runtime_error("examples/express-leaks has no node_modules: run tools/setup");
  port_ = free_tcp_port();
  app_ = std::make_unique<Program>(std::vector<std::string>{"/usr/bin/node", script()},
                                   std::vector<std::string>{"PORT=" + std::to_string(port_)});
  if (!app_->wait_output("listening on", 20))
    throw std::runtime_error("the Express app did not come up: " + app_->output());
}

std::unique_ptr<Program> ExpressApp::drive(const std::vector<std::string>& routes, int rate) const {
  std::vector<std::string> argv = {"/usr/bin/node", dir() + "/drive.js", "--port", std::to_string(port_),
                                   "--rate", std::to_string(rate), "--duration", "0"};
  argv.insert(argv.end(), routes.begin(), routes.end());
  return std::make_unique<Program>(argv);
}

RedisServer::RedisServer(const std::vector<std::string>& config) {
  if (::access("/usr/bin/redis-server", X_OK) != 0 || ::access("/usr/bin/redis-benchmark", X_OK) != 0 ||
      ::access("/usr/bin/redis-cli", X_OK) != 0)
    throw std::runtime_error("redis-server, redis-benchmark or redis-cli is not installed: run tools/setup");
  port_ = free_tcp_port();
  std::vector<std::string> argv{"/usr/bin/redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no", "--dir", "/tmp", "--daemonize", "no"};
  argv.insert(argv.end(), config.begin(), config.end());
  server_ = std::make_unique<Program>(argv);
  if (!server_->wait_output("Ready to accept connections", 20))
    throw std::runtime_error("redis-server did not come up: " + server_->output());
}

std::unique_ptr<Program> RedisServer::fill(int value_bytes) const {
  return std::make_unique<Program>(std::vector<std::string>{
      "/usr/bin/redis-benchmark", "-h", "127.0.0.1", "-p", std::to_string(port_), "-t", "set", "-r",
      "1000000000", "-d", std::to_string(value_bytes), "-n", "2000000000", "-c", "4", "-P", "8", "-q"});
}

bool RedisServer::ping() const {
  auto [status, out] = run_command("timeout 10 /usr/bin/redis-cli -h 127.0.0.1 -p " + std::to_string(port_) + " ping");
  return status == 0 && out.find("PONG") != std::string::npos;
}

long long RedisServer::info_field(const std::string& field) const {
  auto [status, out] = run_command("timeout 10 /usr/bin/redis-cli -h 127.0.0.1 -p " + std::to_string(port_) + " info");
  if (status != 0) return -1;
  const std::string key = "\n" + field + ":";
  const size_t at = ("\n" + out).find(key);
  if (at == std::string::npos) return -1;
  try {
    return std::stoll(out.substr(at + key.size() - 1));
  } catch (const std::exception&) {
    return -1;
  }
}

int http_get_status(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2);
  client.set_read_timeout(5);
  auto r = client.Get(path.c_str());
  return r ? r->status : 0;
}

bool tcp_port_open(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool open = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return open;
}

}  // namespace e2e
