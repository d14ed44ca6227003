#include "target/node_process.h"
#include "target/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <functional>

#include "core/unique_fd.h"

namespace leakscope {

namespace {

// Bounds on what is read from /proc: small files whole, big ones line by line.
constexpr size_t kMaxSmallFile = 1 << 20;       // cmdline, environ, status
constexpr size_t kMaxStreamedFile = 256 << 20;  // maps, net/tcp: read as lines, never held
constexpr size_t kMaxLine = 4096;               // longer lines are skipped
constexpr size_t kMaxFds = 1 << 20;             // fd links looked at

std::string proc_path(pid_t pid, std::string_view name) {
  return "/proc/" + std::to_string(pid) + "/" + std::string(name);
}

// At most `limit` bytes of a file; nullopt when it cannot be opened or read.
std::optional<std::string> read_bounded(const std::string& path, size_t limit) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return std::nullopt;
  std::string out;
  char buf[4096];
  while (out.size() < limit) {
    ssize_t n = ::read(fd.get(), buf, std::min(sizeof buf, limit - out.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// Calls on_line for each line of a file (without '\n'), up to
// kMaxStreamedFile bytes; lines longer than kMaxLine are skipped. on_line
// returns false to stop. False when the file cannot be opened or read.
bool for_each_line(const std::string& path, const std::function<bool(std::string_view)>& on_line) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return false;
  std::string line;
  bool overlong = false;
  size_t total = 0;
  char buf[16384];
  while (total < kMaxStreamedFile) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) break;
    total += static_cast<size_t>(n);
    std::string_view chunk(buf, static_cast<size_t>(n));
    while (!chunk.empty()) {
      size_t nl = chunk.find('\n');
      std::string_view piece = chunk.substr(0, nl);
      if (!overlong) {
        if (line.size() + piece.size() > kMaxLine) {
          overlong = true;
          line.clear();
        } else {
          line.append(piece);
        }
      }
      if (nl == std::string_view::npos) break;
      if (!overlong && !on_line(line)) return true;
      line.clear();
      overlong = false;
      chunk.remove_prefix(nl + 1);
    }
  }
  if (!overlong && !line.empty()) on_line(line);
  return true;
}

template <typename T>
bool parse_number(std::string_view text, T* value, int base = 10) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *value, base);
  return ec == std::errc() && end == text.data() + text.size();
}

std::string_view basename_of(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// Node options that take their value as the next argument; the value is
// skipped so that it is not taken for the script.
bool takes_separate_value(std::string_view option) {
  static constexpr std::string_view kWithValue[] = {
      "-e", "--eval", "-p", "--print", "-r", "--require", "--import", "--loader",
      "--experimental-loader", "--input-type", "--title", "-C", "--conditions",
      "--stack-trace-limit", "--max-http-header-size", "--redirect-warnings",
      "--unhandled-rejections", "--diagnostic-dir", "--report-dir", "--env-file",
      "--openssl-config", "--icu-data-dir", "--dns-result-order", "--heapsnapshot-signal",
      "--secure-heap", "--secure-heap-min", "--tls-cipher-list", "--use-largepages"};
  for (std::string_view known : kWithValue) {
    if (option == known) return true;
  }
  return false;
}

void apply_host_port(std::string_view value, InspectorOptions* out) {
  auto parsed = parse_host_port(value);
  if (!parsed) return;
  if (parsed->port) out->port = parsed->port;
  if (parsed->host) out->host = parsed->host;
}

}  // namespace

std::optional<HostPort> parse_host_port(std::string_view text) {
  if (text.empty() || text.size() > 256) return std::nullopt;
  HostPort out;
  uint32_t port = 0;
  auto set_port = [&](std::string_view digits) {
    if (digits.empty() || digits.size() > 5 || !parse_number(digits, &port) || port > 65535)
      return false;
    out.port = static_cast<uint16_t>(port);
    return true;
  };
  if (text.front() == '[') {  // [v6] or [v6]:port
    size_t close = text.find(']');
    if (close == std::string_view::npos || close == 1) return std::nullopt;
    out.host = std::string(text.substr(1, close - 1));
    std::string_view rest = text.substr(close + 1);
    if (rest.empty()) return out;
    if (rest.front() != ':' || !set_port(rest.substr(1))) return std::nullopt;
    return out;
  }
  if (text.find_first_not_of("0123456789") == std::string_view::npos) {
    if (!set_port(text)) return std::nullopt;
    return out;
  }
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    out.host = std::string(text);
    return out;
  }
  if (colon == 0 || !set_port(text.substr(colon + 1))) return std::nullopt;
  out.host = std::string(text.substr(0, colon));
  return out;
}

