// The control server off the trace loop: requests are read and checked on
// the server's threads, answered by a handler on the loop's thread, and
// written back by the server; slow, silent, flooding or non-reading peers
// get a one-line error and never hold the loop.
#include <dirent.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "control/client.h"
#include "control/server.h"
#include "core/errors.h"

namespace leakscope {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

double seconds_since(ControlClock::time_point t0) {
  return std::chrono::duration<double>(ControlClock::now() - t0).count();
}

size_t entries(const char* dir) {
  size_t n = 0;
  if (DIR* d = ::opendir(dir)) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++n;
    ::closedir(d);
  }
  return n;
}

struct TempSocket {
  std::string dir, path;
  TempSocket() {
    char tmpl[] = "/tmp/leakscope-unit-ctl-XXXXXX";
    dir = ::mkdtemp(tmpl);
    path = dir + "/ctl.sock";
  }
  ~TempSocket() {
    ::unlink(path.c_str());
    ::rmdir(dir.c_str());
  }
};

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

void send_text(int fd, const std::string& text) {
  (void)write_all_until(fd, text, ControlClock::now() + 10s, 10s);
}

// The reply's header line, parsed; null when none came within `timeout`.
json read_header(int fd, std::chrono::milliseconds timeout = 10s) {
  DeadlineReader reader(fd, ControlClock::now() + timeout);
  std::string line;
  if (reader.line(&line, 1 << 20) != IoStatus::Ok) return nullptr;
  return json::parse(line, nullptr, false);
}

// One request, one header back.
json ask(const std::string& path, const std::string& line) {
  int fd = connect_to(path);
  if (fd < 0) return nullptr;
  send_text(fd, line + "\n");
  json header = read_header(fd);
  ::close(fd);
  return header;
}

bool is_error(const json& header) {
  return header.is_object() && header["ok"] == false && header["error"].is_string();
}

// The trace loop's part: polls fd() and serves what is queued, on its own
// thread, until destroyed.
class Loop {
 public:
  Loop(ControlServer& server, ControlServer::Handler handler)
      : thread_([this, &server, handler] {
          id_ = std::this_thread::get_id();
          while (!stop_) {
            pollfd p{server.fd(), POLLIN, 0};
            if (::poll(&p, 1, 20) > 0) {
              auto t0 = ControlClock::now();
              server.serve_pending(handler);
              longest_serve_ = std::max(longest_serve_.load(), seconds_since(t0));
            }
          }
        }) {
    while (id_ == std::thread::id()) std::this_thread::sleep_for(1ms);
  }
  ~Loop() {
    stop_ = true;
    thread_.join();
  }
  std::thread::id id() const { return id_; }
  double longest_serve() const { return longest_serve_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<std::thread::id> id_{};
  std::atomic<double> longest_serve_{0};
  std::thread thread_;
};

ControlReply status_reply(const ControlRequest&) { return reply_ok({{"status", {{"ticks", 7}}}}); }

TEST(ControlServer, AnswersOnTheLoopsThread) {
  TempSocket sock;
  ControlServer server(sock.path);
  std::atomic<std::thread::id> handled_on{};
  Loop loop(server, [&](const ControlRequest& r) {
    handled_on = std::this_thread::get_id();
    EXPECT_TRUE(std::holds_alternative<StatusRequest>(r));
    return status_reply(r);
  });
  json header = ask(sock.path, R"({"cmd":"status"})");
  ASSERT_TRUE(header.is_object());
  EXPECT_EQ(header["ok"], true);
  EXPECT_EQ(header["status"]["ticks"], 7);
  EXPECT_EQ(handled_on.load(), loop.id());
  // The client library, too.
  ClientReply reply = control_request(sock.path, {{"cmd", "status"}});
  EXPECT_EQ(reply.header["status"]["ticks"], 7);
}

TEST(ControlServer, MalformedRequestsGetAnErrorAndNeverReachTheHandler) {
  TempSocket sock;
  ControlServer server(sock.path);
  std::atomic<int> handled{0};
  Loop loop(server, [&](const ControlRequest& r) {
    ++handled;
    return status_reply(r);
  });
  for (std::string line :
       {R"({"cmd":123})", R"({"cmd":null})", R"({"cmd":"report","top":"x"})", R"({"cmd":"reboot"})",
        "not json", "[[[[[[[[[[[[[[[[[[[[", "", "\xff\xfe"}) {
    json header = ask(sock.path, line);
    EXPECT_TRUE(is_error(header)) << line << " -> " << header;
  }
  EXPECT_EQ(handled, 0);
}

TEST(ControlServer, AnOverlongLineGetsAnError) {
  TempSocket sock;
  ControlServer server(sock.path, ControlLimits{.line_limit = 1024});
  Loop loop(server, status_reply);
  int fd = connect_to(sock.path);
  ASSERT_GE(fd, 0);
  // The server stops reading after the limit and closes: the rest of this
  // send fails, the answer is still there to read.
  send_text(fd, std::string(1 << 20, 'x') + "\n");
  json header = read_header(fd);
  ::close(fd);
  ASSERT_TRUE(is_error(header)) << header;
  EXPECT_NE(header["error"].get<std::string>().find("1024 bytes"), std::string::npos) << header;
  // Exactly at the limit is fine.
  std::string padded = R"({"cmd":"status","pad":")";
  padded += std::string(1024 - padded.size() - 2, 'p') + "\"}";
  ASSERT_EQ(padded.size(), 1024u);
  EXPECT_EQ(ask(sock.path, padded)["ok"], true);
}

