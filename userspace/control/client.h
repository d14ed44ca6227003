// The client end: `leakscope report|attach|detach|status` talking to a
// running tracer over its control socket.
#pragma once

#include <string>

#include "control/protocol.h"

namespace leakscope {

// `explicit_path` when given; else the only socket under /run/leakscope/.
// Throws FatalError(NotRunning) when there is none, (Usage) when several.
std::string find_control_socket(const std::string& explicit_path);

struct ClientReply {
  nlohmann::json header;
  std::vector<ControlPart> parts;
};

// Sends one request and reads the whole reply (read_control_reply).
// Throws FatalError: NotRunning (nobody listens), Permission (socket
// refused), Failure; and those of read_control_reply.
ClientReply control_request(const std::string& path, const nlohmann::json& request,
                            int timeout_seconds = 60);

// A reply's header line holds at most this many bytes (its parts follow
// it), nested at most this deep (a status is four levels; the depth bounds
// what dumping or walking it later costs in stack).
inline constexpr size_t kMaxReplyHeaderBytes = 16 << 20;
inline constexpr int kMaxReplyHeaderDepth = 64;
// and lists at most this many parts (one per report format asked for; the
// client asks each format once).
inline constexpr size_t kMaxReplyParts = 16;
// and its parts hold at most this many bytes in all (a report of the
// largest trace is a few hundred MiB as HTML), so a peer that streams
// cannot grow the client without end.
inline constexpr uint64_t kMaxReplyPartBytes = uint64_t{1} << 30;

// Decodes one reply as the tracer at `path` sent it into `source`: the
// header line (a JSON object), then each part it lists, exactly its size
// (so bounded by the bytes that came), then its verdict. Throws
// FatalError(Failure) for a reply cut short, overlong or malformed (one
// that timed out says `timeout_seconds`); a reply with ok other than true
// becomes FatalError with its error line, Permission for "permission
// denied...", NoSuchProcess for "no process...", else Failure.
ClientReply read_control_reply(ByteSource& source, const std::string& path, int timeout_seconds);

}  // namespace leakscope
