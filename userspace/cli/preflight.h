// Checks made before tracing starts: what a flag names must be usable now,
// so that a trace of an hour does not end in "cannot write the report", and
// a target that cannot be traced is refused before any BPF is loaded. Each
// check throws FatalError with the exit code of README "Exit codes".
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "core/capabilities.h"

namespace leakscope {

// The capabilities `needs` asks for are in the effective set, else
// Permission naming each one missing and what it is for (README
// "Capabilities").
void check_capabilities(const PrivilegeNeeds& needs);

// Whether a PID's /proc entry belongs to another user than ours (its owner
// is the process's effective UID, or root when it is not dumpable): reading
// its memory map's files and pagemap takes CAP_SYS_PTRACE and
// CAP_DAC_READ_SEARCH then. False for a PID that does not exist.
bool owned_by_another_user(pid_t pid);

// "4242" -> 4242; anything else (empty, signs, junk, 0, past the kernel's
// PID_MAX_LIMIT) is a usage error naming `flag`.
pid_t parse_pid(std::string_view flag, const std::string& text);

// A file leakscope will write atomically (a temporary file renamed over it):
// its directory must exist and be writable, and the path must not be a
// directory or anything but a regular file or a symlink (which is replaced).
void check_output_file(std::string_view flag, const std::string& path);

// --report-dir: an existing directory that is no symlink and is writable, or
// one leakscope can create (its parent exists and is writable).
void check_report_dir(const std::string& dir);

// --control: short enough for a Unix socket address, not something else
// already, in a directory that exists (or whose parent does) and is writable.
void check_control_path(const std::string& path);

// -- CMD: CMD is found (on $PATH when it has no '/') and can be executed;
// BadTarget when not, as when it fails to start.
void check_command(const std::vector<std::string>& command);

// -p: each PID exists, is no kernel thread nor leakscope itself, and its
// memory map can be read (NoSuchProcess, BadTarget, Permission).
void check_pids(const std::vector<pid_t>& pids);

}  // namespace leakscope
