// Human-readable numbers for terminal output.
#pragma once

#include <cstdint>
#include <string>

namespace leakscope {

std::string format_bytes(double bytes);           // "1.95 MiB", "512 B", "-3.0 KiB"
std::string format_rate(double bytes_per_second);  // "+195.3 KiB/s"
std::string format_duration(double seconds);       // "830 ms", "1.25 s"
std::string basename_of(const std::string& path);

}  // namespace leakscope
