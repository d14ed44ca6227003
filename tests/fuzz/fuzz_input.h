// Helpers shared by the fuzz targets: the input as a file (for the readers
// that open a path or an fd) and cut into parts (for targets that feed
// several parsers from one input).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace leakscope::fuzz {

// The bytes in an anonymous in-memory file, open for the life of the object;
// path() names it as /proc/self/fd/N.
class MemFile {
 public:
  MemFile(const uint8_t* data, size_t size) {
    fd_ = ::memfd_create("fuzz-input", MFD_CLOEXEC);
    if (fd_ < 0) std::abort();
    size_t done = 0;
    while (done < size) {
      ssize_t n = ::write(fd_, data + done, size - done);
      if (n <= 0) std::abort();
      done += static_cast<size_t>(n);
    }
  }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  ~MemFile() { ::close(fd_); }

  int fd() const { return fd_; }
  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }

 private:
  int fd_ = -1;
};

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// The next part of `rest` up to `separator` (not included); the whole rest
// when there is none.
inline std::string_view next_part(std::string_view* rest, std::string_view separator) {
  size_t at = rest->find(separator);
  std::string_view part = rest->substr(0, at);
  rest->remove_prefix(at == std::string_view::npos ? rest->size() : at + separator.size());
  return part;
}

}  // namespace leakscope::fuzz
