// The control socket's wire helpers: framing round trip, deferred parts,
// one deadline per exchange, and a peer that hangs up is an error, never a
// SIGPIPE.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "control/protocol.h"

namespace leakscope {
namespace {

struct SocketPair {
  int fd[2] = {-1, -1};
  SocketPair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0); }
  ~SocketPair() {
    for (int f : fd)
      if (f >= 0) ::close(f);
  }
};

using namespace std::chrono_literals;

ControlClock::time_point in(std::chrono::milliseconds d) { return ControlClock::now() + d; }

TEST(ControlProtocol, ReplyWithPartsRoundTrips) {
  ControlReply reply = reply_ok({{"format", "text"}});
  reply.parts.push_back({"report.txt", "line one\nline two\n"});
  reply.parts.push_back({"report.folded", "a;b 3\n"});
  SocketPair sp;
  ASSERT_EQ(write_all_until(sp.fd[0], encode_reply(reply), in(2s), 2s), IoStatus::Ok);
  DeadlineReader reader(sp.fd[1], in(2s));
  std::string line;
  ASSERT_EQ(reader.line(&line, 64 * 1024), IoStatus::Ok);
  auto header = nlohmann::json::parse(line);
  EXPECT_TRUE(header["ok"].get<bool>());
  ASSERT_EQ(header["parts"].size(), 2u);
  std::string first, second;
  ASSERT_EQ(reader.exact(header["parts"][0]["size"].get<size_t>(), &first), IoStatus::Ok);
  ASSERT_EQ(reader.exact(header["parts"][1]["size"].get<size_t>(), &second), IoStatus::Ok);
  EXPECT_EQ(first, "line one\nline two\n");
  EXPECT_EQ(second, "a;b 3\n");
}

TEST(ControlProtocol, DeferredPartsAreAppendedAndAThrowingRendererIsAnError) {
  ControlReply reply = reply_ok();
  reply.parts.push_back({"first", "1"});
  reply.deferred = [] { return std::vector<ControlPart>{{"second", "22"}}; };
  render_deferred(&reply);
  ASSERT_EQ(reply.parts.size(), 2u);
  EXPECT_EQ(reply.parts[1].name, "second");
  EXPECT_FALSE(reply.deferred);
  ControlReply broken = reply_ok();
  broken.deferred = []() -> std::vector<ControlPart> { throw std::runtime_error("no memory for html"); };
  render_deferred(&broken);
  EXPECT_EQ(broken.header["ok"], false);
  EXPECT_NE(broken.header["error"].get<std::string>().find("no memory for html"), std::string::npos);
  EXPECT_TRUE(broken.parts.empty());
}

TEST(ControlProtocol, WritingToAPeerThatHungUpFailsWithoutSigpipe) {
  SocketPair sp;
  ::close(sp.fd[1]);
  sp.fd[1] = -1;
  // With the default SIGPIPE disposition a plain write() here would kill
  // this test binary; the helper must report failure instead.
  EXPECT_EQ(write_all_until(sp.fd[0], std::string(1 << 16, 'x'), in(2s), 2s), IoStatus::Closed);
}

TEST(ControlProtocol, AWriteNobodyReadsStopsAtItsStallLimit) {
  SocketPair sp;
  auto t0 = ControlClock::now();
  EXPECT_EQ(write_all_until(sp.fd[0], std::string(16 << 20, 'x'), in(10s), 300ms), IoStatus::TimedOut);
  EXPECT_LT(ControlClock::now() - t0, 5s);
}

TEST(ControlProtocol, AnAnswerSentBeforeHangingUpIsStillReadable) {
  // A refusing tracer answers and closes without reading the request.
  SocketPair sp;
  ASSERT_EQ(write_all_until(sp.fd[1], encode_reply(reply_error("permission denied: only root")), in(2s), 2s),
            IoStatus::Ok);
  ::close(sp.fd[1]);
  sp.fd[1] = -1;
  EXPECT_NE(write_all_until(sp.fd[0], "{\"cmd\":\"report\"}\n", in(2s), 2s), IoStatus::Ok);
  DeadlineReader reader(sp.fd[0], in(2s));
  std::string line;
  ASSERT_EQ(reader.line(&line, 1024), IoStatus::Ok);
  EXPECT_EQ(nlohmann::json::parse(line)["error"], "permission denied: only root");
  EXPECT_EQ(reader.line(&line, 1024), IoStatus::Closed);
}

TEST(ControlProtocol, OverlongLineIsRejected) {
  SocketPair sp;
  ASSERT_EQ(write_all_until(sp.fd[0], std::string(100, 'y') + "\n", in(2s), 2s), IoStatus::Ok);
  DeadlineReader reader(sp.fd[1], in(2s));
  std::string line;
  EXPECT_EQ(reader.line(&line, 10), IoStatus::TooLong);
}

TEST(ControlProtocol, ALineTricklingInIsBoundByOneDeadline) {
  SocketPair sp;
  std::thread trickle([fd = sp.fd[0]] {
    for (int i = 0; i < 20; ++i) {
      if (::send(fd, "x", 1, MSG_NOSIGNAL) != 1) break;
      std::this_thread::sleep_for(100ms);
    }
  });
  auto t0 = ControlClock::now();
  DeadlineReader reader(sp.fd[1], in(500ms));
  std::string line;
  EXPECT_EQ(reader.line(&line, 1024), IoStatus::TimedOut);
  EXPECT_LT(ControlClock::now() - t0, 1500ms) << "a byte every 100 ms does not extend it";
  trickle.join();
}

TEST(ControlProtocol, AStopDescriptorAbandonsAWait) {
  SocketPair sp, stop;
  std::thread stopper([fd = stop.fd[0]] {
    std::this_thread::sleep_for(200ms);
    (void)!::send(fd, "!", 1, MSG_NOSIGNAL);
  });
  DeadlineReader reader(sp.fd[1], in(10s), stop.fd[1]);
  std::string line;
  EXPECT_EQ(reader.line(&line, 1024), IoStatus::Stopped);
  stopper.join();
}

}  // namespace
}  // namespace leakscope

namespace leakscope {
namespace {

TEST(ControlProtocol, StaleSocketsAreThoseOfNoRunningLeakscope) {
  EXPECT_TRUE(stale_control_socket("leakscope-99999999.sock")) << "no such process";
  EXPECT_TRUE(stale_control_socket("leakscope-" + std::to_string(::getpid()) + ".sock"))
      << "alive, but not a leakscope";
  EXPECT_TRUE(stale_control_socket("leakscope-1.sock")) << "init is no leakscope";
  for (const char* other : {"leakscope-.sock", "leakscope-12x.sock", "leakscope-12.sock.bak", "other-12.sock",
                            "leakscope--5.sock", "mine.sock"})
    EXPECT_FALSE(stale_control_socket(other)) << other << ": not a default socket, never removed";
}

}  // namespace
}  // namespace leakscope
