#include "core/types.h"

#include <array>
#include <cstdio>

#include "core/alloc_families.h"
#include "leakscope.h"

namespace leakscope {

// Kind mirrors enum ls_kind value by value: ledger rows carry the number.
static_assert(static_cast<uint32_t>(Kind::Heap) == LS_KIND_HEAP);
static_assert(static_cast<uint32_t>(Kind::Mmap) == LS_KIND_MMAP);
static_assert(static_cast<uint32_t>(Kind::Brk) == LS_KIND_BRK);
static_assert(static_cast<uint32_t>(Kind::Timerfd) == LS_KIND_TIMERFD);
static_assert(static_cast<uint32_t>(Kind::Epoll) == LS_KIND_EPOLL);
static_assert(static_cast<uint32_t>(Kind::Rss) == LS_KIND_RSS_USERSPACE);
static_assert(static_cast<uint32_t>(Kind::Fault) == LS_KIND_FAULT);
static_assert(static_cast<uint32_t>(Kind::Js) == LS_KIND_JS_USERSPACE);

namespace {
constexpr std::array<std::string_view, LS_KIND__COUNT> kKindNames = {
    "heap", "mmap", "brk", "timerfd", "epoll", "rss", "fault", "js"};
static_assert(kKindNames.back() != "", "a name for every kind");
}  // namespace

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
  if (fn == LS_FN_OTEL_MEMORY) return "otel_memory:alloc";
  const AllocFunction* f = alloc_function(fn);
  return f ? f->name : "unknown";
}

std::string origin_name(Kind kind, uint32_t fn) {
  switch (kind) {
    case Kind::Heap: return std::string(alloc_fn_name(fn));
    case Kind::Mmap:
      return fn == static_cast<uint32_t>(MmapBacking::File) ? "mmap (file)" : "mmap (anonymous)";
    case Kind::Brk: return "brk";
    case Kind::Timerfd: return "timerfd_create";
    case Kind::Epoll: return "epoll_ctl ADD";
    case Kind::Rss: return "process memory";
    case Kind::Fault: return "page fault (first touch)";
    case Kind::Js: return "JS objects (sampled)";
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
