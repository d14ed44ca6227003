#include "runtimes/cdp_connection.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <system_error>
#include <thread>

#include "core/input_limits.h"
#include "core/unique_fd.h"

namespace leakscope {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

namespace {

constexpr size_t kMaxHttpBody = 1 << 20;
constexpr size_t kMaxHttpHeader = 16 << 10;
constexpr size_t kMaxPath = 1024;
constexpr size_t kMaxErrorText = 200;
// Deeper JSON is refused before it is parsed: a 64 MiB "[[[[..." would
// otherwise become 64 million nested values. A heap profile nests two levels
// per stack frame; Node's default stack holds about 11,000 frames.
constexpr size_t kMaxJsonDepth = 25000;
constexpr auto kSendTimeout = std::chrono::seconds(1);
constexpr auto kCloseTimeout = std::chrono::seconds(1);

std::string format_duration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

// Text from the target made fit for a one-line error: no control
// characters, bounded.
std::string one_line(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, kMaxErrorText)) {
    out.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c);
  }
  if (text.size() > kMaxErrorText) out += "...";
  return out;
}

// True when no array or object in `text` nests deeper than max_depth
// (brackets inside strings do not count).
bool json_depth_within(std::string_view text, size_t max_depth) {
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return true;
}

// Parsed JSON, or nullopt for bad or too deeply nested JSON. Never throws.
std::optional<nlohmann::json> parse_json(std::string_view text) {
  if (!json_depth_within(text, kMaxJsonDepth)) return std::nullopt;
  nlohmann::json value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return std::nullopt;
  return value;
}

// Runs the io_context until *done, or until the deadline; then closes the
// socket (close_socket) so that the pending operation completes with an
// error, and drains it. True when the operation completed in time.
template <typename CloseSocket>
bool run_until(net::io_context& ioc, const bool& done, Clock::time_point deadline,
               CloseSocket&& close_socket) {
  ioc.restart();
  while (!done) {
    auto now = Clock::now();
    if (now >= deadline) break;
    ioc.run_for(deadline - now);
    if (ioc.stopped() && !done) break;  // no work left and no completion: cannot happen
  }
  if (done) return true;
  close_socket();
  ioc.restart();
  ioc.run();
  return false;
}

// Makes TCP sockets in the network namespace of a process. A thread's
// network namespace is its own: a short-lived thread joins the target's
// namespace, makes the socket and ends; the socket stays in the namespace it
// was made in, and connect() on it routes there. The calling thread never
// changes namespace.
class SocketMaker {
 public:
  // False and *error when PID's namespace cannot be opened.
  bool init(pid_t netns_pid, std::string* error) {
    if (netns_pid == 0) return true;
    std::string path = "/proc/" + std::to_string(netns_pid) + "/ns/net";
    struct stat theirs {};
    struct stat ours {};
    if (::stat(path.c_str(), &theirs) != 0) {
      *error = "cannot see the network namespace of PID " + std::to_string(netns_pid) + ": " +
               std::strerror(errno);
      return false;
    }
    if (::stat("/proc/thread-self/ns/net", &ours) == 0 && ours.st_ino == theirs.st_ino &&
        ours.st_dev == theirs.st_dev)
      return true;  // already ours
    netns_ = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (netns_.get() < 0) {
      *error = "cannot open the network namespace of PID " + std::to_string(netns_pid) + ": " +
               std::strerror(errno);
      return false;
    }
    return true;
  }

  bool other_namespace() const { return netns_.get() >= 0; }

  // A new TCP socket of `family`; -1 and *error on failure.
  int make(int family, std::string* error) const {
    if (netns_.get() < 0) {
      int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) *error = std::string("cannot create a socket: ") + std::strerror(errno);
      return fd;
    }
    int fd = -1;
    int err = 0;
    const char* step = "socket";
    try {
      std::thread maker([&] {
        if (::setns(netns_.get(), CLONE_NEWNET) != 0) {
          err = errno;
          step = "setns";
          return;
        }
        fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) err = errno;
      });
      maker.join();
    } catch (const std::system_error& e) {
      *error = std::string("cannot start a thread to enter the network namespace: ") + e.what();
      return -1;
    }
    if (fd < 0)
      *error = std::string("cannot create a socket in the target's network namespace (") + step +
               "): " + std::strerror(err);
    return fd;
  }

 private:
  UniqueFd netns_;
};

struct Target {
  tcp::endpoint endpoint;
  std::string authority;  // "127.0.0.1:9229", "[::1]:9229"
  std::string where;      // for errors: "127.0.0.1:9229" or "127.0.0.1:9229 in the netns of PID 7"
};

