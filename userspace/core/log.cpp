#include "core/log.h"

#include "core/terminal_text.h"

#include <atomic>
#include <cstdio>
#include <string>

namespace leakscope {

namespace {
std::atomic<LogLevel> g_level{LogLevel::Info};

void emit(std::string_view prefix, std::string_view message) {
  // A message may carry what a target named (a process's comm, a path).
  std::string line = "leakscope: ";
  line += prefix;
  line += terminal_safe(message);
  if (line.empty() || line.back() != '\n') line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
}
}  // namespace

void set_log_level(LogLevel level) { g_level = level; }
LogLevel log_level() { return g_level; }

void log_info(std::string_view m) {
  if (g_level >= LogLevel::Info) emit("", m);
}
void log_verbose(std::string_view m) {
  if (g_level >= LogLevel::Verbose) emit("", m);
}
void log_debug(std::string_view m) {
  if (g_level >= LogLevel::Debug) emit("debug: ", m);
}
void log_warn(std::string_view m) { emit("warning: ", m); }
void log_error(std::string_view m) { emit("error: ", m); }

}  // namespace leakscope
