// A Chrome DevTools Protocol client for Node's inspector: HTTP /json/list
// and /json/version, then one WebSocket session (Boost.Beast).
//
// Everything the target sends is untrusted input to a root process: replies
// are bounded (max_message_bytes, HTTP bodies 1 MiB), JSON errors are errors,
// and the WebSocket URL the target hands out is only used for its path: we
// never connect anywhere but the host:port we were given.
//
// Every operation is bounded by its timeout even when the peer sends nothing
// or a byte at a time: Beast's asynchronous operations run on a private
// io_context for at most the time left, then the socket is closed.
//
// Thread-safety: none. One connection is used from one thread at a time.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace leakscope {

struct InspectorEndpoint {
  pid_t netns_pid = 0;  // connect from inside this process's network namespace; 0 = ours
  std::string host = "127.0.0.1";  // an IPv4 or IPv6 address ("localhost" = 127.0.0.1)
  uint16_t port = 9229;
};

struct CdpOptions {
  size_t max_message_bytes = 64u << 20;  // a bigger WebSocket message is an error
};

struct CdpReply {
  bool ok = false;
  nlohmann::json result;  // the reply's "result" ({} when it has none)
  std::string error;      // one line: the protocol's error.message, or what went wrong
};

class CdpConnection {
 public:
  // TCP connect (from inside the netns of endpoint.netns_pid), GET
  // /json/version for the runtime version, GET /json/list for the first target
  // of type "node", WebSocket handshake on its path. The whole of it is
  // bounded by `timeout`. nullptr and a one-line *error on failure.
  static std::unique_ptr<CdpConnection> open(const InspectorEndpoint& endpoint,
                                             std::chrono::milliseconds timeout,
                                             std::string* error, CdpOptions options = {});

  ~CdpConnection();
  CdpConnection(const CdpConnection&) = delete;
  CdpConnection& operator=(const CdpConnection&) = delete;

  // Sends {"id":N,"method":m,"params":p} and waits up to `timeout` for the
  // reply with id N; events and replies with other ids are skipped and
  // counted. A timeout, a message too big, or a broken socket leave the
  // connection closed (a stream cannot be resumed mid-message).
  CdpReply call(std::string_view method, const nlohmann::json& params,
                std::chrono::milliseconds timeout);

  // Sends without waiting for a reply (for a call whose reply may never come,
  // e.g. Runtime.evaluate("process._debugEnd()")). Bounded by 1 s. False
  // when the send fails.
  bool send(std::string_view method, const nlohmann::json& params);

  // WebSocket close handshake, best effort, bounded (<= 1 s), then the socket
  // is closed. Idempotent; the destructor calls it.
  void close();

  const std::string& runtime_version() const;  // "v20.20.2", "" when unknown
  size_t events_skipped() const;
  size_t last_reply_bytes() const;
  // Whether an event of this method came while a call waited (the first 64
  // methods are remembered).
  bool saw_event(std::string_view method) const;  // size of the last reply call() returned, as sent
  bool is_open() const;

  struct Impl;

 private:
  explicit CdpConnection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---- Pure helpers (exposed for tests) ----

// The path of a webSocketDebuggerUrl when it is ws://<authority>/<path> with
// exactly the authority given ("127.0.0.1:9229", "[::1]:9229"); the path is
// printable ASCII without spaces, at most 1024 bytes. nullopt otherwise.
std::optional<std::string> websocket_path(std::string_view url, std::string_view authority);

// "node.js/v20.20.2" -> "v20.20.2"; "" when it does not look like that.
std::string node_version_from_browser(std::string_view browser);

}  // namespace leakscope
