// Error policy (see README "Exit codes"):
//  - what can be recovered is returned as a value (std::optional / Result);
//  - a fatal user error is thrown as FatalError, caught only in main, and
//    printed as one line; its code is the process exit code.
#pragma once

#include <stdexcept>
#include <string>

namespace leakscope {

enum class ExitCode : int {
  Ok = 0,
  Failure = 1,            // an unexpected runtime failure
  Usage = 2,              // bad flags or arguments
  NoSuchProcess = 3,      // a PID that does not exist (or exited before attach)
  Permission = 4,         // not root / missing CAP_BPF, CAP_PERFMON
  KernelUnsupported = 5,  // no BTF, BPF load refused, probe type missing
  NoAllocator = 6,        // target maps no allocator we can probe
  BadTarget = 7,          // a kernel thread, ourselves, a command that cannot start
  NotRunning = 8,         // report/attach/detach/status: no tracer to talk to
  JsRefused = 9,          // kind js: a process whose JS heap cannot be sampled (not Node, no safe SIGUSR1, port taken, too old)
};

class FatalError : public std::runtime_error {
 public:
  FatalError(ExitCode code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

}  // namespace leakscope