TEST(ControlServer, ASlowPeerIsCutOffByOneDeadlineAndHoldsNobodyElse) {
  TempSocket sock;
  ControlServer server(sock.path, ControlLimits{.read_deadline = 1s});
  Loop loop(server, status_reply);
  int slow = connect_to(sock.path);
  ASSERT_GE(slow, 0);
  auto t0 = ControlClock::now();
  std::atomic<bool> done{false};
  std::thread dribble([&] {
    // A byte every 300 ms: a per-read timeout of any length above that
    // would never fire.
    for (char c : std::string(R"({"cmd":"status"})")) {
      if (done) break;
      if (::send(slow, &c, 1, MSG_NOSIGNAL) != 1) break;
      std::this_thread::sleep_for(300ms);
    }
  });
  // Others are answered meanwhile.
  EXPECT_EQ(ask(sock.path, R"({"cmd":"status"})")["ok"], true);
  json header = read_header(slow);
  double cut_after = seconds_since(t0);
  done = true;
  dribble.join();
  ::close(slow);
  ASSERT_TRUE(is_error(header)) << header;
  EXPECT_NE(header["error"].get<std::string>().find("timed out"), std::string::npos) << header;
  EXPECT_LT(cut_after, 4.0) << "one deadline for the request, not one per byte";
}

TEST(ControlServer, ASilentPeerTimesOut) {
  TempSocket sock;
  ControlServer server(sock.path, ControlLimits{.read_deadline = 500ms});
  Loop loop(server, status_reply);
  int fd = connect_to(sock.path);
  ASSERT_GE(fd, 0);
  json header = read_header(fd);
  ::close(fd);
  EXPECT_TRUE(is_error(header)) << header;
}

