#include "target/process.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <climits>

#include "core/errors.h"

namespace leakscope {

namespace {

std::string proc_path(pid_t pid, const char* name) {
  return "/proc/" + std::to_string(pid) + "/" + name;
}

// Whole content of a (proc) file; nullopt when it cannot be opened or read.
std::optional<std::string> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

template <typename T>
bool parse_number(std::string_view text, T* value) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::optional<uid_t> parse_status_uid(std::string_view status) {
  size_t pos = 0;
  while (pos < status.size()) {
    size_t nl = status.find('\n', pos);
    std::string_view line =
        status.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    if (line.starts_with("Uid:")) {
      line.remove_prefix(4);
      size_t begin = line.find_first_not_of(" \t");
      if (begin == std::string_view::npos) return std::nullopt;
      line.remove_prefix(begin);
      line = line.substr(0, line.find_first_of(" \t"));
      uid_t uid = 0;
      if (!parse_number(line, &uid)) return std::nullopt;
      return uid;
    }
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return std::nullopt;
}

std::optional<StatFields> process_stat(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  auto text = read_file(proc_path(pid, "stat"));
  if (!text) return std::nullopt;
  return parse_stat(*text);
}

std::optional<MemoryUsage> parse_statm(std::string_view text, uint64_t page_size) {
  // "size resident shared text lib data dt", in pages.
  uint64_t fields[3];
  size_t pos = 0;
  for (uint64_t& f : fields) {
    while (pos < text.size() && text[pos] == ' ') ++pos;
    size_t end = text.find_first_of(" \n", pos);
    if (end == std::string_view::npos) end = text.size();
    if (end == pos || !parse_number(text.substr(pos, end - pos), &f)) return std::nullopt;
    pos = end;
  }
  MemoryUsage m;
  m.resident_bytes = fields[1] * page_size;
  m.anon_bytes = (fields[1] > fields[2] ? fields[1] - fields[2] : 0) * page_size;
  return m;
}

std::optional<MemoryUsage> process_memory(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  auto text = read_file(proc_path(pid, "statm"));
  if (!text) return std::nullopt;
  static const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  return parse_statm(*text, page);
}

std::vector<std::string> split_nul(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    size_t nul = text.find('\0');
    out.emplace_back(text.substr(0, nul));
    if (nul == std::string_view::npos) break;
    text.remove_prefix(nul + 1);
  }
  return out;
}

std::optional<StatFields> parse_stat(std::string_view text) {
  // "PID (COMM) S PPID ..." where COMM is anything up to the LAST ')'.
  size_t open = text.find('(');
  size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open)
    return std::nullopt;
  StatFields out;
  out.comm = std::string(text.substr(open + 1, close - open - 1));

  // Fields after the comm, numbered as in proc(5): the state is field 3.
  std::string_view rest = text.substr(close + 1);
  std::vector<std::string_view> fields;
  while (!rest.empty()) {
    size_t begin = rest.find_first_not_of(" \n");
    if (begin == std::string_view::npos) break;
    rest.remove_prefix(begin);
    size_t end = rest.find_first_of(" \n");
    fields.push_back(rest.substr(0, end));
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end);
  }
  if (fields.size() < 22 - 2) return std::nullopt;
  auto field = [&](int number) { return fields[static_cast<size_t>(number - 3)]; };
  if (field(3).size() != 1) return std::nullopt;
  out.state = field(3)[0];
  if (!parse_number(field(4), &out.ppid)) return std::nullopt;
  if (!parse_number(field(9), &out.flags)) return std::nullopt;
  if (!parse_number(field(22), &out.start_time_ticks)) return std::nullopt;
  return out;
}

ProcessInfo inspect_process(pid_t pid) {
  auto stat = process_stat(pid);
  if (!stat)
    throw FatalError(ExitCode::NoSuchProcess, "no process with PID " + std::to_string(pid));

  ProcessInfo info;
  info.pid = pid;
  info.start_time_ticks = stat->start_time_ticks;
  info.kernel_thread = (stat->flags & kKernelThreadFlag) != 0;
  info.comm = process_comm(pid).value_or(stat->comm);

  if (info.kernel_thread)
    throw FatalError(ExitCode::BadTarget, "PID " + std::to_string(pid) + " is a kernel thread (" +
                                              info.comm + "): it has no user memory to trace");
  if (pid == ::getpid())
    throw FatalError(ExitCode::BadTarget,
                     "PID " + std::to_string(pid) + " is leakscope itself: it cannot trace itself");

  // The process may exit while we read: what is gone stays empty.
  if (auto cmdline = read_file(proc_path(pid, "cmdline"))) info.cmdline = split_nul(*cmdline);
  char exe[PATH_MAX];
  ssize_t n = ::readlink(proc_path(pid, "exe").c_str(), exe, sizeof exe);
  if (n > 0) info.exe.assign(exe, static_cast<size_t>(n));
  if (auto status = read_file(proc_path(pid, "status")))
    info.uid = parse_status_uid(*status).value_or(0);
  return info;
}

void require_readable_maps(pid_t pid, const std::string& comm) {
  const std::string path = proc_path(pid, "maps");
  const std::string who = "PID " + std::to_string(pid) + " (" + comm + ")";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ssize_t n = -1;
  char byte;
  if (fd >= 0) {
    do n = ::read(fd, &byte, 1);
    while (n < 0 && errno == EINTR);
  }
  const int err = n < 0 ? errno : 0;
  if (fd >= 0) ::close(fd);
  if (err == EACCES || err == EPERM)
    throw FatalError(ExitCode::Permission,
                     "permission denied: cannot read " + path + " of " + who +
                         " (it holds privileges leakscope does not, or a security module refuses)");
  if (err == ENOENT || err == ESRCH || n == 0)
    throw FatalError(ExitCode::NoSuchProcess, who + " has exited");
}

std::optional<uint64_t> process_start_time(pid_t pid) {
  auto stat = process_stat(pid);
  if (!stat) return std::nullopt;
  return stat->start_time_ticks;
}

bool process_alive(pid_t pid, uint64_t start_time_ticks) {
  auto stat = process_stat(pid);
  if (!stat) return false;
  if (stat->state == 'Z' || stat->state == 'X') return false;
  return stat->start_time_ticks == start_time_ticks;
}

std::optional<std::string> process_comm(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  auto comm = read_file(proc_path(pid, "comm"));
  if (!comm) return std::nullopt;
  while (!comm->empty() && comm->back() == '\n') comm->pop_back();
  return comm;
}

}  // namespace leakscope
