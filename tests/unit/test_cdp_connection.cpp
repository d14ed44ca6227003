// CdpConnection against a small inspector written here with Beast: one
// thread, one connection at a time, on 127.0.0.1:0. No root.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <sstream>
#include <string>
#include <thread>

#include "core/input_limits.h"
#include "runtimes/cdp_connection.h"

namespace leakscope {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using json = nlohmann::json;
using namespace std::chrono_literals;

enum class Replies { Normal, Silent, Huge, ProtocolError, Garbage, Slow };

struct Behavior {
  std::string list_body;  // "" = a good list; "{PORT}" is replaced by the port
  std::string version_body = R"({"Browser":"node.js/v20.20.2","Protocol-Version":"1.1"})";
  bool garbage_http = false;
  bool slow_http = false;     // the answer to /json/version a byte every 50 ms
  bool chunked_huge = false;  // /json/list answers 2 MiB in chunks
  Replies replies = Replies::Normal;
  size_t huge_bytes = 0;
};

Behavior replying(Replies replies, size_t huge_bytes = 0) {
  Behavior behavior;
  behavior.replies = replies;
  behavior.huge_bytes = huge_bytes;
  return behavior;
}
Behavior listing(std::string list_body) {
  Behavior behavior;
  behavior.list_body = std::move(list_body);
  return behavior;
}
Behavior versioned(std::string version_body) {
  Behavior behavior;
  behavior.version_body = std::move(version_body);
  return behavior;
}
Behavior garbage_http() {
  Behavior behavior;
  behavior.garbage_http = true;
  return behavior;
}
Behavior chunked_huge() {
  Behavior behavior;
  behavior.chunked_huge = true;
  return behavior;
}
Behavior slow_http() {
  Behavior behavior;
  behavior.slow_http = true;
  return behavior;
}
CdpOptions max_message(size_t bytes) {
  CdpOptions options;
  options.max_message_bytes = bytes;
  return options;
}

class FakeInspector {
 public:
  explicit FakeInspector(Behavior behavior)
      : behavior_(std::move(behavior)), acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeInspector() {
    stopping_ = true;
    {  // wake accept()
      net::io_context ioc;
      tcp::socket waker(ioc);
      boost::system::error_code ec;
      waker.connect(acceptor_.local_endpoint(), ec);
    }
    thread_.join();
  }
  uint16_t port() const { return port_; }
  InspectorEndpoint endpoint() const {
    InspectorEndpoint endpoint;
    endpoint.port = port_;
    return endpoint;
  }

 private:
  std::string fill(std::string text) const {
    for (size_t at; (at = text.find("{PORT}")) != std::string::npos;)
      text.replace(at, 6, std::to_string(port_));
    return text;
  }

  void serve() {
    while (!stopping_) {
      tcp::socket socket(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stopping_) return;
      serve_one(std::move(socket));
    }
  }

