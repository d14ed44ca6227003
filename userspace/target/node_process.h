// Facts about a Node.js process read from /proc: is it Node, where would its
// inspector listen, would SIGUSR1 open the inspector, and who listens on a
// port in its network namespace.
//
// Everything read here comes from the target and is untrusted: every parser
// is a pure function on strings, bounded, and never throws on garbage.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace leakscope {

struct NodeProcess {
  std::string exe;                 // /proc/PID/exe target
  uint16_t inspector_port = 9229;  // 0 means "random port" (--inspect-port=0)
  std::string inspector_host = "127.0.0.1";
  bool sigusr1_disabled = false;  // --disable-sigusr1 in cmdline or NODE_OPTIONS
  bool sigusr1_caught = false;    // SigCgt of /proc/PID/status has SIGUSR1's bit
};

// A Node.js process: its executable's basename is node or nodejs (or
// node-<digits>), or it maps a libnode.so*. nullopt otherwise (including an
// unreadable or gone process).
std::optional<NodeProcess> read_node_process(pid_t pid);

enum class PortHolder { None, Target, Other };

// Who listens on TCP `port` in PID's network namespace: a LISTEN socket on
// that port in /proc/PID/net/tcp or tcp6 (they show PID's namespace), held by
// PID itself when one of its /proc/PID/fd links is "socket:[INODE]" of such a
// socket. None as well when PID is gone. Bounded reads.
PortHolder listener_on_port(pid_t pid, uint16_t port);

// ---- Pure parsers (exposed for tests) ----

// What the inspector options of one argument list say; unset = not given.
struct InspectorOptions {
  std::optional<uint16_t> port;
  std::optional<std::string> host;
  bool disable_sigusr1 = false;
};

// Node's options in an argument list: `args` is either a cmdline without
// argv[0] or the words of NODE_OPTIONS. Stops at the first argument that is
// not an option (the script) or at "--". Forms: --inspect[=[host:]port],
// --inspect-brk[=...], --inspect-wait[=...], --inspect-port=[host:]port,
// --inspect-port [host:]port, --debug-port (its alias), --disable-sigusr1.
// The last occurrence wins. Values Node would refuse (a port over 65535,
// not a number) are ignored.
InspectorOptions parse_inspector_args(const std::vector<std::string>& args);

// NODE_OPTIONS split into words the way Node does: separated by spaces,
// double quotes group, a backslash inside quotes escapes the next character.
// An unterminated quote yields nothing (Node refuses to start). At most
// kMaxNodeOptionsBytes are looked at.
inline constexpr size_t kMaxNodeOptionsBytes = 64 * 1024;
std::vector<std::string> split_node_options(std::string_view node_options);

// NODE_OPTIONS first, then the cmdline (argv[0] included, it is skipped): the
// cmdline wins, as in Node.
InspectorOptions parse_inspector_options(const std::vector<std::string>& cmdline,
                                         std::string_view node_options);

// "host:port", "port", "host", "[v6]:port" -> the parts present; nullopt
// when a port is there but not valid.
struct HostPort {
  std::optional<std::string> host;
  std::optional<uint16_t> port;
};
std::optional<HostPort> parse_host_port(std::string_view text);

// The value of NAME=... in the text of /proc/PID/environ (NUL separated).
std::optional<std::string> environ_value(std::string_view environ, std::string_view name);

// The SigCgt mask of the text of /proc/PID/status; nullopt when absent or bad.
std::optional<uint64_t> parse_sigcgt(std::string_view status);
// Whether a signal mask (bit N-1 for signal N) holds `signal`.
bool mask_has_signal(uint64_t mask, int signal);

// True for node, nodejs, node-<digits> (and the same with " (deleted)").
bool is_node_executable_name(std::string_view basename);
// True when a line of /proc/PID/maps maps a file named libnode.so*.
bool maps_line_is_libnode(std::string_view line);

// The inode of a LISTEN socket on `port` in one line of /proc/net/tcp or
// tcp6; nullopt for the header, another state or port, or garbage.
std::optional<uint64_t> parse_proc_net_tcp_line(std::string_view line, uint16_t port);
// All the LISTEN inodes on `port` in the text of /proc/net/tcp or tcp6.
std::set<uint64_t> parse_proc_net_tcp(std::string_view text, uint16_t port);
// INODE of a "socket:[INODE]" link target.
std::optional<uint64_t> parse_socket_link(std::string_view link);

}  // namespace leakscope
