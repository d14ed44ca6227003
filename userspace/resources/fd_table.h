// One process's descriptor table as the ledger models it: fd -> open file
// (an internal id) with a close-on-exec bit. Files carry what the ledger
// counts: a timerfd's timer, an epoll instance's registrations. A file is
// released when its last descriptor in the process is closed: its timer goes,
// the registrations it holds (as an epoll instance) go, and the registrations
// that watch it go.
#pragma once

#include <cstdint>
#include <functional>
#include <unordered_map>
#include <unordered_set>

#include "resources/resource_ledger.h"

namespace leakscope {

class FdTable {
 public:
  // Gives the row a new registration is counted in; called only when an
  // EPOLL_CTL_ADD really adds one.
  using RowFn = std::function<ResourceRow*()>;

  // A new timer file on `fd`, counted in `row`. A stale mapping of `fd` (the
  // kernel just handed the number out, so it was free) is closed first.
  void create_timer(uint32_t fd, bool cloexec, ResourceRow* row);
  // A new epoll instance on `fd` (not counted itself).
  void create_epoll(uint32_t fd, bool cloexec);
  // timerfd_settime: the timer on `fd` is now armed or disarmed.
  void set_armed(uint32_t fd, bool armed);
  // epoll_ctl(epfd, op, fd). Unknown numbers get placeholder files.
  void epoll_ctl(uint32_t epfd, uint32_t op, uint32_t fd, const RowFn& row_for_add);

  void close(uint32_t fd);
  // Closes every mapped fd in [first, last].
  void close_range(uint32_t first, uint32_t last);
  // Sets close-on-exec on every mapped fd in [first, last].
  void set_cloexec_range(uint32_t first, uint32_t last);
  void set_cloexec(uint32_t fd, bool cloexec);
  // dup, dup2, dup3, F_DUPFD: `newfd` now refers to `oldfd`'s file. Whatever
  // `newfd` mapped is closed first. `newfd == oldfd` changes nothing. When
  // `oldfd` is unknown, `newfd` is only closed (it no longer refers to what it
  // did) and stays unmapped.
  void dup(uint32_t oldfd, uint32_t newfd, bool cloexec);
  // exec: every close-on-exec descriptor is closed.
  void exec();
  // Closes everything (process exit).
  void clear();

  size_t fds() const { return fds_.size(); }
  size_t files() const { return files_.size(); }

 private:
  struct File {
    uint32_t refs = 0;             // descriptors of this process on it
    ResourceRow* timer = nullptr;  // timerfd: the row its timer is counted in
    bool armed = false;
    std::unordered_map<uint64_t, ResourceRow*> watches;  // epoll: target file -> row
    std::unordered_set<uint64_t> watched_by;             // epoll files registering it
  };
  struct Fd {
    uint64_t file = 0;
    bool cloexec = false;
  };

  uint64_t open_new(uint32_t fd, bool cloexec);
  uint64_t file_or_placeholder(uint32_t fd);
  void release_file(uint64_t id);
  static void release_row(ResourceRow* row);

  std::unordered_map<uint32_t, Fd> fds_;
  std::unordered_map<uint64_t, File> files_;
  uint64_t next_file_ = 1;
};

}  // namespace leakscope
