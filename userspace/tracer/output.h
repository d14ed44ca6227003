// Writing reports out: atomically, never through a symlink.
#pragma once

#include <string>

namespace leakscope {

// Writes `content` to `path` via a temporary file in the same directory and
// rename(2), so readers never see half a report. Throws FatalError on failure.
void write_file_atomic(const std::string& path, const std::string& content);

std::string now_rfc3339();
std::string host_name();

}  // namespace leakscope
