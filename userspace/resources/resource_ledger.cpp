// The syscall-kind ledger. Byte kinds (mmap, brk) live in a RegionMap per
// process, descriptor kinds (timerfd, epoll) in an FdTable per process; both
// update the rows, which never go away.
//
// Choices worth knowing (the tests pin them down):
// - A region's pieces are live objects of its row; `frees` counts a region
//   once its last piece is released (a split alone frees nothing).
// - mremap releases the old range (unless MREMAP_DONTUNMAP) and counts the
//   result as a new region of the mremap call's stack, with the backing of
//   the region that was at the old address. A grow in place therefore moves
//   the whole region, old bytes included, to the mremap caller's row.
// - mremap, mmap and a brk grow release whatever they land on first.
// - A brk region is one grow's worth of bytes; the first BRK event of a
//   process (and the first after an exec) only sets the baseline break.
// - A syscall that returns a new descriptor number proves that number was
//   free: a stale mapping of it is dropped as if closed. dup2/dup3 from an
//   unknown descriptor closes the target number (it was replaced) but maps
//   nothing.
// - Lifecycle is not a syscall event: image_execd() and process_exited()
//   say what exec and exit do. A fork needs nothing: the child's inherited
//   regions and descriptors were allocated by the parent and are not
//   counted twice; unknown descriptors of the child get placeholders when
//   epoll_ctl names them.
#include "resources/resource_ledger.h"

#include <cstdint>
#include <iterator>
#include <limits>
#include <optional>
#include <tuple>
#include <unordered_map>

#include "leakscope.h"
#include "resources/fd_table.h"
#include "resources/region_map.h"

namespace leakscope {

namespace {

// Linux values, spelled out so the ledger stays independent of libc headers.
constexpr uint64_t kMapAnonymous = 0x20;
constexpr uint64_t kMremapDontunmap = 4;
constexpr uint64_t kOCloexec = 02000000;  // also TFD_CLOEXEC and EPOLL_CLOEXEC
constexpr uint64_t kCloseRangeCloexec = 1u << 2;
constexpr uint64_t kFdCloexec = 1;
constexpr uint64_t kFDupfd = 0;
constexpr uint64_t kFSetfd = 2;
constexpr uint64_t kFDupfdCloexec = 1030;

using RowKey = std::tuple<uint32_t, uint32_t, int32_t, uint32_t>;  // image, kind, stack, sub

static_assert(sizeof(SysEvent::args) == sizeof(ls_sys_event::args), "every argument is kept");

uint32_t as_fd(uint64_t v) { return static_cast<uint32_t>(v); }

// A syscall's return value is an error when in [-4095, -1]; such events are
// not sent, but a stray one must not become a region or a descriptor.
bool is_error(int64_t ret) { return ret < 0 && ret >= -4095; }

uint64_t add_clamped(uint64_t a, uint64_t b) {
  return a > std::numeric_limits<uint64_t>::max() - b ? std::numeric_limits<uint64_t>::max()
                                                      : a + b;
}

}  // namespace

struct ResourceLedger::State {
  struct Process {
    RegionMap regions;
    FdTable fds;
    std::optional<uint64_t> brk;  // current break, once a BRK set the baseline
  };

  uint64_t page;
  std::map<RowKey, ResourceRow> rows;  // node-based: pointers stay valid
  std::unordered_map<uint32_t, Process> procs;  // by image

  explicit State(uint64_t page_size) : page(page_size == 0 ? 4096 : page_size) {}

  uint64_t round_up(uint64_t len) const {
    const uint64_t r = len % page;
    return r == 0 ? len : add_clamped(len, page - r);
  }

  ResourceRow* row(const SysEvent& e, Kind kind, uint32_t sub) {
    RowKey key{e.trace_id, static_cast<uint32_t>(kind), e.stack_id, sub};
    auto [it, inserted] = rows.try_emplace(key);
    if (inserted) {
      ResourceRow& r = it->second;
      r.trace_id = e.trace_id;
      r.kind = kind;
      r.stack_id = e.stack_id;
      r.sub = sub;
      r.first_ns = e.ts_ns;
    }
    return &it->second;
  }

