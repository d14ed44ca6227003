// What `leakscope status|report|attach|detach` make of a tracer's reply.
// The reply is a peer's bytes (a tracer of another version, or whatever
// listens on the socket), so it is read checked: a field left out reads as
// its default (an older tracer may not send it), a field of the wrong type
// or out of range is FatalError(Failure) naming it; never a JSON library
// exception, never undefined behaviour. Pure: a reply in, text out.
#pragma once

#include <string>
#include <vector>

#include "control/client.h"

namespace leakscope {

// `status`: the reply's "status" object as the lines a person reads.
std::string status_text(const nlohmann::json& header);
// `status --json`: the reply's "status" object, indented, with a newline.
std::string status_json_text(const nlohmann::json& header);

// `attach` / `detach`: the tracer's one-line message ("done" without one).
std::string action_message(const nlohmann::json& header);

// `report`: the reply's parts, checked to be one per format asked for and
// in that order (the files they go to are named from `formats`, never from
// the reply).
const std::vector<ControlPart>& report_parts(const ClientReply& reply, const std::vector<std::string>& formats);

}  // namespace leakscope
