// What the e2e tests drive: fixture programs (with their ready/go/expect/done
// protocol) and the leakscope binary itself, run as a user would run it.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace e2e {

// "leaky" -> .../fixture_leaky; an absolute path is taken as it is (a
// program of the system that speaks the fixture protocol).
std::string fixture_path(const std::string& name);
std::string leakscope_path();

struct Expect {
  long long bytes = 0;
  long long objects = 0;
  long long armed = -1;  // timerfd: armed timers, -1 when not given
};

// A fixture started with pipes on stdin/stdout.
class Fixture {
 public:
  explicit Fixture(const std::string& name, std::vector<std::string> args = {});
  ~Fixture();
  Fixture(const Fixture&) = delete;
  Fixture& operator=(const Fixture&) = delete;

  pid_t pid() const { return pid_; }
  void go();  // sends the go line
  void send(const std::string& line);
  // Reads until "done"; returns the expect lines by function name.
  std::map<std::string, Expect> wait_done(double timeout_s = 30);
  // Every line read so far that is not an expect line ("worker 1 4242"...).
  const std::vector<std::string>& lines() const { return lines_; }
  bool running() const;  // alive and not stopped
  void finish();         // closes stdin and reaps it

 private:
  std::optional<std::string> read_line(double timeout_s);
  pid_t pid_ = -1;
  int in_fd_ = -1, out_fd_ = -1;
  std::string buffer_;
  std::vector<std::string> lines_;
};

// Every BPF program leakscope loads, by the name in bpf/*.bpf.c (the kernel
// keeps the first 15 characters).
const std::vector<std::string>& our_bpf_program_names();

// IDs of the loaded BPF programs named like ours and of the links to them.
struct BpfIds {
  std::set<unsigned> progs, links;
};
BpfIds our_bpf_ids();
// IDs of the BPF programs and links `pid` has descriptors on.
BpfIds bpf_ids_held_by(pid_t pid);

// leakscope run in the background; stdout and stderr go to files.
class Leakscope {
 public:
  explicit Leakscope(std::vector<std::string> args, bool as_nobody = false);
  ~Leakscope();
  Leakscope(const Leakscope&) = delete;
  Leakscope& operator=(const Leakscope&) = delete;

  // Waits for the "tracing" line on stderr; false if it exited first.
  bool wait_tracing(double timeout_s = 30);
  pid_t pid() const { return pid_; }
  int stop(double timeout_s = 60);  // SIGINT, then wait; returns exit code
  int wait(double timeout_s = 60);  // wait for it to exit on its own
  std::string out() const;
  std::string err() const;
  nlohmann::json json() const;  // parses the --json file
  const std::string& json_path() const { return json_path_; }

  // After this leakscope has exited: the BPF programs (`bpftool prog show`)
  // and links (`bpftool link show`) with our program names that appeared
  // since it started and are still in the kernel, as "prog NAME id N held
  // by ..." lines. Objects held by another running leakscope (a concurrent
  // test) are not ours; anything else is: held by no process (pinned), or
  // by any other process (an inherited descriptor). Waits up to `timeout_s`
  // for the kernel's deferred release. Empty means clean.
  std::vector<std::string> leftover_bpf_objects(double timeout_s = 5) const;

 private:
  pid_t pid_ = -1;
  std::string dir_, json_path_;
  int status_ = -1;
  BpfIds before_;  // ours-named objects already there when it started
};

// Parses the JSON file at `path` and deletes it; null when there is none.
nlohmann::json take_json(const std::string& path);

// Runs leakscope to completion with a time limit; returns {exit code, stderr}.
std::pair<int, std::string> run_leakscope(const std::vector<std::string>& args,
                                          bool as_nobody = false, double timeout_s = 60);

// The frames of a JSON report that are no code of their process, as
// "stack #RANK frame #I: FUNCTION in MODULE" lines: module "[unknown]",
// "[stack...]", "[heap]", "[anon...]", "[vvar...]" or any other bracketed
// name but "[jit]" and "[vdso]", or a file whose module_offset lies in no
// executable segment (not an ELF object, or its data); for kind js, a frame
// that is not a named V8 frame (module "[js]"). Bytes read off a
// stack and printed as return addresses; there must be none (issue 12).
std::vector<std::string> garbage_frames(const nlohmann::json& report);
// A test failure (not fatal) for each garbage frame of `report`, once per
// report. take_json, Leakscope::json and find_stack call it, so that every
// report a test reads is checked.
void expect_no_garbage_frames(const nlohmann::json& report);

// The stack whose leak site (first frame) is `function`, or null; with a
// kind, only stacks of that kind.
const nlohmann::json* find_stack(const nlohmann::json& report, const std::string& function,
                                 pid_t pid = 0, const std::string& kind = "");

// Whether the frames of `stack` (a JSON report's stack) are the call chain
// `chain`, the leak site first: frame #0 is chain[0], frame #1 chain[1], and
// so on, each frame the caller of the one before; frames below the chain's
// last (the C library's start code) are not looked at. A frame is named by
// its function: the same name, or that name with a compiler's suffix (GCC's
// "run_mod.lto_priv.0", "foo.part.0"). On failure the message lists the
// frames the report has, function and module.
::testing::AssertionResult has_chain(const nlohmann::json& stack,
                                     const std::vector<std::string>& chain);

// The frames of a stack as "f <- g <- h", as the text report writes them.
std::string chain_text(const nlohmann::json& stack);

}  // namespace e2e
