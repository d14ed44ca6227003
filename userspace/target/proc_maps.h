// Reading /proc/PID/maps.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/types.h"

namespace leakscope {

// Parses the text of a maps file; malformed lines are skipped.
std::vector<MapEntry> parse_maps(std::string_view text);

// The text of /proc/PID/maps; nullopt when the process is gone or
// unreadable, empty for a zombie.
std::optional<std::string> read_maps_text(pid_t pid);

// Reads /proc/PID/maps; nullopt when the process is gone or unreadable.
std::optional<std::vector<MapEntry>> read_maps(pid_t pid);

// A mapped path without the " (deleted)" the kernel appends once the file is
// unlinked.
std::string without_deleted_suffix(std::string_view path);

// Path under which a mapped file of PID can be opened from our mount
// namespace: /proc/PID/map_files/START-END (the exact inode mapped, even if
// deleted or replaced on disk) or else the file at PATH resolved inside the
// process's root (see root_path.h); empty when neither opens.
std::string openable_path(pid_t pid, const MapEntry& entry);

}  // namespace leakscope