TEST(ControlServer, ClientsBeyondTheLimitAreToldBusyAtOnce) {
  TempSocket sock;
  ControlServer server(sock.path, ControlLimits{.max_clients = 2, .read_deadline = 2s});
  Loop loop(server, status_reply);
  int a = connect_to(sock.path), b = connect_to(sock.path);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  std::this_thread::sleep_for(200ms);  // both taken by the server's workers
  auto t0 = ControlClock::now();
  json header = ask(sock.path, R"({"cmd":"status"})");
  EXPECT_TRUE(is_error(header)) << header;
  EXPECT_NE(header["error"].get<std::string>().find("busy"), std::string::npos) << header;
  EXPECT_LT(seconds_since(t0), 1.5) << "told at once, not after the silent ones";
  ::close(a);
  ::close(b);
  // Slots free again once those peers are gone.
  bool answered = false;
  for (int i = 0; i < 50 && !answered; ++i) {
    answered = ask(sock.path, R"({"cmd":"status"})")["ok"] == true;
    if (!answered) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(answered);
}

TEST(ControlServer, AFloodGrowsNeitherThreadsNorDescriptors) {
  TempSocket sock;
  ControlServer server(sock.path, ControlLimits{.max_clients = 4, .read_deadline = 1s});
  Loop loop(server, status_reply);
  const size_t threads_before = entries("/proc/self/task");
  std::vector<int> peers;
  for (int i = 0; i < 200; ++i) {
    int fd = connect_to(sock.path);
    ASSERT_GE(fd, 0) << i;
    peers.push_back(fd);
  }
  EXPECT_EQ(entries("/proc/self/task"), threads_before);
  size_t busy = 0, errors = 0;
  for (int fd : peers) {
    json header = read_header(fd, 5s);
    errors += is_error(header);
    busy +=
        is_error(header) && header["error"].get<std::string>().find("busy") != std::string::npos;
  }
  EXPECT_EQ(errors, peers.size()) << "every silent peer gets one line: busy or timed out";
  EXPECT_GE(busy, peers.size() - 4);
  const size_t fds_during = entries("/proc/self/fd");
  for (int fd : peers) ::close(fd);
  EXPECT_LT(entries("/proc/self/fd"), fds_during - 190)
      << "the server holds no descriptor of a closed peer";
  EXPECT_EQ(entries("/proc/self/task"), threads_before);
  EXPECT_EQ(ask(sock.path, R"({"cmd":"status"})")["ok"], true);
}

TEST(ControlServer, APeerThatNeverReadsHoldsNeitherTheLoopNorItsSlot) {
  TempSocket sock;
  ControlServer server(sock.path, ControlLimits{.max_clients = 1, .write_stall = 500ms});
  Loop loop(server, [](const ControlRequest&) {
    ControlReply reply = reply_ok();
    reply.parts.push_back({"big", std::string(32 << 20, 'r')});
    return reply;
  });
  int stuck = connect_to(sock.path);
  ASSERT_GE(stuck, 0);
  send_text(stuck, "{\"cmd\":\"report\"}\n");
  std::this_thread::sleep_for(1500ms);  // the server gives up writing meanwhile
  EXPECT_LT(loop.longest_serve(), 1.0) << "the loop only ran the handler";
  // The only slot is free again: the next client gets its (big) answer.
  ClientReply reply = control_request(sock.path, {{"cmd", "status"}}, 20);
  ASSERT_EQ(reply.parts.size(), 1u);
  EXPECT_EQ(reply.parts[0].bytes.size(), size_t{32} << 20);
  // The stuck one got a cut-off reply: its header, then less than it says.
  json header = read_header(stuck);
  ASSERT_TRUE(header.is_object());
  size_t size = header["parts"][0]["size"];
  std::string got;
  DeadlineReader rest(stuck, ControlClock::now() + 5s);
  EXPECT_NE(rest.exact(size, &got), IoStatus::Ok);
  ::close(stuck);
}

TEST(ControlServer, DeferredPartsAreRenderedOffTheLoop) {
  TempSocket sock;
  ControlServer server(sock.path);
  std::atomic<std::thread::id> rendered_on{};
  Loop loop(server, [&](const ControlRequest& r) {
    ControlReply reply = reply_ok();
    if (std::get<ReportRequest>(r).top == 13) {
      reply.deferred = []() -> std::vector<ControlPart> {
        throw std::runtime_error("renderer broke");
      };
      return reply;
    }
    reply.deferred = [&] {
      rendered_on = std::this_thread::get_id();
      return std::vector<ControlPart>{{"text", "rendered\n"}};
    };
    return reply;
  });
  ClientReply reply = control_request(sock.path, {{"cmd", "report"}});
  ASSERT_EQ(reply.parts.size(), 1u);
  EXPECT_EQ(reply.parts[0].name, "text");
  EXPECT_EQ(reply.parts[0].bytes, "rendered\n");
  EXPECT_NE(rendered_on.load(), std::thread::id());
  EXPECT_NE(rendered_on.load(), loop.id());
  json broken = ask(sock.path, R"({"cmd":"report","top":13})");
  ASSERT_TRUE(is_error(broken)) << broken;
  EXPECT_NE(broken["error"].get<std::string>().find("renderer broke"), std::string::npos);
}

TEST(ControlServer, AHandlerThatThrowsGivesAnErrorAndTheServerGoesOn) {
  TempSocket sock;
  ControlServer server(sock.path);
  Loop loop(server, [](const ControlRequest& r) -> ControlReply {
    if (std::holds_alternative<AttachRequest>(r)) throw std::runtime_error("attach exploded");
    if (std::holds_alternative<DetachRequest>(r)) throw 42;
    return status_reply(r);
  });
  json a = ask(sock.path, R"({"cmd":"attach","pid":5})");
  ASSERT_TRUE(is_error(a)) << a;
  EXPECT_NE(a["error"].get<std::string>().find("attach exploded"), std::string::npos);
  EXPECT_TRUE(is_error(ask(sock.path, R"({"cmd":"detach","pid":5})")));
  EXPECT_EQ(ask(sock.path, R"({"cmd":"status"})")["ok"], true);
}

TEST(ControlServer, ARequestTheLoopNeverTakesIsToldBusy) {
  TempSocket sock;
  ControlServer server(sock.path, ControlLimits{.queue_deadline = 500ms});
  int fd = connect_to(sock.path);
  ASSERT_GE(fd, 0);
  send_text(fd, "{\"cmd\":\"status\"}\n");
  pollfd p{server.fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 2000), 1) << "fd() is readable while a request waits";
  json header = read_header(fd);
  ::close(fd);
  ASSERT_TRUE(is_error(header)) << header;
  EXPECT_NE(header["error"].get<std::string>().find("busy"), std::string::npos) << header;
  // Served later, nothing is left of it.
  int calls = 0;
  server.serve_pending([&](const ControlRequest& r) {
    ++calls;
    return status_reply(r);
  });
  EXPECT_EQ(calls, 0);
}

