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

// Sends one request and reads the whole reply. Throws FatalError:
// NotRunning (nobody listens), Permission (socket refused), Failure.
// A reply with ok=false becomes FatalError(Failure, its error).
ClientReply control_request(const std::string& path, const nlohmann::json& request,
                            int timeout_seconds = 60);

}  // namespace leakscope