// Adopts a fresh socket (made in the right namespace) and connects it.
bool connect_stream(net::io_context& ioc, beast::tcp_stream& stream, const SocketMaker& maker,
                    const Target& target, Clock::time_point deadline, std::string* error) {
  int fd = maker.make(target.endpoint.address().is_v6() ? AF_INET6 : AF_INET, error);
  if (fd < 0) return false;
  error_code ec;
  stream.socket().assign(target.endpoint.protocol(), fd, ec);
  if (ec) {
    ::close(fd);
    *error = "cannot adopt the socket: " + ec.message();
    return false;
  }
  bool done = false;
  stream.socket().async_connect(target.endpoint, [&](error_code e) {
    ec = e;
    done = true;
  });
  if (!run_until(ioc, done, deadline, [&] { stream.close(); })) {
    *error = "timed out connecting to the inspector at " + target.where;
    return false;
  }
  if (ec) {
    *error = "cannot connect to the inspector at " + target.where + ": " + ec.message();
    return false;
  }
  return true;
}

// The body of GET `path` on its own connection (Node's inspector answers one
// request per connection); nullopt and *error on failure or a status not 200.
std::optional<std::string> http_get(net::io_context& ioc, const SocketMaker& maker,
                                    const Target& target, const std::string& path,
                                    Clock::time_point deadline, std::string* error) {
  beast::tcp_stream stream(ioc);
  if (!connect_stream(ioc, stream, maker, target, deadline, error)) return std::nullopt;
  auto close = [&] { stream.close(); };

  http::request<http::empty_body> request{http::verb::get, path, 11};
  request.set(http::field::host, target.authority);
  request.set(http::field::user_agent, "leakscope");
  bool done = false;
  error_code ec;
  http::async_write(stream, request, [&](error_code e, size_t) {
    ec = e;
    done = true;
  });
  if (!run_until(ioc, done, deadline, close)) {
    *error = "timed out sending GET " + path + " to " + target.where;
    return std::nullopt;
  }
  if (ec) {
    *error = "cannot send GET " + path + " to " + target.where + ": " + ec.message();
    return std::nullopt;
  }

  beast::flat_buffer buffer(kMaxHttpBody + kMaxHttpHeader);
  http::response_parser<http::string_body> parser;
  parser.header_limit(kMaxHttpHeader);
  parser.body_limit(kMaxHttpBody);
  // The header first: Beast 1.74 does not apply body_limit to a response's
  // Content-Length (it reads a 2 MiB body under a 1 MiB limit), so that is
  // checked here; chunked and to-EOF bodies are bounded by body_limit.
  done = false;
  http::async_read_header(stream, buffer, parser, [&](error_code e, size_t) {
    ec = e;
    done = true;
  });
  bool in_time = run_until(ioc, done, deadline, close);
  if (in_time && !ec && parser.content_length() && *parser.content_length() > kMaxHttpBody)
    ec = http::error::body_limit;
  if (in_time && !ec && !parser.is_done()) {
    done = false;
    http::async_read(stream, buffer, parser, [&](error_code e, size_t) {
      ec = e;
      done = true;
    });
    in_time = run_until(ioc, done, deadline, close);
  }
  error_code ignored;
  stream.socket().close(ignored);
  if (!in_time) {
    *error = "timed out waiting for the answer to GET " + path + " from " + target.where;
    return std::nullopt;
  }
  if (ec) {
    *error = target.where + " is not a Node inspector (GET " + path + ": " + ec.message() + ")";
    return std::nullopt;
  }
  auto& response = parser.get();
  if (response.result() != http::status::ok) {
    *error = target.where + " answered GET " + path + " with status " +
             std::to_string(response.result_int());
    return std::nullopt;
  }
  return std::move(response.body());
}

}  // namespace

std::optional<std::string> websocket_path(std::string_view url, std::string_view authority) {
  constexpr std::string_view kScheme = "ws://";
  if (url.substr(0, kScheme.size()) != kScheme) return std::nullopt;
  url.remove_prefix(kScheme.size());
  size_t slash = url.find('/');
  if (slash == std::string_view::npos || url.substr(0, slash) != authority) return std::nullopt;
  std::string_view path = url.substr(slash);
  if (path.size() > kMaxPath) return std::nullopt;
  for (char c : path) {
    if (c <= 0x20 || c >= 0x7f) return std::nullopt;
  }
  return std::string(path);
}

std::string node_version_from_browser(std::string_view browser) {
  constexpr std::string_view kPrefix = "node.js/";
  if (browser.substr(0, kPrefix.size()) != kPrefix) return "";
  std::string_view version = browser.substr(kPrefix.size());
  if (version.size() < 2 || version.size() > 64 || version.front() != 'v') return "";
  for (char c : version) {
    bool fine = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                c == '.' || c == '-' || c == '+';
    if (!fine) return "";
  }
  return std::string(version);
}