  void serve_one(tcp::socket socket) {
    boost::system::error_code ec;
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    http::read(socket, buffer, request, ec);
    if (ec) return;
    if (behavior_.garbage_http) {
      net::write(socket, net::buffer(std::string("SSH-2.0-OpenSSH_9.2\r\n\r\n")), ec);
      return;
    }
    if (websocket::is_upgrade(request)) return serve_websocket(std::move(socket), request);
    std::string body;
    if (request.target() == "/json/version") {
      body = behavior_.version_body;
    } else if (request.target() == "/json/list") {
      body = behavior_.list_body.empty()
                 ? fill(R"([{"description":"node.js instance","id":"abc","type":"node",)"
                        R"("webSocketDebuggerUrl":"ws://127.0.0.1:{PORT}/abc"}])")
                 : fill(behavior_.list_body);
    }
    if (behavior_.chunked_huge && request.target() == "/json/list") {
      std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
      if (!net::write(socket, net::buffer(head), ec)) return;
      std::string chunk = "10000\r\n" + std::string(0x10000, ' ') + "\r\n";
      for (int i = 0; i < 32; ++i) {
        if (!net::write(socket, net::buffer(chunk), ec)) return;
      }
      net::write(socket, net::buffer(std::string("0\r\n\r\n")), ec);
      return;
    }
    http::response<http::string_body> response{http::status::ok, 11};
    response.set(http::field::content_type, "application/json; charset=UTF-8");
    response.body() = body;
    response.prepare_payload();
    if (behavior_.slow_http && request.target() == "/json/version") {
      std::ostringstream text;
      text << response;
      for (char c : text.str()) {
        if (!net::write(socket, net::buffer(&c, 1), ec)) return;
        std::this_thread::sleep_for(50ms);
      }
      return;
    }
    http::write(socket, response, ec);
  }

  void serve_websocket(tcp::socket socket, const http::request<http::string_body>& request) {
    websocket::stream<tcp::socket> ws(std::move(socket));
    boost::system::error_code ec;
    ws.accept(request, ec);
    if (ec) return;
    for (;;) {
      beast::flat_buffer buffer;
      ws.read(buffer, ec);
      if (ec) return;
      json message = json::parse(beast::buffers_to_string(buffer.data()), nullptr, false);
      if (!message.is_object()) return;
      json id = message["id"];
      auto send = [&](const json& value) { ws.write(net::buffer(value.dump()), ec); };
      switch (behavior_.replies) {
        case Replies::Silent:
          break;
        case Replies::Normal:
          send({{"method", "HeapProfiler.heapStatsUpdate"}, {"params", {{"statsUpdate", {1}}}}});
          send({{"method", "Runtime.consoleAPICalled"}, {"params", json::object()}});
          send({{"id", id.get<int64_t>() + 1000}, {"result", json::object()}});
          send({{"id", id}, {"result", {{"echo", message["params"]}}}});
          break;
        case Replies::Huge:
          send({{"id", id}, {"result", {{"blob", std::string(behavior_.huge_bytes, 'x')}}}});
          break;
        case Replies::ProtocolError:
          send({{"id", id},
                {"error", {{"code", -32601}, {"message", "'Foo.bar' wasn't found\nsecond line"}}}});
          break;
        case Replies::Slow: {
          // One server frame (FIN, text, unmasked, short length) a byte every 50 ms.
          std::string payload = json{{"id", id}, {"result", json::object()}}.dump();
          std::string frame = {'\x81', static_cast<char>(payload.size())};
          frame += payload;
          for (char c : frame) {
            if (!net::write(ws.next_layer(), net::buffer(&c, 1), ec)) return;
            std::this_thread::sleep_for(50ms);
          }
          break;
        }
        case Replies::Garbage:
          ws.write(net::buffer(std::string("{\"id\": 1, \"result\": {")), ec);
          break;
      }
      if (ec) return;
    }
  }

  Behavior behavior_;
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TEST(CdpConnection, CallReturnsItsReplyAndSkipsTheRest) {
  FakeInspector inspector({});
  std::string error;
  auto cdp = CdpConnection::open(inspector.endpoint(), 2s, &error);
  ASSERT_TRUE(cdp) << error;
  EXPECT_TRUE(cdp->is_open());
  EXPECT_EQ(cdp->runtime_version(), "v20.20.2");
  auto reply = cdp->call("Runtime.evaluate", {{"expression", "1+2"}}, 2s);
  ASSERT_TRUE(reply.ok) << reply.error;
  EXPECT_EQ(reply.result["echo"]["expression"], "1+2");
  EXPECT_EQ(cdp->events_skipped(), 3u);
  // The next call skips nothing left over from the first.
  reply = cdp->call("HeapProfiler.getSamplingProfile", json::object(), 2s);
  ASSERT_TRUE(reply.ok) << reply.error;
  EXPECT_EQ(cdp->events_skipped(), 6u);
  EXPECT_TRUE(cdp->send("Runtime.evaluate", {{"expression", "process._debugEnd()"}}));
  cdp->close();
  EXPECT_FALSE(cdp->is_open());
  cdp->close();  // idempotent
  EXPECT_FALSE(cdp->call("Runtime.evaluate", json::object(), 1s).ok);
  EXPECT_FALSE(cdp->send("Runtime.evaluate", json::object()));
}

TEST(CdpConnection, OurOwnNamespaceNeedsNoThread) {
  FakeInspector inspector({});
  auto endpoint = inspector.endpoint();
  endpoint.netns_pid = ::getpid();
  std::string error;
  auto cdp = CdpConnection::open(endpoint, 2s, &error);
  ASSERT_TRUE(cdp) << error;
  EXPECT_TRUE(cdp->call("Profiler.enable", json::object(), 2s).ok);
}

TEST(CdpConnection, SilentPeerTimesOut) {
  FakeInspector inspector(replying(Replies::Silent));
  std::string error;
  auto cdp = CdpConnection::open(inspector.endpoint(), 2s, &error);
  ASSERT_TRUE(cdp) << error;
  auto start = std::chrono::steady_clock::now();
  auto reply = cdp->call("HeapProfiler.getSamplingProfile", json::object(), 300ms);
  double took = seconds_since(start);
  EXPECT_FALSE(reply.ok);
  EXPECT_EQ(reply.error, "timed out after 300ms waiting for HeapProfiler.getSamplingProfile");
  EXPECT_GE(took, 0.29);
  EXPECT_LT(took, 0.8);
  EXPECT_FALSE(cdp->is_open());
  start = std::chrono::steady_clock::now();
  cdp.reset();
  EXPECT_LT(seconds_since(start), 0.5);
}

TEST(CdpConnection, ProtocolErrorIsOneLine) {
  FakeInspector inspector(replying(Replies::ProtocolError));
  std::string error;
  auto cdp = CdpConnection::open(inspector.endpoint(), 2s, &error);
  ASSERT_TRUE(cdp) << error;
  auto reply = cdp->call("Foo.bar", json::object(), 2s);
  EXPECT_FALSE(reply.ok);
  EXPECT_EQ(reply.error, "'Foo.bar' wasn't found second line");
  EXPECT_TRUE(cdp->is_open());
}

TEST(CdpConnection, ReplyOverTheLimitIsAnError) {
  clear_input_limits();
  FakeInspector inspector(replying(Replies::Huge, 100000));
  std::string error;
  auto cdp = CdpConnection::open(inspector.endpoint(), 2s, &error, max_message(4096));
  ASSERT_TRUE(cdp) << error;
  auto reply = cdp->call("HeapProfiler.getSamplingProfile", json::object(), 2s);
  EXPECT_FALSE(reply.ok);
  EXPECT_NE(reply.error.find("larger than 4096 bytes"), std::string::npos) << reply.error;
  EXPECT_FALSE(cdp->is_open());
  // The report says so (core/input_limits.h).
  const auto hits = input_limits_hit();
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_NE(hits[0].file.find("HeapProfiler.getSamplingProfile"), std::string::npos) << hits[0].file;
  EXPECT_NE(hits[0].limit.find("4096 bytes"), std::string::npos) << hits[0].limit;
  EXPECT_EQ(hits[0].effect, "not read");
  clear_input_limits();
}

TEST(CdpConnection, ReplyUnderTheLimitIsFine) {
  FakeInspector inspector(replying(Replies::Huge, 100000));
  std::string error;
  auto cdp = CdpConnection::open(inspector.endpoint(), 2s, &error, max_message(200000));
  ASSERT_TRUE(cdp) << error;
  auto reply = cdp->call("HeapProfiler.getSamplingProfile", json::object(), 2s);
  ASSERT_TRUE(reply.ok) << reply.error;
  EXPECT_EQ(reply.result["blob"].get<std::string>().size(), 100000u);
}

TEST(CdpConnection, BadJsonReplyIsAnError) {
  FakeInspector inspector(replying(Replies::Garbage));
  std::string error;
  auto cdp = CdpConnection::open(inspector.endpoint(), 2s, &error);
  ASSERT_TRUE(cdp) << error;
  auto reply = cdp->call("Runtime.evaluate", json::object(), 2s);
  EXPECT_FALSE(reply.ok);
  EXPECT_EQ(reply.error, "bad JSON from the inspector waiting for Runtime.evaluate");
}

TEST(CdpConnection, UrlToAnotherHostOrPortIsRefused) {
  for (const char* url : {"ws://127.0.0.1:1/abc", "ws://10.9.8.7:{PORT}/abc",
                          "ws://127.0.0.1:{PORT}@evil:80/abc", "wss://127.0.0.1:{PORT}/abc",
                          "ws://127.0.0.1:{PORT}/a b", "ws://127.0.0.1:{PORT}"}) {
    FakeInspector inspector(
        listing(std::string(R"([{"type":"node","webSocketDebuggerUrl":")") + url + "\"}]"));
    std::string error;
    auto cdp = CdpConnection::open(inspector.endpoint(), 2s, &error);
    EXPECT_FALSE(cdp) << url;
    EXPECT_NE(error.find("refusing the inspector's WebSocket URL"), std::string::npos) << error;
  }
}

TEST(CdpConnection, NotAnInspector) {
  struct Case {
    Behavior behavior;
    const char* expected;
  };
  Case cases[] = {
      {garbage_http(), "is not a Node inspector (GET /json/version"},
      {versioned("<html>"), "bad JSON from /json/version"},
      {listing("[{\"type\":\"node\""), "bad JSON from /json/list"},
      {listing(std::string(100000, '[')), "bad JSON from /json/list"},
      {listing(R"([{"type":"page","webSocketDebuggerUrl":"ws://127.0.0.1:{PORT}/x"}])"),
       "lists no target of type node"},
      {listing(std::string(2 << 20, ' ')), "body limit exceeded"},
      {chunked_huge(), "body limit exceeded"},
  };
  for (auto& c : cases) {
    FakeInspector inspector(c.behavior);
    std::string error;
    auto cdp = CdpConnection::open(inspector.endpoint(), 2s, &error);
    EXPECT_FALSE(cdp);
    EXPECT_NE(error.find(c.expected), std::string::npos) << error << " / wanted: " << c.expected;
    EXPECT_EQ(error.find('\n'), std::string::npos);
  }
}

TEST(CdpConnection, SlowPeerIsBoundedByTheTimeout) {
  FakeInspector inspector(slow_http());
  std::string error;
  auto start = std::chrono::steady_clock::now();
  auto cdp = CdpConnection::open(inspector.endpoint(), 400ms, &error);
  double took = seconds_since(start);
  EXPECT_FALSE(cdp);
  EXPECT_NE(error.find("timed out"), std::string::npos) << error;
  EXPECT_LT(took, 0.9);
}

TEST(CdpConnection, ReplyAByteAtATimeIsBoundedByTheTimeout) {
  FakeInspector inspector(replying(Replies::Slow));
  std::string error;
  auto cdp = CdpConnection::open(inspector.endpoint(), 2s, &error);
  ASSERT_TRUE(cdp) << error;
  auto start = std::chrono::steady_clock::now();
  auto reply = cdp->call("Runtime.evaluate", json::object(), 400ms);
  double took = seconds_since(start);
  EXPECT_FALSE(reply.ok);
  EXPECT_EQ(reply.error, "timed out after 400ms waiting for Runtime.evaluate");
  EXPECT_LT(took, 0.9);
}

TEST(CdpConnection, ConnectionRefused) {
  uint16_t port;
  {
    net::io_context ioc;
    tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    port = acceptor.local_endpoint().port();
  }
  std::string error;
  InspectorEndpoint endpoint;
  endpoint.port = port;
  auto cdp = CdpConnection::open(endpoint, 1s, &error);
  EXPECT_FALSE(cdp);
  EXPECT_EQ(error, "cannot connect to the inspector at 127.0.0.1:" + std::to_string(port) +
                       ": Connection refused");
  endpoint.host = "example.org";
  cdp = CdpConnection::open(endpoint, 1s, &error);
  EXPECT_FALSE(cdp);
  EXPECT_EQ(error, "the inspector's host 'example.org' is not an IP address");
  endpoint.host = "127.0.0.1";
  endpoint.netns_pid = 999999999;
  cdp = CdpConnection::open(endpoint, 1s, &error);
  EXPECT_FALSE(cdp);
  EXPECT_NE(error.find("network namespace of PID 999999999"), std::string::npos) << error;
}

TEST(CdpConnectionHelpers, WebSocketPath) {
  EXPECT_EQ(websocket_path("ws://127.0.0.1:9229/0f2c-11", "127.0.0.1:9229"), "/0f2c-11");
  EXPECT_EQ(websocket_path("ws://[::1]:9229/x", "[::1]:9229"), "/x");
  EXPECT_FALSE(websocket_path("ws://127.0.0.1:9230/x", "127.0.0.1:9229"));
  EXPECT_FALSE(websocket_path("ws://127.0.0.1:92299/x", "127.0.0.1:9229"));
  EXPECT_FALSE(websocket_path("ws://127.0.0.1:9229/x\r\nHost: evil", "127.0.0.1:9229"));
  EXPECT_FALSE(websocket_path("ws://127.0.0.1:9229/" + std::string(2000, 'a'), "127.0.0.1:9229"));
  EXPECT_FALSE(websocket_path("", "127.0.0.1:9229"));
  EXPECT_EQ(node_version_from_browser("node.js/v20.20.2"), "v20.20.2");
  EXPECT_EQ(node_version_from_browser("node.js/v22.0.0-pre"), "v22.0.0-pre");
  EXPECT_EQ(node_version_from_browser("Chrome/120"), "");
  EXPECT_EQ(node_version_from_browser("node.js/v20\n"), "");
  EXPECT_EQ(node_version_from_browser("node.js/"), "");
}

}  // namespace
}  // namespace leakscope
