#include "resources/fd_table.h"

#include <utility>
#include <vector>

namespace leakscope {

namespace {
constexpr uint32_t kEpollCtlAdd = 1;
constexpr uint32_t kEpollCtlDel = 2;
}  // namespace

void FdTable::release_row(ResourceRow* row) {
  row->live_objects--;
  row->frees++;
}

uint64_t FdTable::open_new(uint32_t fd, bool cloexec) {
  close(fd);
  const uint64_t id = next_file_++;
  files_[id].refs = 1;
  fds_[fd] = Fd{id, cloexec};
  return id;
}

uint64_t FdTable::file_or_placeholder(uint32_t fd) {
  auto it = fds_.find(fd);
  if (it != fds_.end()) return it->second.file;
  return open_new(fd, false);
}

void FdTable::create_timer(uint32_t fd, bool cloexec, ResourceRow* row) {
  const uint64_t id = open_new(fd, cloexec);
  files_[id].timer = row;
  row->allocs++;
  row->live_objects++;
}

void FdTable::create_epoll(uint32_t fd, bool cloexec) { open_new(fd, cloexec); }

void FdTable::set_armed(uint32_t fd, bool armed) {
  auto it = fds_.find(fd);
  if (it == fds_.end()) return;
  File& f = files_[it->second.file];
  if (f.timer == nullptr || f.armed == armed) return;
  f.armed = armed;
  f.timer->armed += armed ? 1 : -1;
}

void FdTable::epoll_ctl(uint32_t epfd, uint32_t op, uint32_t fd, const RowFn& row_for_add) {
  // Both ids first: a placeholder insert may rehash files_.
  const uint64_t ep = file_or_placeholder(epfd);
  const uint64_t target = file_or_placeholder(fd);
  if (ep == target) return;  // the kernel refuses an instance watching itself
  File& e = files_[ep];
  if (op == kEpollCtlAdd) {
    if (e.watches.count(target) != 0) return;
    ResourceRow* row = row_for_add();
    if (row == nullptr) return;
    e.watches.emplace(target, row);
    files_[target].watched_by.insert(ep);
    row->allocs++;
    row->live_objects++;
  } else if (op == kEpollCtlDel) {
    auto w = e.watches.find(target);
    if (w == e.watches.end()) return;
    release_row(w->second);
    e.watches.erase(w);
    files_[target].watched_by.erase(ep);
  }
  // EPOLL_CTL_MOD changes only the events watched: nothing to count.
}

void FdTable::release_file(uint64_t id) {
  auto it = files_.find(id);
  if (it == files_.end()) return;
  File f = std::move(it->second);
  files_.erase(it);
  if (f.timer != nullptr) {
    release_row(f.timer);
    if (f.armed) f.timer->armed--;
  }
  for (const auto& [target, row] : f.watches) {
    release_row(row);
    auto t = files_.find(target);
    if (t != files_.end()) t->second.watched_by.erase(id);
  }
  for (uint64_t ep : f.watched_by) {
    auto e = files_.find(ep);
    if (e == files_.end()) continue;
    auto w = e->second.watches.find(id);
    if (w == e->second.watches.end()) continue;
    release_row(w->second);
    e->second.watches.erase(w);
  }
}

void FdTable::close(uint32_t fd) {
  auto it = fds_.find(fd);
  if (it == fds_.end()) return;
  const uint64_t id = it->second.file;
  fds_.erase(it);
  auto f = files_.find(id);
  if (f != files_.end() && --f->second.refs == 0) release_file(id);
}

void FdTable::close_range(uint32_t first, uint32_t last) {
  std::vector<uint32_t> doomed;
  for (const auto& [fd, entry] : fds_)
    if (fd >= first && fd <= last) doomed.push_back(fd);
  for (uint32_t fd : doomed) close(fd);
}

void FdTable::set_cloexec_range(uint32_t first, uint32_t last) {
  for (auto& [fd, entry] : fds_)
    if (fd >= first && fd <= last) entry.cloexec = true;
}

void FdTable::set_cloexec(uint32_t fd, bool cloexec) {
  auto it = fds_.find(fd);
  if (it != fds_.end()) it->second.cloexec = cloexec;
}

void FdTable::dup(uint32_t oldfd, uint32_t newfd, bool cloexec) {
  if (oldfd == newfd) return;
  auto old = fds_.find(oldfd);
  if (old == fds_.end()) {
    close(newfd);
    return;
  }
  const uint64_t id = old->second.file;
  ++files_[id].refs;  // before closing newfd, which may share the file
  close(newfd);
  fds_[newfd] = Fd{id, cloexec};
}

void FdTable::exec() {
  std::vector<uint32_t> doomed;
  for (const auto& [fd, entry] : fds_)
    if (entry.cloexec) doomed.push_back(fd);
  for (uint32_t fd : doomed) close(fd);
}

void FdTable::clear() {
  std::vector<uint32_t> all;
  all.reserve(fds_.size());
  for (const auto& [fd, entry] : fds_) all.push_back(fd);
  for (uint32_t fd : all) close(fd);
  files_.clear();
}

}  // namespace leakscope
