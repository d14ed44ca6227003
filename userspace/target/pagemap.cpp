#include "target/pagemap.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "core/unique_fd.h"

namespace leakscope {

namespace {
constexpr uint64_t kPresent = 1ull << 63;
constexpr uint64_t kSwapped = 1ull << 62;
constexpr size_t kMaxRun = 4096;  // entries read at once (32 KiB)
}  // namespace

std::optional<std::vector<bool>> pages_resident_fd(int fd, std::span<const uint64_t> pages,
                                                   uint64_t page_size) {
  std::vector<bool> out(pages.size(), false);
  std::vector<uint64_t> entries;
  size_t i = 0;
  while (i < pages.size()) {
    // The run of pages [i, j) whose entries lie within kMaxRun of the first.
    const uint64_t first = pages[i] / page_size;
    size_t j = i + 1;
    while (j < pages.size() && pages[j] / page_size - first < kMaxRun) ++j;
    const uint64_t count = pages[j - 1] / page_size - first + 1;
    entries.assign(count, 0);
    const ssize_t want = static_cast<ssize_t>(count * sizeof(uint64_t));
    const ssize_t got = ::pread(fd, entries.data(), static_cast<size_t>(want),
                                static_cast<off_t>(first * sizeof(uint64_t)));
    if (got < 0) return std::nullopt;
    for (size_t k = i; k < j; ++k) {
      const uint64_t idx = pages[k] / page_size - first;
      if ((idx + 1) * sizeof(uint64_t) <= static_cast<uint64_t>(got))
        out[k] = (entries[idx] & (kPresent | kSwapped)) != 0;
    }
    i = j;
  }
  return out;
}

std::optional<std::vector<bool>> pages_resident(pid_t pid, std::span<const uint64_t> pages,
                                                uint64_t page_size) {
  const std::string path = "/proc/" + std::to_string(pid) + "/pagemap";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return std::nullopt;
  return pages_resident_fd(fd.get(), pages, page_size);
}

}  // namespace leakscope