InspectorOptions parse_inspector_args(const std::vector<std::string>& args) {
  InspectorOptions out;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "--") break;
    if (arg.size() < 2 || arg.front() != '-') break;  // the script: Node's options end here
    size_t eq = arg.find('=');
    std::string_view name = arg.substr(0, eq);
    std::optional<std::string_view> value;
    if (eq != std::string_view::npos) value = arg.substr(eq + 1);
    // Node spells options with '_' or '-' alike.
    std::string normalized(name);
    for (size_t k = 2; k < normalized.size(); ++k) {
      if (normalized[k] == '_') normalized[k] = '-';
    }
    if (normalized == "--disable-sigusr1") {
      out.disable_sigusr1 = true;
    } else if (normalized == "--inspect" || normalized == "--inspect-brk" ||
               normalized == "--inspect-wait" || normalized == "--inspect-brk-node") {
      if (value) apply_host_port(*value, &out);
    } else if (normalized == "--inspect-port" || normalized == "--debug-port") {
      if (!value && i + 1 < args.size()) value = args[++i];
      if (value) apply_host_port(*value, &out);
    } else if (!value && takes_separate_value(normalized)) {
      ++i;
    }
  }
  return out;
}

std::vector<std::string> split_node_options(std::string_view text) {
  if (text.size() > kMaxNodeOptionsBytes) text = text.substr(0, kMaxNodeOptionsBytes);
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '\\' && i + 1 < text.size()) {
        word.push_back(text[++i]);
      } else if (c == '"') {
        quoted = false;
      } else {
        word.push_back(c);
      }
    } else if (c == '"') {
      quoted = true;
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      word.push_back(c);
      in_word = true;
    }
  }
  if (quoted) return {};
  if (in_word) words.push_back(std::move(word));
  return words;
}

InspectorOptions parse_inspector_options(const std::vector<std::string>& cmdline,
                                         std::string_view node_options) {
  InspectorOptions env = parse_inspector_args(split_node_options(node_options));
  std::vector<std::string> args;
  if (cmdline.size() > 1) args.assign(cmdline.begin() + 1, cmdline.end());
  InspectorOptions cmd = parse_inspector_args(args);
  InspectorOptions out = env;
  if (cmd.port) out.port = cmd.port;
  if (cmd.host) out.host = cmd.host;
  out.disable_sigusr1 = env.disable_sigusr1 || cmd.disable_sigusr1;
  return out;
}

std::optional<std::string> environ_value(std::string_view environ, std::string_view name) {
  while (!environ.empty()) {
    size_t nul = environ.find('\0');
    std::string_view entry = environ.substr(0, nul);
    if (entry.size() > name.size() && entry.substr(0, name.size()) == name &&
        entry[name.size()] == '=')
      return std::string(entry.substr(name.size() + 1));
    if (nul == std::string_view::npos) break;
    environ.remove_prefix(nul + 1);
  }
  return std::nullopt;
}

