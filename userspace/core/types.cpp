#include "core/types.h"

#include <array>
#include <cstdio>

namespace leakscope {

namespace {
constexpr std::array<std::string_view, 7> kKindNames = {"heap",  "mmap", "brk",  "timerfd",
                                                        "epoll", "rss",  "fault"};
}

std::string_view kind_name(Kind kind) {
  auto i = static_cast<size_t>(kind);
  return i < kKindNames.size() ? kKindNames[i] : "unknown";
}

std::optional<Kind> parse_kind(std::string_view name) {
  // Every kind but rss, which --all samples from /proc, is one --kinds names.
  for (size_t i = 0; i < kKindNames.size(); ++i)
    if (kKindNames[i] == name && static_cast<Kind>(i) != Kind::Rss) return static_cast<Kind>(i);
  return std::nullopt;
}

std::string_view alloc_fn_name(uint32_t fn) {
  static constexpr std::array<std::string_view, 10> kNames = {
      "malloc",   "calloc", "realloc", "reallocarray", "posix_memalign",
      "aligned_alloc", "memalign", "valloc", "pvalloc", "operator new"};
  return fn < kNames.size() ? kNames[fn] : "unknown";
}

std::string origin_name(Kind kind, uint32_t fn) {
  switch (kind) {
    case Kind::Heap: return std::string(alloc_fn_name(fn));
    case Kind::Mmap: return fn == 1 ? "mmap (file)" : "mmap (anonymous)";
    case Kind::Brk: return "brk";
    case Kind::Timerfd: return "timerfd_create";
    case Kind::Epoll: return "epoll_ctl ADD";
    case Kind::Rss: return "process memory";
    case Kind::Fault: return "page fault (first touch)";
  }
  return "unknown";
}

bool counts_objects(Kind kind) { return kind == Kind::Timerfd || kind == Kind::Epoll; }

std::string Frame::display_name() const {
  if (!function.empty()) return function;
  char buf[32];
  std::snprintf(buf, sizeof buf, "+0x%llx", static_cast<unsigned long long>(module_offset));
  return (module.empty() ? std::string("[unknown]") : module) + buf;
}

}  // namespace leakscope
