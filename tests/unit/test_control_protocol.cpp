// The control socket's wire helpers: framing round trip, and a peer that
// hangs up is an error, never a SIGPIPE.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

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

TEST(ControlProtocol, ReplyWithPartsRoundTrips) {
  ControlReply reply = reply_ok({{"format", "text"}});
  reply.parts.push_back({"report.txt", "line one\nline two\n"});
  reply.parts.push_back({"report.folded", "a;b 3\n"});
  SocketPair sp;
  ASSERT_TRUE(write_all(sp.fd[0], encode_reply(reply)));
  std::string line;
  ASSERT_TRUE(read_line(sp.fd[1], &line));
  auto header = nlohmann::json::parse(line);
  EXPECT_TRUE(header["ok"].get<bool>());
  ASSERT_EQ(header["parts"].size(), 2u);
  std::string first, second;
  ASSERT_TRUE(read_exact(sp.fd[1], header["parts"][0]["size"].get<size_t>(), &first));
  ASSERT_TRUE(read_exact(sp.fd[1], header["parts"][1]["size"].get<size_t>(), &second));
  EXPECT_EQ(first, "line one\nline two\n");
  EXPECT_EQ(second, "a;b 3\n");
}

TEST(ControlProtocol, WritingToAPeerThatHungUpFailsWithoutSigpipe) {
  SocketPair sp;
  ::close(sp.fd[1]);
  sp.fd[1] = -1;
  // With the default SIGPIPE disposition a plain write() here would kill
  // this test binary; the helper must report failure instead.
  EXPECT_FALSE(write_all(sp.fd[0], std::string(1 << 16, 'x')));
}

TEST(ControlProtocol, AnAnswerSentBeforeHangingUpIsStillReadable) {
  // A refusing tracer answers and closes without reading the request.
  SocketPair sp;
  ASSERT_TRUE(write_all(sp.fd[1], encode_reply(reply_error("permission denied: only root"))));
  ::close(sp.fd[1]);
  sp.fd[1] = -1;
  EXPECT_FALSE(write_all(sp.fd[0], "{\"cmd\":\"report\"}\n"));
  std::string line;
  ASSERT_TRUE(read_line(sp.fd[0], &line));
  EXPECT_EQ(nlohmann::json::parse(line)["error"], "permission denied: only root");
}

TEST(ControlProtocol, OverlongLineIsRejected) {
  SocketPair sp;
  ASSERT_TRUE(write_all(sp.fd[0], std::string(100, 'y') + "\n"));
  std::string line;
  EXPECT_FALSE(read_line(sp.fd[1], &line, 10));
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
