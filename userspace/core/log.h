// Leveled logging to stderr. One line per message, prefixed "leakscope: ".
#pragma once

#include <string_view>

namespace leakscope {

enum class LogLevel { Quiet = 0, Info = 1, Verbose = 2, Debug = 3 };

void set_log_level(LogLevel level);
LogLevel log_level();

void log_info(std::string_view message);     // shown unless --quiet
void log_verbose(std::string_view message);  // shown with -v
void log_debug(std::string_view message);    // shown with -vv
void log_warn(std::string_view message);     // always shown
void log_error(std::string_view message);    // always shown

}  // namespace leakscope
