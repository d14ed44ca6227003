// Looking at a target process through /proc: who it is, whether it is still
// the same process, and whether it can be traced at all.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace leakscope {

// PF_KTHREAD in the flags field of /proc/PID/stat.
inline constexpr uint64_t kKernelThreadFlag = 0x00200000;

struct ProcessInfo {
  pid_t pid = 0;
  std::string comm;
  std::vector<std::string> cmdline;  // empty for kernel threads and zombies
  std::string exe;                   // readlink of /proc/PID/exe; empty when unreadable
  uint64_t start_time_ticks = 0;     // field 22 of stat, clock ticks since boot
  bool kernel_thread = false;
  uid_t uid = 0;  // real uid (first value of "Uid:" in /proc/PID/status)
};

// The fields of /proc/PID/stat that leakscope uses.
struct StatFields {
  std::string comm;  // without the parentheses; may hold spaces and ')'
  char state = '?';
  pid_t ppid = 0;
  uint64_t flags = 0;
  uint64_t start_time_ticks = 0;
};

// The NUL-separated fields of /proc/PID/cmdline or environ.
std::vector<std::string> split_nul(std::string_view text);

// Parses the text of /proc/PID/stat; nullopt when it is malformed.
std::optional<StatFields> parse_stat(std::string_view text);
// /proc/PID/stat; nullopt when the process is gone.
std::optional<StatFields> process_stat(pid_t pid);

// The real uid ("Uid:" line, first value) in the text of /proc/PID/status;
// nullopt when absent or malformed.
std::optional<uid_t> parse_status_uid(std::string_view status);

// What a process holds in memory, from /proc/PID/statm.
struct MemoryUsage {
  uint64_t resident_bytes = 0;
  uint64_t anon_bytes = 0;  // resident minus file-backed and shared pages
};
std::optional<MemoryUsage> parse_statm(std::string_view text, uint64_t page_size);
std::optional<MemoryUsage> process_memory(pid_t pid);

// Reads everything about PID. Throws FatalError: NoSuchProcess when it does
// not exist, BadTarget when it is a kernel thread or leakscope itself.
ProcessInfo inspect_process(pid_t pid);

// Tracing a process reads its memory map. Throws FatalError Permission when
// /proc/PID/maps is refused to leakscope (a process that holds privileges
// leakscope does not, or one a security module guards), NoSuchProcess when
// the process is gone or a zombie; returns when the map can be read.
void require_readable_maps(pid_t pid, const std::string& comm);

// Start time of PID; nullopt when it does not exist.
std::optional<uint64_t> process_start_time(pid_t pid);

// True when PID exists, is not a zombie, and started at start_time_ticks
// (a recycled PID has a different start time).
bool process_alive(pid_t pid, uint64_t start_time_ticks);

// /proc/PID/comm without the newline; nullopt when the process is gone.
std::optional<std::string> process_comm(pid_t pid);

}  // namespace leakscope