TEST(ControlServer, StoppingIsPromptWithClientsStuckInEveryState) {
  TempSocket sock;
  auto server = std::make_unique<ControlServer>(sock.path);
  int silent = connect_to(sock.path);
  int queued = connect_to(sock.path);
  send_text(queued, "{\"cmd\":\"status\"}\n");
  int stuck = connect_to(sock.path);
  send_text(stuck, "{\"cmd\":\"report\"}\n");
  // Both queued requests are answered: the non-reader's with more than a
  // socket holds.
  pollfd p{server->fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 2000), 1);
  std::this_thread::sleep_for(100ms);
  server->serve_pending([](const ControlRequest& r) {
    if (std::holds_alternative<ReportRequest>(r)) {
      ControlReply reply = reply_ok();
      reply.parts.push_back({"big", std::string(32 << 20, 'r')});
      return reply;
    }
    return reply_error("not now");
  });
  std::this_thread::sleep_for(200ms);
  auto t0 = ControlClock::now();
  server.reset();
  EXPECT_LT(seconds_since(t0), 1.0);
  EXPECT_NE(::access(sock.path.c_str(), F_OK), 0) << "the socket is removed";
  // Every peer sees the connection end.
  for (int fd : {silent, queued}) {
    DeadlineReader reader(fd, ControlClock::now() + 2s);
    std::string line;
    IoStatus s = reader.line(&line, 1 << 20);
    while (s == IoStatus::Ok) s = reader.line(&line, 1 << 20);
    EXPECT_EQ(s, IoStatus::Closed);
    ::close(fd);
  }
  ::close(stuck);
}

TEST(ControlClient, OneDeadlineForTheWholeAnswer) {
  TempSocket sock;
  // A "tracer" that accepts and then dribbles a header, a byte a time.
  int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock.path.c_str());
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  std::atomic<bool> done{false};
  std::thread dribbler([&] {
    int conn = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    for (char c : std::string(R"({"ok":true,"status":{"ticks":1}})")) {
      if (done || ::send(conn, &c, 1, MSG_NOSIGNAL) != 1) break;
      std::this_thread::sleep_for(300ms);
    }
    ::close(conn);
  });
  auto t0 = ControlClock::now();
  try {
    control_request(sock.path, {{"cmd", "status"}}, 1);
    ADD_FAILURE() << "an answer that never completes must be an error";
  } catch (const FatalError& e) {
    EXPECT_NE(std::string(e.what()).find("within 1 s"), std::string::npos) << e.what();
  }
  EXPECT_LT(seconds_since(t0), 3.0);
  done = true;
  dribbler.join();
  ::close(listener);
}

}  // namespace
}  // namespace leakscope