std::optional<uint64_t> parse_sigcgt(std::string_view status) {
  constexpr std::string_view kKey = "SigCgt:";
  size_t pos = 0;
  while (pos < status.size()) {
    size_t nl = status.find('\n', pos);
    std::string_view line =
        status.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    if (line.substr(0, kKey.size()) == kKey) {
      std::string_view hex = trim(line.substr(kKey.size()));
      uint64_t mask = 0;
      if (hex.size() > 16 || !parse_number(hex, &mask, 16)) return std::nullopt;
      return mask;
    }
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return std::nullopt;
}

bool mask_has_signal(uint64_t mask, int signal) {
  if (signal < 1 || signal > 64) return false;
  return (mask >> (signal - 1)) & 1;
}

bool is_node_executable_name(std::string_view name) {
  constexpr std::string_view kDeleted = " (deleted)";
  if (name.size() > kDeleted.size() && name.substr(name.size() - kDeleted.size()) == kDeleted)
    name.remove_suffix(kDeleted.size());
  if (name == "node" || name == "nodejs") return true;
  constexpr std::string_view kPrefix = "node-";
  if (name.size() > kPrefix.size() && name.substr(0, kPrefix.size()) == kPrefix) {
    return name.substr(kPrefix.size()).find_first_not_of("0123456789") == std::string_view::npos;
  }
  return false;
}

bool maps_line_is_libnode(std::string_view line) {
  // "start-end perms offset dev inode   /path": the path starts at the first '/'.
  size_t slash = line.find('/');
  if (slash == std::string_view::npos) return false;
  std::string_view name = basename_of(line.substr(slash));
  constexpr std::string_view kLib = "libnode.so";
  return name.substr(0, kLib.size()) == kLib;
}

std::optional<uint64_t> parse_proc_net_tcp_line(std::string_view line, uint16_t port) {
  // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
  std::string_view fields[10];
  size_t count = 0;
  size_t pos = 0;
  while (count < 10) {
    while (pos < line.size() && line[pos] == ' ') ++pos;
    if (pos >= line.size()) break;
    size_t end = line.find(' ', pos);
    if (end == std::string_view::npos) end = line.size();
    fields[count++] = line.substr(pos, end - pos);
    pos = end;
  }
  if (count < 10) return std::nullopt;
  if (fields[3] != "0A") return std::nullopt;  // TCP_LISTEN
  std::string_view local = fields[1];
  size_t colon = local.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view address = local.substr(0, colon);
  if (address.size() != 8 && address.size() != 32) return std::nullopt;
  if (address.find_first_not_of("0123456789abcdefABCDEF") != std::string_view::npos)
    return std::nullopt;
  uint32_t local_port = 0;
  std::string_view port_hex = local.substr(colon + 1);
  if (port_hex.size() != 4 || !parse_number(port_hex, &local_port, 16)) return std::nullopt;
  if (local_port != port) return std::nullopt;
  uint64_t inode = 0;
  if (!parse_number(fields[9], &inode) || inode == 0) return std::nullopt;
  return inode;
}

std::set<uint64_t> parse_proc_net_tcp(std::string_view text, uint16_t port) {
  std::set<uint64_t> inodes;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    if (line.size() <= kMaxLine) {
      if (auto inode = parse_proc_net_tcp_line(line, port)) inodes.insert(*inode);
    }
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return inodes;
}

std::optional<uint64_t> parse_socket_link(std::string_view link) {
  constexpr std::string_view kPrefix = "socket:[";
  if (link.size() <= kPrefix.size() + 1 || link.substr(0, kPrefix.size()) != kPrefix ||
      link.back() != ']')
    return std::nullopt;
  uint64_t inode = 0;
  if (!parse_number(link.substr(kPrefix.size(), link.size() - kPrefix.size() - 1), &inode))
    return std::nullopt;
  return inode;
}

std::optional<NodeProcess> read_node_process(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  NodeProcess node;
  char exe[4096];
  ssize_t n = ::readlink(proc_path(pid, "exe").c_str(), exe, sizeof exe);
  if (n <= 0) return std::nullopt;
  node.exe.assign(exe, static_cast<size_t>(n));
  bool is_node = is_node_executable_name(basename_of(node.exe));
  if (!is_node) {
    bool readable = for_each_line(proc_path(pid, "maps"), [&](std::string_view line) {
      is_node = maps_line_is_libnode(line);
      return !is_node;
    });
    if (!readable || !is_node) return std::nullopt;
  }
  auto cmdline = read_bounded(proc_path(pid, "cmdline"), kMaxSmallFile);
  auto status = read_bounded(proc_path(pid, "status"), kMaxSmallFile);
  if (!cmdline || !status) return std::nullopt;
  // environ may be unreadable (another user without root): no NODE_OPTIONS then.
  std::string node_options;
  if (auto environ = read_bounded(proc_path(pid, "environ"), kMaxSmallFile)) {
    if (auto value = environ_value(*environ, "NODE_OPTIONS")) node_options = std::move(*value);
  }
  InspectorOptions options = parse_inspector_options(split_nul(*cmdline), node_options);
  if (options.port) node.inspector_port = *options.port;
  if (options.host) node.inspector_host = *options.host;
  node.sigusr1_disabled = options.disable_sigusr1;
  if (auto mask = parse_sigcgt(*status)) node.sigusr1_caught = mask_has_signal(*mask, SIGUSR1);
  return node;
}

PortHolder listener_on_port(pid_t pid, uint16_t port) {
  if (pid <= 0) return PortHolder::None;
  std::set<uint64_t> inodes;
  for (const char* file : {"net/tcp", "net/tcp6"}) {
    for_each_line(proc_path(pid, file), [&](std::string_view line) {
      if (auto inode = parse_proc_net_tcp_line(line, port)) inodes.insert(*inode);
      return true;
    });
  }
  if (inodes.empty()) return PortHolder::None;
  std::string fd_dir = proc_path(pid, "fd");
  DIR* dir = ::opendir(fd_dir.c_str());
  if (dir == nullptr) return PortHolder::Other;
  bool held = false;
  size_t seen = 0;
  while (!held && seen++ < kMaxFds) {
    struct dirent* entry = ::readdir(dir);
    if (entry == nullptr) break;
    if (entry->d_name[0] == '.') continue;
    char link[128];
    ssize_t n = ::readlinkat(::dirfd(dir), entry->d_name, link, sizeof link);
    if (n <= 0 || static_cast<size_t>(n) >= sizeof link) continue;
    auto inode = parse_socket_link(std::string_view(link, static_cast<size_t>(n)));
    held = inode && inodes.count(*inode) > 0;
  }
  ::closedir(dir);
  return held ? PortHolder::Target : PortHolder::Other;
}

}  // namespace leakscope
