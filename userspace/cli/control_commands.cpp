#include "cli/control_commands.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/control_replies.h"
#include "cli/preflight.h"
#include "control/client.h"
#include "core/errors.h"
#include "core/terminal_text.h"
#include "report/formats.h"
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
  for (size_t i = 0; i < formats.size(); ++i) {
    if (!parse_format(formats[i]))
      throw FatalError(ExitCode::Usage,
                       "--format: '" + formats[i] + "' is not one of text, json, folded, pprof, html");
    // Twice would be one file written twice; and a reply lists at most
    // kMaxReplyParts parts.
    if (std::find(formats.begin(), formats.begin() + i, formats[i]) != formats.begin() + i)
      throw FatalError(ExitCode::Usage, "--format: '" + formats[i] + "' given twice");
  }
  if (formats.size() > 1 && f.output.empty())
    throw FatalError(ExitCode::Usage, "several formats need -o PREFIX (files PREFIX.<format ext>)");
  if (!f.output.empty())
    for (const auto& name : formats)
      check_output_file("-o", formats.size() > 1 ? f.output + "." + std::string(format_extension(*parse_format(name)))
                                                 : f.output);
  std::string path = find_control_socket(f.control);
  ClientReply reply = control_request(
      path, {{"cmd", "report"}, {"formats", formats}, {"top", f.top}, {"weight", f.weight}});
  const std::vector<ControlPart>& parts = report_parts(reply, formats);
  if (f.output.empty()) {
    if (formats[0] == "pprof" && ::isatty(1))
      throw FatalError(ExitCode::Usage, "pprof is binary: give -o FILE");
    // Text is for a terminal: what the target named (its comm, symbols,
    // paths) shows its control characters escaped. The other formats are
    // files' bytes, escaped by their own rules, unless they are going to a
    // terminal after all (folded or JSON read on screen).
    write_stdout(formats[0] == "text" || ::isatty(1) ? terminal_safe(parts[0].bytes) : parts[0].bytes);
    return 0;
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string file = f.output;
    if (formats.size() > 1) file += "." + std::string(format_extension(*parse_format(formats[i])));
    write_file_atomic(file, parts[i].bytes);
    std::fprintf(stderr, "leakscope: wrote %s\n", file.c_str());
  }
  return 0;
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
    // "tracing PID n (comm)": the comm is the target's.
    std::fprintf(stdout, "%s\n", terminal_safe(action_message(reply.header)).c_str());
    return 0;
  }
  if (status_->parsed()) {
    ClientReply reply = control_request(find_control_socket(f.control), {{"cmd", "status"}});
    write_stdout(f.json ? status_json_text(reply.header) : terminal_safe(status_text(reply.header)));
    return 0;
  }
  return -1;
}

}  // namespace leakscope
