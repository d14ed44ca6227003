// Writing reports out: atomically (temp file + rename), never through a
// symlink.
#pragma once

#include <string>

namespace leakscope {

// Writes `content` as `name` inside the directory `dirfd`: a temporary file
// created there with O_EXCL|O_NOFOLLOW, then renameat(2) over `name` (which
// replaces a planted symlink itself, never its target). Throws FatalError.
void write_file_at(int dirfd, const std::string& dir_for_messages, const std::string& name,
                   const std::string& content);

// The same for a path: its parent directory is opened first.
void write_file_atomic(const std::string& path, const std::string& content);

std::string now_rfc3339();
std::string host_name();

}  // namespace leakscope
