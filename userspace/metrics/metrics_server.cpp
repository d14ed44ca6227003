// MetricsServer: GET /metrics from a background httplib thread, serving the
// latest snapshot the tracer published.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "core/errors.h"
#include "metrics/metrics.h"

#ifndef LEAKSCOPE_VERSION
#define LEAKSCOPE_VERSION "unknown"
#endif

namespace leakscope {
namespace {

constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

struct ListenSpec {
  std::string host;     // what we bind (":PORT" becomes 0.0.0.0)
  std::string display;  // how we name it in messages: HOST:PORT or [V6]:PORT
  int port = 0;
};

[[noreturn]] void bad_spec(const std::string& spec, const std::string& why) {
  throw FatalError(ExitCode::Usage, "invalid metrics address '" + spec + "': " + why +
                                        " (expected ADDR:PORT, e.g. 127.0.0.1:9464, "
                                        "[::1]:9464 or :9464)");
}

bool is_hostname(const std::string& host) {
  if (host.empty() || host.size() > 253) return false;
  for (const char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.';
    if (!ok) return false;
  }
  return host.front() != '-' && host.front() != '.';
}

bool looks_numeric_v4(const std::string& host) {
  return host.find_first_not_of("0123456789.") == std::string::npos;
}

ListenSpec parse_listen_spec(const std::string& spec) {
  if (spec.empty()) bad_spec(spec, "empty");
  ListenSpec out;
  std::string port_text;
  if (spec.front() == '[') {
    const size_t close = spec.find(']');
    if (close == std::string::npos) bad_spec(spec, "missing ']'");
    out.host = spec.substr(1, close - 1);
    if (close + 1 >= spec.size() || spec[close + 1] != ':') bad_spec(spec, "missing ':PORT'");
    port_text = spec.substr(close + 2);
    in6_addr a6{};
    if (inet_pton(AF_INET6, out.host.c_str(), &a6) != 1) {
      bad_spec(spec, "'" + out.host + "' is not an IPv6 address");
    }
    out.display = "[" + out.host + "]";
  } else {
    const size_t colon = spec.rfind(':');
    if (colon == std::string::npos) bad_spec(spec, "missing ':PORT'");
    out.host = spec.substr(0, colon);
    port_text = spec.substr(colon + 1);
    if (out.host.find(':') != std::string::npos) {
      bad_spec(spec, "put an IPv6 address in brackets");
    }
    if (out.host.empty()) {
      out.host = "0.0.0.0";  // all (IPv4) interfaces
    } else if (looks_numeric_v4(out.host)) {
      in_addr a4{};
      if (inet_pton(AF_INET, out.host.c_str(), &a4) != 1) {
        bad_spec(spec, "'" + out.host + "' is not an IPv4 address");
      }
    } else if (!is_hostname(out.host)) {
      bad_spec(spec, "'" + out.host + "' is not an address or host name");
    }
    out.display = out.host;
  }
  if (port_text.empty() || port_text.size() > 5 ||
      port_text.find_first_not_of("0123456789") != std::string::npos) {
    bad_spec(spec, "port must be a number from 0 to 65535");
  }
  out.port = std::stoi(port_text);
  if (out.port > 65535) bad_spec(spec, "port must be a number from 0 to 65535");
  return out;
}

// SO_REUSEADDR only: restarts are not blocked by TIME_WAIT, but a second
// listener on a port in use fails (httplib's default, SO_REUSEPORT, would
// let two servers share the port silently).
void listen_socket_options(socket_t sock) {
  int yes = 1;
  setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
}

}  // namespace

void check_listen_address(const std::string& addr_port) {
  const ListenSpec spec = parse_listen_spec(addr_port);
  const std::string where = spec.display + ":" + std::to_string(spec.port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(spec.port);
  if (int rc = ::getaddrinfo(spec.host.c_str(), port.c_str(), &hints, &found); rc != 0)
    throw FatalError(ExitCode::Usage, "--metrics: cannot listen on " + where + ": " + ::gai_strerror(rc));
  int err = 0;
  bool bound = false;
  for (const addrinfo* ai = found; ai && !bound; ai = ai->ai_next) {
    int sock = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (sock < 0) {
      err = errno;
      continue;
    }
    listen_socket_options(sock);
    bound = ::bind(sock, ai->ai_addr, ai->ai_addrlen) == 0;
    if (!bound) err = errno;
    ::close(sock);
  }
  ::freeaddrinfo(found);
  if (!bound)
    throw FatalError(ExitCode::Usage, "--metrics: cannot listen on " + where + ": " +
                                          (err ? std::strerror(err) : "no address to bind"));
}

struct MetricsServer::Impl {
  httplib::Server server;
  std::thread thread;
  int port = 0;
  std::atomic<bool> finished{false};

  mutable std::mutex mu;
  std::shared_ptr<const MetricsSnapshot> latest;

  std::shared_ptr<const MetricsSnapshot> snapshot() const {
    std::lock_guard<std::mutex> lock(mu);
    return latest;
  }
};

MetricsServer::MetricsServer(const std::string& addr_port) : impl_(std::make_unique<Impl>()) {
  const ListenSpec spec = parse_listen_spec(addr_port);

  auto initial = std::make_shared<MetricsSnapshot>();
  initial->version = LEAKSCOPE_VERSION;
  impl_->latest = std::move(initial);

  httplib::Server& srv = impl_->server;
  srv.new_task_queue = [] { return new httplib::ThreadPool(2); };
  srv.set_socket_options(listen_socket_options);
  srv.set_keep_alive_timeout(2);
  srv.set_read_timeout(5);
  srv.set_write_timeout(5);

  Impl* impl = impl_.get();
  srv.Get("/metrics", [impl](const httplib::Request&, httplib::Response& res) {
    const auto snap = impl->snapshot();
    res.set_content(render_prometheus(*snap), kContentType);
  });
  srv.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(
        "<html><head><title>leakscope</title></head><body>"
        "<h1>leakscope</h1><p><a href=\"/metrics\">Metrics</a></p></body></html>\n",
        "text/html; charset=utf-8");
  });
  srv.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) {
      res.set_content(res.status == 404 ? "404 not found: try /metrics\n" : "error\n",
                      "text/plain; charset=utf-8");
    }
  });

  errno = 0;
  int bound = -1;
  if (spec.port == 0) {
    bound = srv.bind_to_any_port(spec.host);
  } else if (srv.bind_to_port(spec.host, spec.port)) {
    bound = spec.port;
  }
  if (bound < 0) {
    const int err = errno;
    const std::string why =
        err != 0 ? std::strerror(err) : "address not available or host name not resolved";
    throw FatalError(ExitCode::Failure, "cannot listen on " + spec.display + ":" +
                                            std::to_string(spec.port) + ": " + why);
  }
  impl_->port = bound;

  impl_->thread = std::thread([impl] {
    impl->server.listen_after_bind();
    impl->finished = true;
  });
  // stop() is a no-op until the accept loop runs, so make sure it does before
  // anyone can destroy us.
  while (!impl_->server.is_running() && !impl_->finished) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

MetricsServer::~MetricsServer() {
  if (!impl_) return;
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

void MetricsServer::publish(MetricsSnapshot snapshot) {
  auto next = std::make_shared<const MetricsSnapshot>(std::move(snapshot));
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->latest = std::move(next);
}

int MetricsServer::port() const { return impl_->port; }

}  // namespace leakscope
