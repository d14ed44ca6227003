#include "control/request.h"

#include <limits>

namespace leakscope {

namespace {

using Parsed = std::variant<ControlRequest, std::string>;

// A process id as JSON: a positive integer that fits pid_t.
std::variant<pid_t, std::string> pid_field(const nlohmann::json& request, const std::string& cmd) {
  auto it = request.find("pid");
  if (it == request.end()) return cmd + ": a pid is required";
  if (!it->is_number_integer()) return cmd + ": pid must be an integer";
  const auto pid = it->get<int64_t>();
  if (pid <= 0 || pid > std::numeric_limits<pid_t>::max()) return cmd + ": pid out of range";
  return static_cast<pid_t>(pid);
}

Parsed parse_report(const nlohmann::json& request) {
  ReportRequest r;
  if (auto it = request.find("formats"); it != request.end()) {
    if (!it->is_array()) return std::string("report: formats must be an array of names");
    for (const auto& f : *it) {
      auto format = f.is_string() ? parse_format(f.get<std::string>()) : std::nullopt;
      if (!format) return "report: unknown report format " + f.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace) + " (text, json, folded, pprof, html)";
      r.formats.push_back(*format);
    }
  }
  if (r.formats.empty()) r.formats.push_back(Format::Text);
  if (auto it = request.find("top"); it != request.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 1)
      return std::string("report: top must be a positive integer");
    r.top = static_cast<size_t>(std::min<int64_t>(it->get<int64_t>(), int64_t(kMaxReportTop)));
  }
  if (auto it = request.find("weight"); it != request.end()) {
    if (*it == "live")
      r.weight = FoldedWeight::LiveBytes;
    else if (*it == "growth")
      r.weight = FoldedWeight::Growth;
    else
      return std::string("report: weight must be \"live\" or \"growth\"");
  }
  return ControlRequest{r};
}

}  // namespace

Parsed parse_control_request(const nlohmann::json& request) {
  if (!request.is_object()) return std::string("malformed request: not a JSON object");
  auto cmd_field = request.find("cmd");
  if (cmd_field == request.end() || !cmd_field->is_string())
    return std::string("malformed request: \"cmd\" must be a string");
  const std::string cmd = cmd_field->get<std::string>();
  if (cmd == "report") return parse_report(request);
  if (cmd == "status") return ControlRequest{StatusRequest{}};
  if (cmd == "attach" || cmd == "detach") {
    auto pid = pid_field(request, cmd);
    if (auto* error = std::get_if<std::string>(&pid)) return *error;
    pid_t p = std::get<pid_t>(pid);
    return cmd == "attach" ? ControlRequest{AttachRequest{p}} : ControlRequest{DetachRequest{p}};
  }
  std::string shown = cmd.size() > 40 ? cmd.substr(0, 40) + "..." : cmd;
  return "unknown command " + nlohmann::json(shown).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace) + " (report, attach, detach, status)";
}

}  // namespace leakscope