struct CdpConnection::Impl {
  net::io_context ioc{1};
  websocket::stream<beast::tcp_stream> ws{ioc};
  beast::flat_buffer buffer;
  std::string runtime_version;
  std::string where;
  size_t max_message_bytes = 0;
  size_t events_skipped = 0;
  size_t last_reply_bytes = 0;
  std::set<std::string> events_seen;  // methods of the events skipped (bounded)
  int64_t next_id = 1;
  bool open = false;

  void close_socket() {
    error_code ignored;
    beast::get_lowest_layer(ws).socket().close(ignored);
    open = false;
  }

  // Writes one text message; "" on success, else what went wrong.
  std::string write(const std::string& text, std::string_view method, Clock::time_point deadline,
                    std::chrono::milliseconds timeout) {
    bool done = false;
    error_code ec;
    ws.async_write(net::buffer(text), [&](error_code e, size_t) {
      ec = e;
      done = true;
    });
    if (!run_until(ioc, done, deadline, [&] { close_socket(); })) {
      close_socket();
      return "timed out after " + format_duration(timeout) + " sending " + std::string(method);
    }
    if (ec) {
      close_socket();
      return "cannot send " + std::string(method) + " to the inspector: " + ec.message();
    }
    return "";
  }
};

CdpConnection::CdpConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

CdpConnection::~CdpConnection() { close(); }

std::unique_ptr<CdpConnection> CdpConnection::open(const InspectorEndpoint& endpoint,
                                                   std::chrono::milliseconds timeout,
                                                   std::string* error, CdpOptions options) {
  std::string scratch;
  if (error == nullptr) error = &scratch;
  auto deadline = Clock::now() + timeout;

  error_code ec;
  std::string host = endpoint.host == "localhost" ? "127.0.0.1" : endpoint.host;
  net::ip::address address = net::ip::make_address(host, ec);
  if (ec) {
    *error = "the inspector's host '" + one_line(endpoint.host) + "' is not an IP address";
    return nullptr;
  }
  Target target;
  target.endpoint = tcp::endpoint(address, endpoint.port);
  target.authority = (address.is_v6() ? "[" + host + "]" : host) + ":" +
                     std::to_string(endpoint.port);
  SocketMaker maker;
  if (!maker.init(endpoint.netns_pid, error)) return nullptr;
  target.where = target.authority;
  if (maker.other_namespace())
    target.where += " in the network namespace of PID " + std::to_string(endpoint.netns_pid);

  auto impl = std::make_unique<Impl>();
  impl->where = target.where;
  impl->max_message_bytes = std::max<size_t>(options.max_message_bytes, 1);  // 0 is no limit to Beast

  auto version_body = http_get(impl->ioc, maker, target, "/json/version", deadline, error);
  if (!version_body) return nullptr;
  auto version = parse_json(*version_body);
  if (!version || !version->is_object()) {
    *error = target.where + " is not a Node inspector (bad JSON from /json/version)";
    return nullptr;
  }
  if (auto it = version->find("Browser"); it != version->end() && it->is_string())
    impl->runtime_version = node_version_from_browser(it->get_ref<const std::string&>());

  auto list_body = http_get(impl->ioc, maker, target, "/json/list", deadline, error);
  if (!list_body) return nullptr;
  auto list = parse_json(*list_body);
  if (!list || !list->is_array()) {
    *error = target.where + " is not a Node inspector (bad JSON from /json/list)";
    return nullptr;
  }
  std::optional<std::string> path;
  for (const auto& entry : *list) {
    if (!entry.is_object()) continue;
    auto type = entry.find("type");
    auto url = entry.find("webSocketDebuggerUrl");
    if (type == entry.end() || *type != "node") continue;
    if (url == entry.end() || !url->is_string()) continue;
    const auto& text = url->get_ref<const std::string&>();
    path = websocket_path(text, target.authority);
    if (!path) {
      *error = "refusing the inspector's WebSocket URL '" + one_line(text) + "': not ws://" +
               target.authority + "/...";
      return nullptr;
    }
    break;
  }
  if (!path) {
    *error = target.where + " lists no target of type node";
    return nullptr;
  }

  auto& ws = impl->ws;
  if (!connect_stream(impl->ioc, ws.next_layer(), maker, target, deadline, error)) return nullptr;
  ws.read_message_max(impl->max_message_bytes);
  ws.set_option(websocket::stream_base::decorator(
      [](websocket::request_type& request) { request.set(http::field::user_agent, "leakscope"); }));
  bool done = false;
  ws.async_handshake(target.authority, *path, [&](error_code e) {
    ec = e;
    done = true;
  });
  if (!run_until(impl->ioc, done, deadline, [&] { impl->close_socket(); })) {
    *error = "timed out in the WebSocket handshake with " + target.where;
    return nullptr;
  }
  if (ec) {
    impl->close_socket();
    *error = "WebSocket handshake with " + target.where + " failed: " + ec.message();
    return nullptr;
  }
  ws.text(true);
  // Room for one whole message: the size check is read_message_max's.
  impl->buffer = beast::flat_buffer(impl->max_message_bytes + 4096);
  impl->open = true;
  error->clear();
  return std::unique_ptr<CdpConnection>(new CdpConnection(std::move(impl)));
}

