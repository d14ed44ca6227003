// leakscope as a Type=notify systemd service (packaging/leakscope.service):
// systemd hands it $NOTIFY_SOCKET (and $WATCHDOG_USEC for WatchdogSec=); it
// must send READY=1 once its probes are attached — not before the "tracing"
// line — and WATCHDOG=1 from the trace loop while it keeps ticking. Here the
// test plays systemd's part with a datagram socket of its own.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "harness.h"

using namespace e2e;

namespace {

class NotifySocket {
 public:
  NotifySocket() : path_("/tmp/leakscope-e2e-notify-" + std::to_string(::getpid()) + ".sock") {
    ::unlink(path_.c_str());
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path_.copy(addr.sun_path, sizeof addr.sun_path - 1);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("bind");
  }
  ~NotifySocket() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }
  // The next datagram within `timeout_s`, or "" when none came.
  std::string next(double timeout_s) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout_s * 1000)) <= 0) return "";
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

 private:
  std::string path_;
  int fd_ = -1;
};

// leakscope started with `env` set (the child inherits it), then unset here.
std::unique_ptr<Leakscope> start_with_env(
    const std::vector<std::pair<std::string, std::string>>& env, std::vector<std::string> args) {
  for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
  auto ls = std::make_unique<Leakscope>(std::move(args));
  for (const auto& [k, v] : env) ::unsetenv(k.c_str());
  return ls;
}

}  // namespace

TEST(ServiceNotifyE2E, ReadyAfterTracingThenWatchdogEveryTick) {
  Fixture fx("leaky");
  NotifySocket sock;
  auto ls = start_with_env(
      {{"NOTIFY_SOCKET", sock.path()}, {"WATCHDOG_USEC", "800000"}},
      {"trace", "-p", std::to_string(fx.pid()), "--tick", "100ms", "--no-control", "-q"});
  const std::string first = sock.next(60);
  EXPECT_EQ(first.rfind("READY=1\nSTATUS=tracing 1 process(es)", 0), 0u) << first << "\n"
                                                                         << ls->err();
  // READY comes once the "tracing" line is out: the probes are attached.
  EXPECT_NE(ls->err().find("leakscope: tracing 1 process(es)"), std::string::npos) << ls->err();
  // At most every quarter of the 800 ms period, from the ticks (100 ms).
  int watchdogs = 0;
  auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3)) {
    std::string m = sock.next(3);
    if (m.empty()) break;
    EXPECT_EQ(m, "WATCHDOG=1");
    ++watchdogs;
  }
  EXPECT_GE(watchdogs, 4) << ls->err();
  // 3 s (and the wait for the last one) over 200 ms; one a tick would be 30.
  EXPECT_LE(watchdogs, 3 * 5 + 3) << ls->err();
  EXPECT_EQ(ls->stop(), 0) << ls->err();
  fx.finish();
}

TEST(ServiceNotifyE2E, NoWatchdogWithoutWatchdogSec) {
  Fixture fx("leaky");
  NotifySocket sock;
  auto ls = start_with_env(
      {{"NOTIFY_SOCKET", sock.path()}},
      {"trace", "-p", std::to_string(fx.pid()), "--tick", "100ms", "--no-control", "-q"});
  EXPECT_EQ(sock.next(60).rfind("READY=1\n", 0), 0u) << ls->err();
  EXPECT_EQ(sock.next(1.5), "") << "nothing more without $WATCHDOG_USEC";
  EXPECT_EQ(ls->stop(), 0) << ls->err();
  fx.finish();
}
