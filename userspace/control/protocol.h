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

#include <nlohmann/json.hpp>
#include <string>
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
};

ControlReply reply_error(const std::string& message);
ControlReply reply_ok(nlohmann::json fields = nlohmann::json::object());

// Serialises a reply: header line (with "parts" filled in) + payloads.
std::string encode_reply(const ControlReply& reply);

// Blocking helpers on a connected socket, with the socket's own timeouts.
bool write_all(int fd, const std::string& bytes);
// Reads one '\n'-terminated line of at most `limit` bytes.
bool read_line(int fd, std::string* line, size_t limit = 64 * 1024);
bool read_exact(int fd, size_t n, std::string* out);

// The default socket path for a tracer with process id `pid`.
std::string default_control_path(int pid);

// A default socket (leakscope-PID.sock under kControlDir) whose tracer is
// gone: PID is not a running leakscope. Decided from /proc, without
// connecting (a probe connection would hold the tracer's loop).
bool stale_control_socket(const std::string& file_name);

}  // namespace leakscope