CdpReply CdpConnection::call(std::string_view method, const nlohmann::json& params,
                             std::chrono::milliseconds timeout) {
  CdpReply reply;
  Impl& impl = *impl_;
  if (!impl.open) {
    reply.error = "the inspector connection is closed";
    return reply;
  }
  auto deadline = Clock::now() + timeout;
  int64_t id = impl.next_id++;
  std::string text;
  try {
    text = nlohmann::json{{"id", id}, {"method", method}, {"params", params}}.dump();
  } catch (const nlohmann::json::exception& e) {
    reply.error = "cannot encode " + std::string(method) + ": " + one_line(e.what());
    return reply;
  }
  reply.error = impl.write(text, method, deadline, timeout);
  if (!reply.error.empty()) return reply;

  for (;;) {
    impl.buffer.consume(impl.buffer.size());
    bool done = false;
    error_code ec;
    impl.ws.async_read(impl.buffer, [&](error_code e, size_t) {
      ec = e;
      done = true;
    });
    if (!run_until(impl.ioc, done, deadline, [&] { impl.close_socket(); })) {
      impl.close_socket();
      reply.error = "timed out after " + format_duration(timeout) + " waiting for " +
                    std::string(method);
      return reply;
    }
    if (ec == websocket::error::message_too_big) {
      impl.close_socket();
      note_input_limit("V8 inspector at " + impl.where + " (" + std::string(method) + " reply)",
                       "larger than the message cap of " + std::to_string(impl.max_message_bytes) +
                           " bytes",
                       "not read");
      reply.error = "a message from the inspector is larger than " +
                    std::to_string(impl.max_message_bytes) + " bytes (waiting for " +
                    std::string(method) + ")";
      return reply;
    }
    if (ec) {
      impl.close_socket();
      reply.error = "lost the inspector waiting for " + std::string(method) + ": " + ec.message();
      return reply;
    }
    auto data = impl.buffer.data();
    std::string_view message(static_cast<const char*>(data.data()), data.size());
    auto value = parse_json(message);
    if (!value || !value->is_object()) {
      reply.error = "bad JSON from the inspector waiting for " + std::string(method);
      impl.buffer.consume(impl.buffer.size());
      return reply;
    }
    auto found = value->find("id");
    if (found == value->end() || !found->is_number_integer() || found->get<int64_t>() != id) {
      ++impl.events_skipped;
      if (auto m = value->find("method"); found == value->end() && m != value->end() && m->is_string() &&
                                          impl.events_seen.size() < 64)
        impl.events_seen.insert(m->get<std::string>().substr(0, 128));
      continue;
    }
    impl.last_reply_bytes = message.size();
    impl.buffer.consume(impl.buffer.size());
    if (auto err = value->find("error"); err != value->end()) {
      std::string message_text = "error without a message";
      if (err->is_object()) {
        auto msg = err->find("message");
        if (msg != err->end() && msg->is_string())
          message_text = one_line(msg->get_ref<const std::string&>());
      }
      reply.error = message_text;
      return reply;
    }
    auto result = value->find("result");
    reply.result = result != value->end() ? std::move(*result) : nlohmann::json::object();
    reply.ok = true;
    return reply;
  }
}

bool CdpConnection::send(std::string_view method, const nlohmann::json& params) {
  Impl& impl = *impl_;
  if (!impl.open) return false;
  std::string text;
  try {
    text = nlohmann::json{{"id", impl.next_id++}, {"method", method}, {"params", params}}.dump();
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(kSendTimeout);
  return impl.write(text, method, Clock::now() + timeout, timeout).empty();
}

void CdpConnection::close() {
  Impl& impl = *impl_;
  if (impl.open) {
    bool done = false;
    impl.ws.async_close(websocket::close_code::normal, [&](error_code) { done = true; });
    run_until(impl.ioc, done, Clock::now() + kCloseTimeout, [&] { impl.close_socket(); });
  }
  impl.close_socket();
}

const std::string& CdpConnection::runtime_version() const { return impl_->runtime_version; }

size_t CdpConnection::events_skipped() const { return impl_->events_skipped; }
size_t CdpConnection::last_reply_bytes() const { return impl_->last_reply_bytes; }
bool CdpConnection::saw_event(std::string_view method) const {
  return impl_->events_seen.count(std::string(method)) != 0;
}


bool CdpConnection::is_open() const { return impl_->open; }

}  // namespace leakscope
