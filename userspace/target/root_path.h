// Opening a file as a (containerised) process sees it: resolved inside the
// process's root, /proc/PID/root, so that neither an absolute symlink nor
// ".." planted in a container can lead leakscope to a file of the host.
#pragma once

#include <sys/types.h>

#include <string>

#include "core/unique_fd.h"

namespace leakscope {

// Opens `path` (absolute, as seen inside `root`) read-only with every step
// resolved beneath `root`: symlinks are followed as if `root` were "/",
// magic links (/proc/.../fd/N) are refused. `extra_flags` are added to
// O_RDONLY | O_CLOEXEC (e.g. O_NONBLOCK | O_NOFOLLOW). Invalid fd on failure,
// errno set.
UniqueFd open_in_root(const std::string& root, const std::string& path, int extra_flags = 0);

// A path that names the file `path` of process `pid`, resolved inside its
// root: /proc/self/fd/N of a descriptor kept open here (the last 64 are
// kept). Empty when it cannot be opened.
std::string pinned_path_in_root(pid_t pid, const std::string& path);

}  // namespace leakscope
