#include "cli/control_commands.h"

#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "cli/preflight.h"
#include "control/client.h"
#include "core/errors.h"
#include "report/formats.h"
#include "report/units.h"
#include "tracer/output.h"

namespace leakscope {

struct ControlFlags {
  std::string control;
  std::vector<std::string> formats;
  std::string output;
  size_t top = 10;
  std::string weight = "live";
  std::string pid;
  bool json = false;
};

namespace {

void add_control_option(CLI::App* sub, ControlFlags& f) {
  sub->add_option("--control", f.control,
                  "The tracer's control socket (default: the only one in /run/leakscope)");
}

void write_stdout(const std::string& bytes) {
  std::fwrite(bytes.data(), 1, bytes.size(), stdout);
  std::fflush(stdout);
}

int run_report(const ControlFlags& f) {
  std::vector<std::string> formats = f.formats.empty() ? std::vector<std::string>{"text"} : f.formats;
  for (const auto& name : formats)
    if (!parse_format(name))
      throw FatalError(ExitCode::Usage,
                       "--format: '" + name + "' is not one of text, json, folded, pprof, html");
  if (formats.size() > 1 && f.output.empty())
    throw FatalError(ExitCode::Usage, "several formats need -o PREFIX (files PREFIX.<format ext>)");
  if (!f.output.empty())
    for (const auto& name : formats)
      check_output_file("-o", formats.size() > 1 ? f.output + "." + std::string(format_extension(*parse_format(name)))
                                                 : f.output);
  std::string path = find_control_socket(f.control);
  ClientReply reply = control_request(
      path, {{"cmd", "report"}, {"formats", formats}, {"top", f.top}, {"weight", f.weight}});
  if (f.output.empty()) {
    const std::string& bytes = reply.parts.at(0).bytes;
    if (formats[0] == "pprof" && ::isatty(1))
      throw FatalError(ExitCode::Usage, "pprof is binary: give -o FILE");
    write_stdout(bytes);
    return 0;
  }
  for (const ControlPart& part : reply.parts) {
    std::string file = f.output;
    if (formats.size() > 1) file += "." + std::string(format_extension(*parse_format(part.name)));
    write_file_atomic(file, part.bytes);
    std::fprintf(stderr, "leakscope: wrote %s\n", file.c_str());
  }
  return 0;
}

std::string status_text(const nlohmann::json& s) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "leakscope %s (pid %d), up %.0fs, %llu ticks, control %s\n",
                s.value("version", "").c_str(), s.value("pid", 0), s.value("uptime_seconds", 0.0),
                static_cast<unsigned long long>(s.value("ticks", 0ull)),
                s.value("control", "").c_str());
  out += line;
  out += "kinds:";
  for (const auto& k : s["kinds"]) out += " " + k.get<std::string>();
  out += "\ntargets:\n";
  for (const auto& t : s["targets"]) {
    std::snprintf(line, sizeof line, "  %-8d %-16s %-9s live %s in %lld objects, traced %.0fs\n",
                  t.value("pid", 0), t.value("comm", "").c_str(), t.value("state", "").c_str(),
                  format_bytes(t.value("live_bytes", 0.0)).c_str(), t.value("live_objects", 0ll),
                  t.value("traced_seconds", 0.0));
    out += line;
  }
  const auto& maps = s["maps"];
  std::snprintf(line, sizeof line, "maps: objects %lld/%lld, ledger %lld/%lld; probes %lld\n",
                maps["objects"].value("used", 0ll), maps["objects"].value("capacity", 0ll),
                maps["ledger"].value("used", 0ll), maps["ledger"].value("capacity", 0ll),
                s.value("probes", 0ll));
  out += line;
  out += "drops:";
  for (const auto& [reason, n] : s["drops"].items()) out += " " + reason + " " + n.dump();
  out += "\nalerts firing: " + s["alerts_firing"].dump() + "\n";
  for (const auto& sink : s["sinks"]) {
    std::snprintf(line, sizeof line, "  sink %s: %lld sent, %lld failed, %lld dropped, %lld queued%s%s\n",
                  sink.value("name", "").c_str(), sink.value("delivered", 0ll),
                  sink.value("failures", 0ll), sink.value("dropped", 0ll), sink.value("queued", 0ll),
                  sink.value("last_error", "").empty() ? "" : "; last error: ",
                  sink.value("last_error", "").c_str());
    out += line;
  }
  return out;
}

}  // namespace

ControlCommands::ControlCommands(CLI::App& app) : flags_(std::make_unique<ControlFlags>()) {
  ControlFlags& f = *flags_;
  report_ = app.add_subcommand("report", "Ask a running tracer for a report now");
  add_control_option(report_, f);
  report_->add_option("--format", f.formats, "text, json, folded, pprof, html (several: comma-separated)")
      ->delimiter(',')
      ->allow_extra_args(false);
  report_->add_option("-o,--output", f.output, "Write to FILE (with several formats: a prefix)");
  report_->add_option("--top", f.top, "Stacks in the text report")
      ->check(CLI::Range(size_t{1}, size_t{100000}))
      ->capture_default_str();
  report_->add_option("--weight", f.weight, "Folded stacks weigh live bytes or growth")
      ->check(CLI::IsMember({"live", "growth"}))
      ->capture_default_str();

  attach_ = app.add_subcommand("attach", "Start tracing one more process in a running tracer");
  attach_->add_option("pid", f.pid, "PID")->required();
  add_control_option(attach_, f);
  detach_ = app.add_subcommand("detach", "Stop tracing a process (its ledger stays in the report)");
  detach_->add_option("pid", f.pid, "PID")->required();
  add_control_option(detach_, f);

  status_ = app.add_subcommand("status", "Targets, kinds, uptime, map fill, drops, sink health");
  add_control_option(status_, f);
  status_->add_flag("--json", f.json, "As JSON");
}

ControlCommands::~ControlCommands() = default;

int ControlCommands::run_selected() {
  const ControlFlags& f = *flags_;
  if (report_->parsed()) return run_report(f);
  if (attach_->parsed() || detach_->parsed()) {
    const char* cmd = attach_->parsed() ? "attach" : "detach";
    const pid_t pid = parse_pid(cmd, f.pid);
    ClientReply reply = control_request(find_control_socket(f.control), {{"cmd", cmd}, {"pid", pid}});
    std::fprintf(stdout, "%s\n", reply.header.value("message", "done").c_str());
    return 0;
  }
  if (status_->parsed()) {
    ClientReply reply = control_request(find_control_socket(f.control), {{"cmd", "status"}});
    write_stdout(f.json ? reply.header["status"].dump(2) + "\n" : status_text(reply.header["status"]));
    return 0;
  }
  return -1;
}

}  // namespace leakscope
