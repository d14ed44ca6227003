#include "cli/preflight.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/errors.h"
#include "target/process.h"

namespace leakscope {

namespace {

constexpr long kPidMaxLimit = 1 << 22;  // the kernel's PID_MAX_LIMIT on 64-bit

[[noreturn]] void usage(std::string_view flag, const std::string& why) {
  throw FatalError(ExitCode::Usage, std::string(flag) + ": " + why);
}

// "a/b/c" -> "a/b", "c" -> ".", "/c" -> "/".
std::string parent_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Empty when `dir` is a directory leakscope can create files in, else why not.
std::string unwritable_dir(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return std::strerror(errno);
  if (!S_ISDIR(st.st_mode)) return "not a directory";
  if (::access(dir.c_str(), W_OK | X_OK) != 0) return std::strerror(errno);
  return {};
}

// A directory leakscope creates (one level, as ReportDir and the control
// server do) when it is not there: empty when it exists and is usable or
// can be made, else why not.
std::string unusable_dir(const std::string& dir, bool symlink_refused) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return std::strerror(errno);
    const std::string parent = parent_of(dir);
    std::string why = unwritable_dir(parent);
    return why.empty() ? why : "cannot create it in " + parent + ": " + why;
  }
  if (S_ISLNK(st.st_mode) && symlink_refused) return "a symlink is not accepted";
  return unwritable_dir(dir);
}

}  // namespace

pid_t parse_pid(std::string_view flag, const std::string& text) {
  long value = 0;
  const bool digits = !text.empty() && text.size() <= 8 &&
                      text.find_first_not_of("0123456789") == std::string::npos;
  if (digits) value = std::strtol(text.c_str(), nullptr, 10);
  if (!digits || value <= 0 || value >= kPidMaxLimit) usage(flag, "'" + text + "' is not a PID");
  return static_cast<pid_t>(value);
}

void check_output_file(std::string_view flag, const std::string& path) {
  if (path.empty()) usage(flag, "the value is empty");
  if (path.back() == '/') usage(flag, path + " is a directory");
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) usage(flag, path + " is a directory");
    if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
      usage(flag, path + " is not a regular file (it is written by renaming a new file over it)");
  }
  const std::string dir = parent_of(path);
  if (std::string why = unwritable_dir(dir); !why.empty())
    usage(flag, "cannot write in " + dir + ": " + why);
}

void check_report_dir(const std::string& dir) {
  if (dir.empty()) usage("--report-dir", "the value is empty");
  std::string trimmed = dir;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  if (std::string why = unusable_dir(trimmed, true); !why.empty())
    usage("--report-dir", dir + ": " + why);
}

void check_control_path(const std::string& path) {
  if (path.empty()) usage("--control", "the value is empty");
  if (path.size() >= sizeof(sockaddr_un{}.sun_path))
    usage("--control", "'" + path + "' is longer than a Unix socket's address (" +
                           std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes)");
  if (path.back() == '/') usage("--control", path + " is a directory");
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode))
    usage("--control", path + " exists and is not a socket");
  const std::string dir = parent_of(path);
  if (std::string why = unusable_dir(dir, false); !why.empty())
    usage("--control", dir + ": " + why);
}

void check_command(const std::vector<std::string>& command) {
  if (command.empty()) return;
  const std::string& name = command.front();
  if (name.empty()) usage("trace", "the command after -- is empty");
  auto refuse = [&name](int err) {
    throw FatalError(ExitCode::BadTarget, "cannot run '" + name + "': " + std::strerror(err));
  };
  // As execvp finds it: a name with a slash as it is, else along $PATH.
  auto runnable = [](const std::string& file) -> int {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) return errno;
    if (!S_ISREG(st.st_mode) || ::access(file.c_str(), X_OK) != 0) return EACCES;
    return 0;
  };
  if (name.find('/') != std::string::npos) {
    if (int err = runnable(name)) refuse(err);
    return;
  }
  const char* env = std::getenv("PATH");
  const std::string search = env ? env : "/bin:/usr/bin";
  int err = ENOENT;
  size_t start = 0;
  for (;;) {
    const size_t colon = search.find(':', start);
    std::string dir =
        search.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    int e = runnable((dir.empty() ? "." : dir) + "/" + name);
    if (e == 0) return;
    if (e == EACCES) err = EACCES;  // execvp reports EACCES when a candidate was refused
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  refuse(err);
}

void check_capabilities(const PrivilegeNeeds& needs) {
  const auto missing = missing_capabilities(needs, effective_capabilities());
  if (missing.empty()) return;
  std::string what;
  for (size_t i = 0; i < missing.size(); ++i) {
    if (i) what += i + 1 == missing.size() ? " and " : ", ";
    what += std::string(capability_name(missing[i].cap)) + " (" + missing[i].needed_for + ")";
  }
  throw FatalError(ExitCode::Permission,
                   "permission denied: missing " + what + "; run leakscope as root or grant " +
                       (missing.size() == 1 ? "it" : "them") + " (README \"Capabilities\")");
}

bool owned_by_another_user(pid_t pid) {
  struct stat st {};
  if (::stat(("/proc/" + std::to_string(pid)).c_str(), &st) != 0) return false;
  return st.st_uid != ::geteuid();
}

void check_pids(const std::vector<pid_t>& pids) {
  for (pid_t pid : pids) {
    ProcessInfo info = inspect_process(pid);  // NoSuchProcess, BadTarget
    require_readable_maps(pid, info.comm);    // Permission, NoSuchProcess
  }
}

}  // namespace leakscope
