// The control socket's wire format. A client sends one JSON object on one
// line; the tracer answers with one JSON line (the header) followed by the
// raw bytes of each part the header lists, back to back:
//   -> {"cmd":"report","formats":["json","pprof"],"top":10,"weight":"live"}
//   <- {"ok":true,"parts":[{"name":"json","size":1234},{"name":"pprof","size":567}]}
//      <1234 bytes><567 bytes>
//   -> {"cmd":"attach","pid":4242}   <- {"ok":true,"message":"..."}
//   -> {"cmd":"status"}              <- {"ok":true,"status":{...}}
//   errors                           <- {"ok":false,"error":"one line"}
#pragma once

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace leakscope {

inline constexpr int kControlProtocolVersion = 1;
inline constexpr const char* kControlDir = "/run/leakscope";

struct ControlPart {
  std::string name;
  std::string bytes;
};

struct ControlReply {
  nlohmann::json header;  // ok, error, message, status, parts
  std::vector<ControlPart> parts;
  // Parts made after the handler returned, off the thread that ran it (a
  // report rendered from a Report value the closure owns); appended to
  // `parts` by render_deferred().
  std::function<std::vector<ControlPart>()> deferred;
};

ControlReply reply_error(const std::string& message);
ControlReply reply_ok(nlohmann::json fields = nlohmann::json::object());

// Runs the reply's deferred renderer, if any; one that throws turns the
// reply into a one-line error (logged once).
void render_deferred(ControlReply* reply);

// Serialises a reply: header line (with "parts" filled in) + payloads.
// Deferred parts must have been rendered.
std::string encode_reply(const ControlReply& reply);

// I/O on a connected socket with one deadline for the whole exchange, not
// one per read (a peer sending a byte now and then cannot stretch it), and
// an optional `stop_fd` whose readability abandons it at once. Any
// blocking mode of `fd` works (MSG_DONTWAIT + poll). Writes never raise
// SIGPIPE: a peer that hung up is an error to report.
using ControlClock = std::chrono::steady_clock;
enum class IoStatus { Ok, Closed, TimedOut, TooLong, Stopped, Failed };
const char* io_status_name(IoStatus status);

// Writes all of `bytes` by `deadline`, giving up earlier when the peer
// takes nothing for `stall`.
IoStatus write_all_until(int fd, std::string_view bytes, ControlClock::time_point deadline,
                         std::chrono::milliseconds stall, int stop_fd = -1);

// Where a message's bytes come from, as the decoders of the wire format
// read them: a connection (DeadlineReader), or bytes already in memory
// (BytesReader: tests and fuzzers feed a decoder without a socket).
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // One '\n'-terminated line (without it) of at most `limit` bytes;
  // TooLong as soon as more arrived without a newline, Closed when the
  // bytes end first.
  virtual IoStatus line(std::string* out, size_t limit) = 0;
  // Exactly `n` bytes; Closed when the bytes end first (so `n` is bounded
  // by what the peer sent, never allocated up front).
  virtual IoStatus exact(size_t n, std::string* out) = 0;
};

// Buffered reads from one connection, all by one deadline.
class DeadlineReader final : public ByteSource {
 public:
  DeadlineReader(int fd, ControlClock::time_point deadline, int stop_fd = -1)
      : fd_(fd), stop_fd_(stop_fd), deadline_(deadline) {}
  IoStatus line(std::string* out, size_t limit) override;
  IoStatus exact(size_t n, std::string* out) override;

 private:
  IoStatus fill();
  int fd_, stop_fd_;
  ControlClock::time_point deadline_;
  std::string buffer_;
};

// All the bytes a peer sent, then its hang-up: a DeadlineReader that never
// waits.
class BytesReader final : public ByteSource {
 public:
  explicit BytesReader(std::string_view bytes) : rest_(bytes) {}
  IoStatus line(std::string* out, size_t limit) override;
  IoStatus exact(size_t n, std::string* out) override;

 private:
  std::string_view rest_;
};

// The default socket path for a tracer with process id `pid`.
std::string default_control_path(int pid);

// A default socket (leakscope-PID.sock under kControlDir) whose tracer is
// gone: PID is not a running leakscope. Decided from /proc, without
// connecting (a probe connection would hold the tracer's loop).
bool stale_control_socket(const std::string& file_name);

}  // namespace leakscope
