// Which pages of a process are still there, from /proc/PID/pagemap: present
// in memory or swapped out. Used by kind fault to learn that memory a stack
// touched has gone back to the kernel (munmap, madvise, a trimmed heap)
// without probing those calls.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace leakscope {

// For each page address in `pages` (page-aligned, sorted ascending), whether
// the process still has it (present or swapped). nullopt when the pagemap
// cannot be read (the process is gone). Runs of neighbouring pages are read
// with one pread each.
std::optional<std::vector<bool>> pages_resident(pid_t pid, std::span<const uint64_t> pages,
                                                uint64_t page_size = 4096);

// The same over an open pagemap file (for tests: any file laid out like one).
std::optional<std::vector<bool>> pages_resident_fd(int fd, std::span<const uint64_t> pages,
                                                   uint64_t page_size);

}  // namespace leakscope
