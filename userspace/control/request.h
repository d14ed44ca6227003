// A control request, checked: the one place that turns the JSON a client
// sent (untrusted: any peer that reached the socket as root can send
// anything) into a typed request, or into a one-line reason it is refused.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <variant>
#include <vector>

#include "report/formats.h"

namespace leakscope {

struct ReportRequest {
  std::vector<Format> formats;  // at least one
  size_t top = 0;               // 0: the tracer's --top
  FoldedWeight weight = FoldedWeight::LiveBytes;
};

struct AttachRequest {
  pid_t pid = 0;
};

struct DetachRequest {
  pid_t pid = 0;
};

struct StatusRequest {};

using ControlRequest = std::variant<ReportRequest, AttachRequest, DetachRequest, StatusRequest>;

// The request, or why it is refused (one line, for the error reply).
// Unknown fields are ignored, so newer clients can talk to older tracers;
// a known field of the wrong type or out of range is refused.
std::variant<ControlRequest, std::string> parse_control_request(const nlohmann::json& request);

// Reports list at most this many stacks (a client asking more gets this).
inline constexpr size_t kMaxReportTop = 100000;

}  // namespace leakscope