  void apply(const SysEvent& e);
  void execd(uint32_t old, uint32_t next);
  void exited(uint32_t trace_id);
};

void ResourceLedger::State::exited(uint32_t trace_id) {
  auto it = procs.find(trace_id);
  if (it == procs.end()) return;
  it->second.regions.clear();
  it->second.fds.clear();
  procs.erase(it);
}

void ResourceLedger::State::execd(uint32_t old, uint32_t next) {
  // The new image starts with the descriptors that survive exec; what they
  // hold stays on the old image's rows. Its address space is new: no
  // regions, no break yet.
  Process& p = procs[old];
  p.fds.exec();
  p.regions.clear();
  p.brk.reset();
  if (next == 0 || next == old) return;  // 0 is no image: keep the id
  Process moved = std::move(p);
  procs.erase(old);
  procs[next] = std::move(moved);
}

void ResourceLedger::State::apply(const SysEvent& e) {
  Process& p = procs[e.trace_id];
  const uint64_t* a = e.args;

  switch (e.op) {
    case LS_SYS_MMAP: {
      if (is_error(e.ret)) return;
      const uint64_t start = static_cast<uint64_t>(e.ret);
      const auto sub = (a[3] & kMapAnonymous) ? MmapBacking::Anonymous : MmapBacking::File;
      p.regions.add(start, add_clamped(start, round_up(a[1])),
                    row(e, Kind::Mmap, static_cast<uint32_t>(sub)));
      return;
    }
    case LS_SYS_MUNMAP:
      p.regions.release(a[0], add_clamped(a[0], round_up(a[1])));
      return;
    case LS_SYS_MREMAP: {
      if (is_error(e.ret)) return;
      const ResourceRow* old_row = p.regions.row_at(a[0]);
      const uint32_t sub = old_row ? old_row->sub : static_cast<uint32_t>(MmapBacking::Anonymous);
      if ((a[3] & kMremapDontunmap) == 0)
        p.regions.release(a[0], add_clamped(a[0], round_up(a[1])));
      const uint64_t start = static_cast<uint64_t>(e.ret);
      p.regions.add(start, add_clamped(start, round_up(a[2])), row(e, Kind::Mmap, sub));
      return;
    }
    case LS_SYS_BRK: {
      if (is_error(e.ret)) return;
      const uint64_t brk = static_cast<uint64_t>(e.ret);
      if (p.brk && brk > *p.brk)
        p.regions.add(*p.brk, brk,
                      row(e, Kind::Brk, static_cast<uint32_t>(MmapBacking::Anonymous)));
      else if (p.brk && brk < *p.brk)
        p.regions.release(brk, *p.brk);
      p.brk = brk;
      return;
    }
    case LS_SYS_TIMERFD_CREATE:
      if (is_error(e.ret)) return;
      p.fds.create_timer(as_fd(e.ret), (a[1] & kOCloexec) != 0, row(e, Kind::Timerfd, 0));
      return;
    case LS_SYS_TIMERFD_SETTIME:
      p.fds.set_armed(as_fd(a[0]), a[2] != 0);
      return;
    case LS_SYS_EPOLL_CREATE:
      if (is_error(e.ret)) return;
      p.fds.create_epoll(as_fd(e.ret), (a[0] & kOCloexec) != 0);
      return;
    case LS_SYS_EPOLL_CTL:
      p.fds.epoll_ctl(as_fd(a[0]), static_cast<uint32_t>(a[1]), as_fd(a[2]),
                      [&] { return row(e, Kind::Epoll, 0); });
      return;
    case LS_SYS_CLOSE:
      p.fds.close(as_fd(a[0]));
      return;
    case LS_SYS_CLOSE_RANGE: {
      const uint32_t first = a[0] > UINT32_MAX ? UINT32_MAX : as_fd(a[0]);
      const uint32_t last = a[1] > UINT32_MAX ? UINT32_MAX : as_fd(a[1]);
      if (a[2] & kCloseRangeCloexec)
        p.fds.set_cloexec_range(first, last);
      else
        p.fds.close_range(first, last);
      return;
    }
    case LS_SYS_DUP:
      if (is_error(e.ret)) return;
      p.fds.dup(as_fd(a[0]), as_fd(e.ret), false);
      return;
    case LS_SYS_DUP2:
      if (is_error(e.ret)) return;
      p.fds.dup(as_fd(a[0]), as_fd(e.ret), (a[2] & kOCloexec) != 0);
      return;
    case LS_SYS_FCNTL:
      if (a[1] == kFDupfd || a[1] == kFDupfdCloexec) {
        if (is_error(e.ret)) return;
        p.fds.dup(as_fd(a[0]), as_fd(e.ret), a[1] == kFDupfdCloexec);
      } else if (a[1] == kFSetfd) {
        p.fds.set_cloexec(as_fd(a[0]), (a[2] & kFdCloexec) != 0);
      }
      return;
    default:
      return;
  }
}

ResourceLedger::ResourceLedger(uint64_t page_size) : state_(std::make_unique<State>(page_size)) {}

ResourceLedger::~ResourceLedger() = default;

void ResourceLedger::apply(const SysEvent& event) { state_->apply(event); }

void ResourceLedger::image_execd(uint32_t old, uint32_t next) { state_->execd(old, next); }

void ResourceLedger::process_exited(uint32_t trace_id) { state_->exited(trace_id); }

void ResourceLedger::forget(uint32_t trace_id) {
  process_exited(trace_id);
  auto& rows = state_->rows;
  auto it = rows.lower_bound(RowKey{trace_id, 0, std::numeric_limits<int32_t>::min(), 0});
  // A row still holding objects is kept: descriptors that survived an
  // exec live on in the next image and point at it.
  while (it != rows.end() && std::get<0>(it->first) == trace_id)
    it = it->second.live_objects > 0 ? std::next(it) : rows.erase(it);
}

std::vector<ResourceRow> ResourceLedger::rows() const {
  std::vector<ResourceRow> out;
  out.reserve(state_->rows.size());
  for (const auto& [key, row] : state_->rows) out.push_back(row);
  return out;
}

int64_t ResourceLedger::live_objects(uint32_t trace_id, Kind kind) const {
  int64_t n = 0;
  const auto k = static_cast<uint32_t>(kind);
  for (auto it = state_->rows.lower_bound(RowKey{trace_id, k, std::numeric_limits<int32_t>::min(), 0});
       it != state_->rows.end() && std::get<0>(it->first) == trace_id && std::get<1>(it->first) == k;
       ++it)
    n += it->second.live_objects;
  return n;
}

int64_t ResourceLedger::live_bytes(uint32_t trace_id, Kind kind) const {
  int64_t n = 0;
  const auto k = static_cast<uint32_t>(kind);
  for (auto it = state_->rows.lower_bound(RowKey{trace_id, k, std::numeric_limits<int32_t>::min(), 0});
       it != state_->rows.end() && std::get<0>(it->first) == trace_id && std::get<1>(it->first) == k;
       ++it)
    n += it->second.live_bytes;
  return n;
}

}  // namespace leakscope
