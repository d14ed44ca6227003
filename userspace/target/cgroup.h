// Which cgroup (and container, when there is one) a process runs in.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

namespace leakscope {

// The cgroup v2 path from the text of /proc/PID/cgroup ("0::/a/b"); for a
// v1-only system, the path of the memory (or first) hierarchy.
std::string parse_cgroup_path(std::string_view proc_cgroup_text);

// A container id found in a cgroup path: the 64-hex-digit id of docker,
// containerd, cri-o and podman scopes ("docker-<id>.scope", "/docker/<id>",
// "cri-containerd-<id>.scope", "libpod-<id>.scope"); "" when none.
std::string container_id_from_cgroup(std::string_view cgroup_path);

// Reads /proc/PID/cgroup; "" when unreadable.
std::string process_cgroup(pid_t pid);

}  // namespace leakscope
