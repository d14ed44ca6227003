// The control socket against hostile peers (issue 15): wrong types,
// unknown commands, garbage, an oversize line, a slow and a silent peer, a
// flood of connections, a peer that asks for a big report and never reads
// it. Each gets one line of error; the trace keeps its ticks on schedule,
// `leakscope status` still answers, and SIGINT still yields the final
// report at once.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "control/client.h"
#include "harness.h"

using namespace e2e;
using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

int connect_to(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Everything the tracer sends until it closes (or `timeout_s` passes).
std::string read_to_end(int fd, double timeout_s) {
  std::string out;
  auto t0 = Clock::now();
  char buf[4096];
  while (since(t0) < timeout_s) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// The answer is exactly one JSON line saying ok=false: the error, or "" if
// it is anything else.
std::string one_line_error(const std::string& answer) {
  if (answer.empty() || answer.find('\n') != answer.size() - 1) return "";
  json header = json::parse(answer, nullptr, false);
  if (!header.is_object() || header["ok"] != false || !header["error"].is_string()) return "";
  return header["error"].get<std::string>();
}

std::string ask_raw(const std::string& sock, const std::string& bytes, double timeout_s = 15) {
  int fd = connect_to(sock);
  if (fd < 0) return "";
  (void)!::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  std::string answer = read_to_end(fd, timeout_s);
  ::close(fd);
  return answer;
}

long long ticks(const std::string& sock) {
  leakscope::ClientReply reply = leakscope::control_request(sock, {{"cmd", "status"}}, 10);
  return reply.header["status"]["ticks"].get<long long>();
}

}  // namespace

TEST(ControlAbuseE2E, HostilePeersGetOneLineErrorsAndTheTraceKeepsItsSchedule) {
  // A hundred distinct deep stacks: a report bigger than a socket holds.
  Fixture fx("many_sites", {"--paths", "100"});
  const std::string sock = "/tmp/leakscope-e2e-abuse-" + std::to_string(::getpid()) + ".sock";
  const std::string report_path =
      "/tmp/leakscope-e2e-abuse-" + std::to_string(::getpid()) + ".json";
  Leakscope ls({"trace", "-p", std::to_string(fx.pid()), "--tick", "1s", "-q", "-v", "--control", sock,
                "--json", report_path});
  ASSERT_TRUE(ls.wait_tracing()) << ls.err();
  fx.go();
  fx.wait_done(120);

  // Wrong types, unknown commands, not JSON, a line past the limit.
  const std::vector<std::string> bad = {
      R"({"cmd":123})",
      R"({"cmd":null})",
      R"({"cmd":"report","top":"x"})",
      R"({"cmd":"shutdown"})",
      R"({"cmd":"report","formats":["exe"]})",
      "not json",
      R"({"cmd":"status")",
      std::string(1 << 20, '{'),
  };
  for (const std::string& line : bad) {
    std::string answer = ask_raw(sock, line + "\n");
    EXPECT_NE(one_line_error(answer), "") << line.substr(0, 60) << " -> " << answer.substr(0, 200);
  }
  EXPECT_NE(
      one_line_error(ask_raw(sock, std::string(1 << 20, 'x') + "\n")).find("at most 65536 bytes"),
      std::string::npos);

  // A peer that sends a byte every 1.5 s for 10 s: the ticks go on.
  {
    int slow = connect_to(sock);
    ASSERT_GE(slow, 0);
    std::atomic<bool> done{false};
    std::thread dribble([&] {
      const std::string request = R"({"cmd":"status"})";
      auto t0 = Clock::now();
      for (size_t i = 0; since(t0) < 10 && !done; ++i) {
        (void)!::send(slow, &request[i % request.size()], 1, MSG_NOSIGNAL);
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      }
    });
    const long long before = ticks(sock);
    std::this_thread::sleep_for(std::chrono::seconds(10));
    const long long after = ticks(sock);
    done = true;
    dribble.join();
    std::string answer = read_to_end(slow, 5);
    ::close(slow);
    std::printf("slow peer: %lld ticks in 10 s at --tick 1s\n", after - before);
    EXPECT_GE(after - before, 7) << "ticks stalled while a slow peer was connected\n" << ls.err();
    EXPECT_NE(one_line_error(answer).find("timed out"), std::string::npos) << answer;
  }

  // A silent peer.
  {
    int silent = connect_to(sock);
    ASSERT_GE(silent, 0);
    std::string answer = read_to_end(silent, 15);
    ::close(silent);
    EXPECT_NE(one_line_error(answer), "") << answer;
  }

  // 100 connections at once, all silent: the first few wait for their
  // requests, the rest are told "busy" at once; each gets one line.
  {
    std::vector<int> peers;
    for (int i = 0; i < 100; ++i) {
      int fd = connect_to(sock);
      ASSERT_GE(fd, 0) << i;
      peers.push_back(fd);
    }
    size_t errors = 0, busy = 0;
    for (int fd : peers) {
      std::string error = one_line_error(read_to_end(fd, 15));
      errors += !error.empty();
      busy += error.find("busy") != std::string::npos;
      ::close(fd);
    }
    EXPECT_EQ(errors, peers.size());
    EXPECT_GE(busy, peers.size() - 8) << "at most 8 clients are served at once";
  }

  // A peer that asks for a big report and never reads it, and a silent
  // one, still connected when SIGINT comes. Big: a hundred distinct deep
  // stacks (many_sites), more than a socket's buffer holds.
  int stuck = connect_to(sock);
  ASSERT_GE(stuck, 0);
  const std::string big = R"({"cmd":"report","formats":["html","json","pprof"],"top":100000})"
                          "\n";
  ASSERT_EQ(::send(stuck, big.data(), big.size(), MSG_NOSIGNAL), static_cast<ssize_t>(big.size()));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const long long before = ticks(sock);
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_GE(ticks(sock) - before, 2) << "ticks go on while a peer does not read its report";
  const auto asked = Clock::now();
  auto [code, err] = run_leakscope({"status", "--control", sock});
  // -1: no answer within 60 s (seen once in CI, not reproduced): what the
  // tracer said meanwhile, to tell a stalled loop from a stalled server.
  EXPECT_EQ(code, 0) << "after " << since(asked) << " s: " << err << "\ntracer:\n" << ls.err();
  int silent = connect_to(sock);
  ASSERT_GE(silent, 0);

  auto t0 = Clock::now();
  EXPECT_EQ(ls.stop(10), 0) << ls.err();
  const double exit_seconds = since(t0);
  std::printf("SIGINT to exit with two stuck clients: %.2f s\n", exit_seconds);
  EXPECT_LT(exit_seconds, 5.0);
  // The non-reader got its header and as much of the report as the
  // socket took, never all of it: the tracer did not wait for it.
  std::string got = read_to_end(stuck, 5);
  size_t declared = 0;
  json header = json::parse(got.substr(0, got.find('\n')), nullptr, false);
  ASSERT_TRUE(header.is_object()) << got.substr(0, 200);
  for (const auto& part : header["parts"]) declared += part["size"].get<size_t>();
  std::printf("report never read: %zu bytes declared, %zu arrived\n", declared,
              got.size() - got.find('\n') - 1);
  EXPECT_LT(got.size() - got.find('\n') - 1, declared);
  ::close(stuck);
  ::close(silent);
  json report = take_json(report_path);
  ASSERT_FALSE(report.is_null()) << "the final report is written";
  EXPECT_NE(find_stack(report, "leak"), nullptr);
  EXPECT_EQ(ls.err().find("internal error"), std::string::npos) << ls.err();
  EXPECT_TRUE(fx.running());
}
