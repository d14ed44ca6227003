// Delivers alerts to a real Alertmanager (Debian package prometheus-alertmanager)
// and checks them through its API.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "alerts/alert.h"
#include "alerts/dispatcher.h"
#include "alerts/tracker.h"

using namespace leakscope;
namespace fs = std::filesystem;

namespace {

constexpr const char* kAlertmanager = "/usr/bin/prometheus-alertmanager";

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// Alertmanager in a temp dir; killed and reaped on destruction.
class AlertmanagerProcess {
 public:
  AlertmanagerProcess() {
    char tmpl[] = "/tmp/leakscope-am-XXXXXX";
    if (char* p = ::mkdtemp(tmpl)) dir_ = p;
    std::ofstream(dir_ / "alertmanager.yml") << "route:\n"
                                                "  receiver: \"null\"\n"
                                                "receivers:\n"
                                                "  - name: \"null\"\n";
    fs::create_directory(dir_ / "data");
    port_ = free_port();
    std::vector<std::string> args = {
        kAlertmanager,
        "--web.listen-address=127.0.0.1:" + std::to_string(port_),
        "--cluster.listen-address=",
        "--storage.path=" + (dir_ / "data").string(),
        "--config.file=" + (dir_ / "alertmanager.yml").string(),
    };
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::string log = (dir_ / "alertmanager.log").string();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        ::dup2(fd, STDOUT_FILENO);
        ::dup2(fd, STDERR_FILENO);
      }
      ::execv(kAlertmanager, argv.data());
      ::_exit(127);
    }
  }
  ~AlertmanagerProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      bool reaped = false;
      for (int i = 0; i < 200 && !reaped; ++i) {
        reaped = ::waitpid(pid_, &status, WNOHANG) == pid_;
        if (!reaped) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      if (!reaped) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
      }
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  AlertmanagerProcess(const AlertmanagerProcess&) = delete;
  AlertmanagerProcess& operator=(const AlertmanagerProcess&) = delete;

  int port() const { return port_; }
  bool started() const { return pid_ > 0; }

  bool wait_ready(std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;  // it died
        return false;
      }
      httplib::Client c("127.0.0.1", port_);
      c.set_connection_timeout(0, 200000);
      c.set_read_timeout(1, 0);
      if (auto res = c.Get("/-/ready"); res && res->status == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  std::string log() const {
    std::ifstream in(dir_ / "alertmanager.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // The alerts of the API that carry our fingerprint label.
  nlohmann::json alerts_with(const std::string& fingerprint) {
    httplib::Client c("127.0.0.1", port_);
    c.set_connection_timeout(1, 0);
    c.set_read_timeout(2, 0);
    auto res = c.Get("/api/v2/alerts");
    nlohmann::json out = nlohmann::json::array();
    if (!res || res->status != 200) return out;
    for (auto& a : nlohmann::json::parse(res->body))
      if (a["labels"].value("fingerprint", "") == fingerprint) out.push_back(a);
    return out;
  }

 private:
  fs::path dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

AlertSubject leak_subject() {
  AlertSubject s;
  s.host = "ci-host";
  s.pid = 4242;
  s.comm = "leaky-svc";
  s.cmdline = {"/usr/bin/leaky-svc"};
  s.kind = Kind::Heap;
  Frame f;
  f.address = 0x401234;
  f.function = "cache_put";
  f.file = "/src/cache.c";
  f.line = 20;
  f.module = "/usr/bin/leaky-svc";
  f.module_offset = 0x1234;
  Frame g = f;
  g.function = "main";
  g.line = 99;
  s.frames = {f, g};
  s.rate = 4096;
  s.rate_unit = "bytes/s";
  s.live_bytes = 10 << 20;
  s.live_objects = 2560;
  s.confidence = 0.97;
  s.is_leak = true;
  return s;
}

}  // namespace

TEST(AlertmanagerRealTest, FiringThenResolvedThroughTheApi) {
  ASSERT_TRUE(fs::exists(kAlertmanager))
      << kAlertmanager << " is missing: run tools/setup (it installs prometheus-alertmanager)";
  AlertmanagerProcess am;
  ASSERT_TRUE(am.started());
  ASSERT_TRUE(am.wait_ready(std::chrono::seconds(12))) << "Alertmanager did not become ready:\n"
                                                       << am.log();

  AlertOptions options;
  options.pending_seconds = 0;
  AlertTracker tracker(options);
  auto now = std::chrono::system_clock::now();
  auto fired = tracker.update({leak_subject()}, now);
  ASSERT_EQ(fired.size(), 1u);
  auto sink = make_sink("alertmanager:http://127.0.0.1:" + std::to_string(am.port()));
  std::string error;
  ASSERT_TRUE(sink->deliver(fired[0], &error)) << error << "\n" << am.log();

  nlohmann::json found;
  for (int i = 0; i < 50 && found.empty(); ++i) {
    found = am.alerts_with(fired[0].fingerprint);
    if (found.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(found.size(), 1u) << am.log();
  auto& a = found[0];
  EXPECT_EQ(a["labels"]["alertname"], "MemoryLeak");
  EXPECT_EQ(a["labels"]["leak_site"], "cache_put");
  EXPECT_EQ(a["labels"]["fingerprint"], fired[0].fingerprint);
  EXPECT_EQ(a["labels"]["pid"], "4242");
  EXPECT_EQ(a["status"]["state"], "active");
  EXPECT_EQ(a["annotations"]["summary"], fired[0].summary());

  auto resolved = tracker.resolve_all(std::chrono::system_clock::now());
  ASSERT_EQ(resolved.size(), 1u);
  ASSERT_TRUE(sink->deliver(resolved[0], &error)) << error;
  bool gone = false;
  for (int i = 0; i < 50 && !gone; ++i) {
    auto now_alerts = am.alerts_with(fired[0].fingerprint);
    // Resolved alerts leave the active list (or show a past endsAt).
    gone = now_alerts.empty() ||
           (now_alerts[0]["endsAt"].is_string() &&
            now_alerts[0]["status"]["state"] != "active");
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(gone) << am.alerts_with(fired[0].fingerprint).dump();
}
