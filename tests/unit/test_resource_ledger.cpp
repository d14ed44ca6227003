#include <gtest/gtest.h>

#include <algorithm>
#include <initializer_list>
#include <optional>
#include <set>
#include <vector>

#include "leakscope.h"
#include "resources/resource_ledger.h"

using namespace leakscope;

namespace {

constexpr pid_t kPid = 100;
constexpr uint64_t kPage = 4096;
constexpr uint64_t kA = 0x7f0000000000;  // a free stretch of address space
constexpr uint64_t kB = 0x7f1000000000;
constexpr uint64_t kMapPrivate = 0x02;
constexpr uint64_t kMapAnon = 0x20 | kMapPrivate;
constexpr uint64_t kMapFixed = 0x10;
constexpr uint64_t kMremapMaymove = 1;
constexpr uint64_t kMremapDontunmap = 4;
constexpr uint64_t kCloexec = 02000000;  // O_CLOEXEC, TFD_CLOEXEC, EPOLL_CLOEXEC
constexpr uint64_t kCloseRangeCloexec = 1u << 2;
constexpr uint32_t kAnon = static_cast<uint32_t>(MmapBacking::Anonymous);
constexpr uint32_t kFile = static_cast<uint32_t>(MmapBacking::File);

// Feeds events to a ledger, one process at a time, with rising timestamps.
class Events {
 public:
  explicit Events(ResourceLedger& ledger, pid_t pid = kPid) : ledger_(ledger), pid_(pid) {}

  void send(uint32_t op, int64_t ret, std::initializer_list<uint64_t> args, int32_t stack = 1) {
    SysEvent e;
    e.op = op;
    e.trace_id = static_cast<uint32_t>(pid_);
    e.ts_ns = ++ts_;
    e.ret = ret;
    size_t i = 0;
    for (uint64_t a : args) e.args[i++] = a;
    e.stack_id = stack;
    ledger_.apply(e);
  }

  void mmap(uint64_t at, uint64_t len, uint64_t flags, int32_t stack) {
    send(LS_SYS_MMAP, static_cast<int64_t>(at), {0, len, 3, flags, ~0ull}, stack);
  }
  void munmap(uint64_t at, uint64_t len) { send(LS_SYS_MUNMAP, 0, {at, len}); }
  void mremap(uint64_t old, uint64_t old_len, uint64_t new_len, uint64_t flags, uint64_t ret,
              int32_t stack) {
    send(LS_SYS_MREMAP, static_cast<int64_t>(ret), {old, old_len, new_len, flags, 0}, stack);
  }
  void brk(uint64_t to, int32_t stack) { send(LS_SYS_BRK, static_cast<int64_t>(to), {to}, stack); }
  void timerfd(int fd, int32_t stack, uint64_t flags = 0) {
    send(LS_SYS_TIMERFD_CREATE, fd, {1, flags}, stack);
  }
  void settime(int fd, bool armed) { send(LS_SYS_TIMERFD_SETTIME, 0, {uint64_t(fd), 0, armed}); }
  void epoll_create(int fd, uint64_t flags = 0) { send(LS_SYS_EPOLL_CREATE, fd, {flags}); }
  void epoll_ctl(int epfd, int op, int fd, int32_t stack) {
    send(LS_SYS_EPOLL_CTL, 0, {uint64_t(epfd), uint64_t(op), uint64_t(fd)}, stack);
  }
  void close(int fd) { send(LS_SYS_CLOSE, 0, {uint64_t(fd)}); }
  void close_range(uint64_t first, uint64_t last, uint64_t flags) {
    send(LS_SYS_CLOSE_RANGE, 0, {first, last, flags});
  }
  void dup(int old, int ret) { send(LS_SYS_DUP, ret, {uint64_t(old)}); }
  void dup2(int old, int to, uint64_t flags = 0) {
    send(LS_SYS_DUP2, to, {uint64_t(old), uint64_t(to), flags});
  }
  void fcntl(int fd, uint64_t cmd, uint64_t arg, int64_t ret) {
    send(LS_SYS_FCNTL, ret, {uint64_t(fd), cmd, arg});
  }
  // Exec keeping the trace id (the ledger's oldest tests predate images).
  void exec() { ledger_.image_execd(static_cast<uint32_t>(pid_), static_cast<uint32_t>(pid_)); }
  // Exec into image `next`.
  void exec_into(uint32_t next) { ledger_.image_execd(static_cast<uint32_t>(pid_), next); }

 private:
  ResourceLedger& ledger_;
  pid_t pid_;
  uint64_t ts_ = 0;
};

constexpr int kAdd = 1, kDel = 2, kMod = 3;

std::optional<ResourceRow> find(const ResourceLedger& l, Kind kind, int32_t stack, uint32_t sub = 0,
                                pid_t pid = kPid) {
  for (const auto& r : l.rows())
    if (r.trace_id == static_cast<uint32_t>(pid) && r.kind == kind && r.stack_id == stack && r.sub == sub) return r;
  return std::nullopt;
}

// Checks a row's counters in one line: live bytes, live objects, allocs, frees.
void expect_row(const ResourceLedger& l, Kind kind, int32_t stack, uint32_t sub, int64_t live_bytes,
                int64_t live_objects, uint64_t allocs, uint64_t frees, pid_t pid = kPid) {
  auto r = find(l, kind, stack, sub, pid);
  ASSERT_TRUE(r.has_value()) << kind_name(kind) << " stack " << stack << " sub " << sub;
  EXPECT_EQ(r->live_bytes, live_bytes) << kind_name(kind) << " stack " << stack;
  EXPECT_EQ(r->live_objects, live_objects) << kind_name(kind) << " stack " << stack;
  EXPECT_EQ(r->allocs, allocs) << kind_name(kind) << " stack " << stack;
  EXPECT_EQ(r->frees, frees) << kind_name(kind) << " stack " << stack;
}

}  // namespace

// ---- mmap / munmap ----

TEST(ResourceLedgerTest, MmapAnonymousAndFileBackedAreSeparateRowsRoundedToPages) {
  ResourceLedger l;
  Events ev(l);
  ev.mmap(kA, 5000, kMapAnon, 1);
  ev.mmap(kB, 4096, kMapPrivate, 1);
  ev.mmap(kB + 0x100000, 1, kMapPrivate, 1);

  expect_row(l, Kind::Mmap, 1, kAnon, 2 * kPage, 1, 1, 0);
  expect_row(l, Kind::Mmap, 1, kFile, 2 * kPage, 2, 2, 0);
  EXPECT_EQ(find(l, Kind::Mmap, 1, kAnon)->bytes_allocated, 2 * kPage);
  EXPECT_EQ(find(l, Kind::Mmap, 1, kFile)->bytes_allocated, 2 * kPage);
  EXPECT_EQ(find(l, Kind::Mmap, 1, kAnon)->first_ns, 1u);
  EXPECT_EQ(find(l, Kind::Mmap, 1, kFile)->first_ns, 2u);
  EXPECT_EQ(l.live_bytes(kPid, Kind::Mmap), int64_t(4 * kPage));
  EXPECT_EQ(l.live_objects(kPid, Kind::Mmap), 3);
  EXPECT_EQ(l.live_bytes(kPid, Kind::Brk), 0);
}

TEST(ResourceLedgerTest, MunmapHeadTailMiddleHoleThenPiecesOneByOne) {
  ResourceLedger l;
  Events ev(l);
  ev.mmap(kA, 16 * kPage, kMapAnon, 1);

  ev.munmap(kA, kPage);  // head
  expect_row(l, Kind::Mmap, 1, kAnon, 15 * kPage, 1, 1, 0);
  ev.munmap(kA + 14 * kPage, 2 * kPage);  // tail
  expect_row(l, Kind::Mmap, 1, kAnon, 13 * kPage, 1, 1, 0);
  ev.munmap(kA + 5 * kPage, 100);  // middle hole, length rounded to a page
  expect_row(l, Kind::Mmap, 1, kAnon, 12 * kPage, 2, 1, 0);
  // Pieces: [A+1p, A+5p) and [A+6p, A+14p).
  ev.munmap(kA + kPage, 4 * kPage);  // one piece whole: the region is not gone yet
  expect_row(l, Kind::Mmap, 1, kAnon, 8 * kPage, 1, 1, 0);
  ev.munmap(kA, 64 * kPage);  // the last piece: the region is freed
  expect_row(l, Kind::Mmap, 1, kAnon, 0, 0, 1, 1);
  EXPECT_EQ(find(l, Kind::Mmap, 1, kAnon)->bytes_allocated, 16 * kPage);
}

TEST(ResourceLedgerTest, MunmapWholeRegionAndUnmappedRangeChangesNothingElse) {
  ResourceLedger l;
  Events ev(l);
  ev.mmap(kA, 4 * kPage, kMapAnon, 1);
  ev.mmap(kB, 4 * kPage, kMapAnon, 2);
  ev.munmap(kA + 8 * kPage, 4 * kPage);  // nothing there
  expect_row(l, Kind::Mmap, 1, kAnon, 4 * kPage, 1, 1, 0);
  ev.munmap(kA, 4 * kPage);
  expect_row(l, Kind::Mmap, 1, kAnon, 0, 0, 1, 1);
  expect_row(l, Kind::Mmap, 2, kAnon, 4 * kPage, 1, 1, 0);
}

TEST(ResourceLedgerTest, MunmapSpanningTwoAdjacentRegions) {
  ResourceLedger l;
  Events ev(l);
  ev.mmap(kA, 4 * kPage, kMapAnon, 1);
  ev.mmap(kA + 4 * kPage, 4 * kPage, kMapPrivate, 2);
  ev.munmap(kA + 2 * kPage, 4 * kPage);  // tail of one, head of the other
  expect_row(l, Kind::Mmap, 1, kAnon, 2 * kPage, 1, 1, 0);
  expect_row(l, Kind::Mmap, 2, kFile, 2 * kPage, 1, 1, 0);
  ev.munmap(kA, 8 * kPage);
  expect_row(l, Kind::Mmap, 1, kAnon, 0, 0, 1, 1);
  expect_row(l, Kind::Mmap, 2, kFile, 0, 0, 1, 1);
}

TEST(ResourceLedgerTest, MapFixedOverTheMiddleOfARegionSplitsIt) {
  ResourceLedger l;
  Events ev(l);
  ev.mmap(kA, 8 * kPage, kMapAnon, 1);
  ev.mmap(kA + 2 * kPage, 2 * kPage, kMapPrivate | kMapFixed, 2);
  expect_row(l, Kind::Mmap, 1, kAnon, 6 * kPage, 2, 1, 0);
  expect_row(l, Kind::Mmap, 2, kFile, 2 * kPage, 1, 1, 0);
  EXPECT_EQ(l.live_bytes(kPid, Kind::Mmap), int64_t(8 * kPage));
  ev.munmap(kA, 8 * kPage);
  expect_row(l, Kind::Mmap, 1, kAnon, 0, 0, 1, 1);
  expect_row(l, Kind::Mmap, 2, kFile, 0, 0, 1, 1);
}

TEST(ResourceLedgerTest, MmapOverAStaleRegionReplacesIt) {
  ResourceLedger l;
  Events ev(l);
  ev.mmap(kA, 4 * kPage, kMapAnon, 1);
  ev.mmap(kA, 4 * kPage, kMapAnon, 2);  // munmap missed: the same range again
  expect_row(l, Kind::Mmap, 1, kAnon, 0, 0, 1, 1);
  expect_row(l, Kind::Mmap, 2, kAnon, 4 * kPage, 1, 1, 0);
}

// ---- mremap ----

TEST(ResourceLedgerTest, MremapGrowInPlaceMovesTheWholeRegionToTheMremapCaller) {
  ResourceLedger l;
  Events ev(l);
  ev.mmap(kA, 4 * kPage, kMapPrivate, 1);
  ev.mremap(kA, 4 * kPage, 8 * kPage, kMremapMaymove, kA, 2);
  expect_row(l, Kind::Mmap, 1, kFile, 0, 0, 1, 1);
  expect_row(l, Kind::Mmap, 2, kFile, 8 * kPage, 1, 1, 0);  // the backing carries over
  EXPECT_EQ(find(l, Kind::Mmap, 2, kFile)->bytes_allocated, 8 * kPage);
  EXPECT_FALSE(find(l, Kind::Mmap, 2, kAnon).has_value());
  EXPECT_EQ(l.live_bytes(kPid, Kind::Mmap), int64_t(8 * kPage));
}

TEST(ResourceLedgerTest, MremapShrinkInPlace) {
  ResourceLedger l;
  Events ev(l);
  ev.mmap(kA, 8 * kPage, kMapAnon, 1);
  ev.mremap(kA, 8 * kPage, 2 * kPage + 1, 0, kA, 3);
  expect_row(l, Kind::Mmap, 1, kAnon, 0, 0, 1, 1);
  expect_row(l, Kind::Mmap, 3, kAnon, 3 * kPage, 1, 1, 0);
  ev.munmap(kA, 8 * kPage);
  expect_row(l, Kind::Mmap, 3, kAnon, 0, 0, 1, 1);
}

TEST(ResourceLedgerTest, MremapMoveReleasesTheOldRange) {
  ResourceLedger l;
  Events ev(l);
  ev.mmap(kA, 4 * kPage, kMapAnon, 1);
  ev.mremap(kA, 4 * kPage, 6 * kPage, kMremapMaymove, kB, 2);
  expect_row(l, Kind::Mmap, 1, kAnon, 0, 0, 1, 1);
  expect_row(l, Kind::Mmap, 2, kAnon, 6 * kPage, 1, 1, 0);
  ev.munmap(kA, 4 * kPage);  // already gone
  expect_row(l, Kind::Mmap, 2, kAnon, 6 * kPage, 1, 1, 0);
  ev.munmap(kB, 6 * kPage);
  expect_row(l, Kind::Mmap, 2, kAnon, 0, 0, 1, 1);
}

TEST(ResourceLedgerTest, MremapMoveWithDontunmapKeepsTheOldRange) {
  ResourceLedger l;
  Events ev(l);
  ev.mmap(kA, 4 * kPage, kMapAnon, 1);
  ev.mremap(kA, 4 * kPage, 4 * kPage, kMremapMaymove | kMremapDontunmap, kB, 2);
  expect_row(l, Kind::Mmap, 1, kAnon, 4 * kPage, 1, 1, 0);
  expect_row(l, Kind::Mmap, 2, kAnon, 4 * kPage, 1, 1, 0);
  EXPECT_EQ(l.live_bytes(kPid, Kind::Mmap), int64_t(8 * kPage));
}

TEST(ResourceLedgerTest, MremapOfAnUnknownRegionCountsTheResultAsAnonymous) {
  ResourceLedger l;
  Events ev(l);
  ev.mremap(kA, 4 * kPage, 8 * kPage, kMremapMaymove, kB, 5);
  expect_row(l, Kind::Mmap, 5, kAnon, 8 * kPage, 1, 1, 0);
}

// ---- brk ----

TEST(ResourceLedgerTest, BrkFirstEventIsTheBaselineThenGrowAndShrink) {
  ResourceLedger l;
  Events ev(l);
  const uint64_t base = 0x555555559000;
  ev.brk(base, 1);
  EXPECT_TRUE(l.rows().empty());
  ev.brk(base + 0x2000, 2);
  ev.brk(base + 0x5000, 3);
  expect_row(l, Kind::Brk, 2, kAnon, 0x2000, 1, 1, 0);
  expect_row(l, Kind::Brk, 3, kAnon, 0x3000, 1, 1, 0);
  ev.brk(base + 0x5000, 4);  // unchanged: nothing
  ev.brk(base + 0x1000, 4);  // shrink below the first grow
  expect_row(l, Kind::Brk, 2, kAnon, 0x1000, 1, 1, 0);
  expect_row(l, Kind::Brk, 3, kAnon, 0, 0, 1, 1);
  EXPECT_FALSE(find(l, Kind::Brk, 4, kAnon).has_value());  // a shrink is no row
  EXPECT_EQ(l.live_bytes(kPid, Kind::Brk), 0x1000);
  ev.brk(base + 0x3000, 5);
  expect_row(l, Kind::Brk, 5, kAnon, 0x2000, 1, 1, 0);
  EXPECT_EQ(l.live_bytes(kPid, Kind::Brk), 0x3000);
  EXPECT_EQ(l.live_bytes(kPid, Kind::Mmap), 0);
}

TEST(ResourceLedgerTest, ExecReleasesRegionsAndForgetsTheBreak) {
  ResourceLedger l;
  Events ev(l);
  ev.mmap(kA, 4 * kPage, kMapAnon, 1);
  ev.brk(0x1000000, 1);
  ev.brk(0x1004000, 2);
  ev.exec();
  expect_row(l, Kind::Mmap, 1, kAnon, 0, 0, 1, 1);
  expect_row(l, Kind::Brk, 2, kAnon, 0, 0, 1, 1);
  ev.brk(0x2000000, 3);  // the new image's baseline
  ev.brk(0x2001000, 4);
  EXPECT_FALSE(find(l, Kind::Brk, 3, kAnon).has_value());
  expect_row(l, Kind::Brk, 4, kAnon, 0x1000, 1, 1, 0);
}

// ---- timerfd ----

TEST(ResourceLedgerTest, TimerfdCreateArmDisarmClose) {
  ResourceLedger l;
  Events ev(l);
  ev.timerfd(5, 7);
  expect_row(l, Kind::Timerfd, 7, 0, 0, 1, 1, 0);
  EXPECT_EQ(find(l, Kind::Timerfd, 7)->armed, 0);
  ev.settime(5, true);
  ev.settime(5, true);  // re-arming an armed timer
  EXPECT_EQ(find(l, Kind::Timerfd, 7)->armed, 1);
  ev.settime(5, false);
  EXPECT_EQ(find(l, Kind::Timerfd, 7)->armed, 0);
  ev.settime(5, true);
  ev.settime(9, true);  // unknown fd: nothing
  EXPECT_EQ(find(l, Kind::Timerfd, 7)->armed, 1);
  ev.close(5);
  expect_row(l, Kind::Timerfd, 7, 0, 0, 0, 1, 1);
  EXPECT_EQ(find(l, Kind::Timerfd, 7)->armed, 0);
  EXPECT_EQ(l.live_objects(kPid, Kind::Timerfd), 0);
}

TEST(ResourceLedgerTest, TimerfdCreateOnAStaleFdReleasesTheOldTimer) {
  ResourceLedger l;
  Events ev(l);
  ev.timerfd(5, 1);
  ev.timerfd(5, 2);  // the close was never seen
  expect_row(l, Kind::Timerfd, 1, 0, 0, 0, 1, 1);
  expect_row(l, Kind::Timerfd, 2, 0, 0, 1, 1, 0);
}

TEST(ResourceLedgerTest, DupKeepsTheTimerUntilTheLastFdCloses) {
  ResourceLedger l;
  Events ev(l);
  ev.timerfd(5, 1);
  ev.dup(5, 6);
  ev.close(5);
  expect_row(l, Kind::Timerfd, 1, 0, 0, 1, 1, 0);
  ev.settime(6, true);
  EXPECT_EQ(find(l, Kind::Timerfd, 1)->armed, 1);
  ev.close(6);
  expect_row(l, Kind::Timerfd, 1, 0, 0, 0, 1, 1);
  EXPECT_EQ(find(l, Kind::Timerfd, 1)->armed, 0);
  ev.dup(5, 7);  // closed fd: nothing
  ev.close(7);
  expect_row(l, Kind::Timerfd, 1, 0, 0, 0, 1, 1);
}

TEST(ResourceLedgerTest, Dup2OntoATimerFdClosesIt) {
  ResourceLedger l;
  Events ev(l);
  ev.timerfd(5, 1);
  ev.timerfd(6, 2);
  ev.timerfd(7, 3);
  ev.epoll_create(3);
  ev.dup2(5, 5);  // same fd: no-op
  expect_row(l, Kind::Timerfd, 1, 0, 0, 1, 1, 0);
  ev.dup2(3, 5);  // timer 1's only fd now refers to the epoll instance
  expect_row(l, Kind::Timerfd, 1, 0, 0, 0, 1, 1);
  ev.dup2(6, 7, kCloexec);  // dup3: timer 3 gone, timer 2 on 6 and 7 (cloexec)
  expect_row(l, Kind::Timerfd, 3, 0, 0, 0, 1, 1);
  ev.close(6);
  expect_row(l, Kind::Timerfd, 2, 0, 0, 1, 1, 0);
  ev.exec();
  expect_row(l, Kind::Timerfd, 2, 0, 0, 0, 1, 1);
}

TEST(ResourceLedgerTest, Dup2FromAnUnknownFdStillClosesTheTarget) {
  ResourceLedger l;
  Events ev(l);
  ev.timerfd(5, 1);
  ev.dup2(1, 5);  // e.g. stdout, opened before tracing: the timer's fd is replaced
  expect_row(l, Kind::Timerfd, 1, 0, 0, 0, 1, 1);
}

TEST(ResourceLedgerTest, CloseRangeClosesEveryMappedFdInRange) {
  ResourceLedger l;
  Events ev(l);
  ev.timerfd(3, 1);
  ev.timerfd(4, 2);
  ev.timerfd(5, 2);
  ev.timerfd(1000, 2);
  ev.close_range(4, 0xffffffffu, 0);
  expect_row(l, Kind::Timerfd, 1, 0, 0, 1, 1, 0);
  expect_row(l, Kind::Timerfd, 2, 0, 0, 0, 3, 3);
  ev.close_range(0, 2, 0);  // nothing mapped there
  EXPECT_EQ(l.live_objects(kPid, Kind::Timerfd), 1);
}

TEST(ResourceLedgerTest, CloseRangeCloexecThenExec) {
  ResourceLedger l;
  Events ev(l);
  ev.timerfd(3, 1);
  ev.timerfd(4, 2);
  ev.timerfd(5, 2);
  ev.close_range(4, 5, kCloseRangeCloexec);
  expect_row(l, Kind::Timerfd, 2, 0, 0, 2, 2, 0);  // only marked
  ev.exec();
  expect_row(l, Kind::Timerfd, 1, 0, 0, 1, 1, 0);
  expect_row(l, Kind::Timerfd, 2, 0, 0, 0, 2, 2);
}

TEST(ResourceLedgerTest, FcntlDupfdCloexecAndSetfdThenExec) {
  ResourceLedger l;
  Events ev(l);
  ev.timerfd(3, 1);
  ev.fcntl(3, 1030, 10, 10);  // F_DUPFD_CLOEXEC
  ev.close(3);
  expect_row(l, Kind::Timerfd, 1, 0, 0, 1, 1, 0);
  ev.timerfd(4, 2);
  ev.fcntl(4, 2, 1, 0);  // F_SETFD FD_CLOEXEC
  ev.timerfd(5, 3, kCloexec);
  ev.fcntl(5, 2, 0, 0);  // F_SETFD 0: survives exec
  ev.timerfd(6, 4);
  ev.fcntl(6, 0, 20, 20);  // F_DUPFD: no cloexec on either
  ev.fcntl(6, 1, 0, 0);    // F_GETFD: ignored
  ev.exec();
  expect_row(l, Kind::Timerfd, 1, 0, 0, 0, 1, 1);
  expect_row(l, Kind::Timerfd, 2, 0, 0, 0, 1, 1);
  expect_row(l, Kind::Timerfd, 3, 0, 0, 1, 1, 0);
  expect_row(l, Kind::Timerfd, 4, 0, 0, 1, 1, 0);
  ev.close(6);
  expect_row(l, Kind::Timerfd, 4, 0, 0, 1, 1, 0);  // still on 20
  ev.close(20);
  expect_row(l, Kind::Timerfd, 4, 0, 0, 0, 1, 1);
}

TEST(ResourceLedgerTest, TfdCloexecTimersGoAtExecButAPlainDupSurvives) {
  ResourceLedger l;
  Events ev(l);
  ev.timerfd(3, 1, kCloexec);
  ev.timerfd(4, 2);
  ev.timerfd(5, 3, kCloexec);
  ev.dup(5, 6);  // dup clears cloexec on the new fd
  ev.settime(3, true);
  ev.exec();
  expect_row(l, Kind::Timerfd, 1, 0, 0, 0, 1, 1);
  EXPECT_EQ(find(l, Kind::Timerfd, 1)->armed, 0);
  expect_row(l, Kind::Timerfd, 2, 0, 0, 1, 1, 0);
  expect_row(l, Kind::Timerfd, 3, 0, 0, 1, 1, 0);
}

// ---- epoll ----

TEST(ResourceLedgerTest, EpollAddModDel) {
  ResourceLedger l;
  Events ev(l);
  ev.epoll_create(3);
  ev.timerfd(4, 1);
  ev.epoll_ctl(3, kAdd, 4, 9);
  ev.epoll_ctl(3, kAdd, 5, 9);  // fd 5 unknown (an eventfd): a placeholder
  expect_row(l, Kind::Epoll, 9, 0, 0, 2, 2, 0);
  ev.epoll_ctl(3, kAdd, 4, 8);  // already registered: ignored, no row
  ev.epoll_ctl(3, kMod, 4, 8);
  EXPECT_FALSE(find(l, Kind::Epoll, 8).has_value());
  expect_row(l, Kind::Epoll, 9, 0, 0, 2, 2, 0);
  ev.epoll_ctl(3, kDel, 4, 8);
  expect_row(l, Kind::Epoll, 9, 0, 0, 1, 2, 1);
  ev.epoll_ctl(3, kDel, 4, 8);  // not registered
  expect_row(l, Kind::Epoll, 9, 0, 0, 1, 2, 1);
  ev.epoll_ctl(3, kAdd, 4, 8);
  expect_row(l, Kind::Epoll, 8, 0, 0, 1, 1, 0);
  EXPECT_EQ(l.live_objects(kPid, Kind::Epoll), 2);
  EXPECT_EQ(l.live_objects(kPid, Kind::Timerfd), 1);  // registering is no timer
}

TEST(ResourceLedgerTest, ClosingTheEpollInstanceReleasesItsRegistrations) {
  ResourceLedger l;
  Events ev(l);
  ev.epoll_create(3, kCloexec);
  ev.dup(3, 8);
  for (int fd : {5, 6, 7}) ev.epoll_ctl(3, kAdd, fd, 1);
  ev.close(3);
  expect_row(l, Kind::Epoll, 1, 0, 0, 3, 3, 0);  // fd 8 still holds it
  ev.close(8);
  expect_row(l, Kind::Epoll, 1, 0, 0, 0, 3, 3);
  ev.close(5);  // the targets closing later changes nothing
  expect_row(l, Kind::Epoll, 1, 0, 0, 0, 3, 3);
}

TEST(ResourceLedgerTest, ClosingTheLastFdOfARegisteredFileReleasesItsRegistrations) {
  ResourceLedger l;
  Events ev(l);
  ev.epoll_create(3);
  ev.epoll_create(4);
  ev.epoll_ctl(3, kAdd, 10, 1);  // eventfd 10, unknown until now
  ev.epoll_ctl(4, kAdd, 10, 2);
  ev.dup(10, 11);
  ev.close(10);
  expect_row(l, Kind::Epoll, 1, 0, 0, 1, 1, 0);
  expect_row(l, Kind::Epoll, 2, 0, 0, 1, 1, 0);
  ev.close(11);
  expect_row(l, Kind::Epoll, 1, 0, 0, 0, 1, 1);
  expect_row(l, Kind::Epoll, 2, 0, 0, 0, 1, 1);
  ev.close(3);
  ev.close(4);
  EXPECT_EQ(l.live_objects(kPid, Kind::Epoll), 0);
}

TEST(ResourceLedgerTest, UnknownEpfdGetsAPlaceholderThatCloseReleases) {
  ResourceLedger l;
  Events ev(l);
  ev.timerfd(5, 1);
  ev.epoll_ctl(9, kAdd, 5, 2);  // epoll instance created before tracing
  expect_row(l, Kind::Epoll, 2, 0, 0, 1, 1, 0);
  ev.close(9);
  expect_row(l, Kind::Epoll, 2, 0, 0, 0, 1, 1);
  expect_row(l, Kind::Timerfd, 1, 0, 0, 1, 1, 0);
}

// ---- processes ----

TEST(ResourceLedgerTest, ProcessExitedReleasesEverythingAndKeepsTheRows) {
  ResourceLedger l;
  Events ev(l);
  ev.mmap(kA, 8 * kPage, kMapAnon, 1);
  ev.munmap(kA + 2 * kPage, kPage);  // two pieces of one region
  ev.brk(0x1000000, 2);
  ev.brk(0x1003000, 2);
  ev.timerfd(5, 3);
  ev.settime(5, true);
  ev.dup(5, 6);
  ev.epoll_create(4);
  ev.epoll_ctl(4, kAdd, 5, 4);
  ev.epoll_ctl(4, kAdd, 7, 4);
  l.process_exited(kPid);

  expect_row(l, Kind::Mmap, 1, kAnon, 0, 0, 1, 1);
  expect_row(l, Kind::Brk, 2, kAnon, 0, 0, 1, 1);
  expect_row(l, Kind::Timerfd, 3, 0, 0, 0, 1, 1);
  EXPECT_EQ(find(l, Kind::Timerfd, 3)->armed, 0);
  expect_row(l, Kind::Epoll, 4, 0, 0, 0, 2, 2);
  EXPECT_EQ(l.rows().size(), 4u);
  l.process_exited(kPid);  // twice: nothing more
  expect_row(l, Kind::Epoll, 4, 0, 0, 0, 2, 2);

  // A reused pid starts fresh: its first brk is a baseline again.
  Events again(l);
  again.brk(0x2000000, 5);
  EXPECT_FALSE(find(l, Kind::Brk, 5, kAnon).has_value());
  again.close(5);  // the old table is gone
  expect_row(l, Kind::Timerfd, 3, 0, 0, 0, 1, 1);
}

// Lifecycle ops are not syscall ops: sent to apply() by mistake they
// change nothing; process_exited() is what an exit does.
TEST(ResourceLedgerTest, LifecycleOpsAreNoSyscallEventsProcessExitedIsTheExit) {
  ResourceLedger l;
  Events ev(l);
  ev.timerfd(5, 1);
  ev.mmap(kA, kPage, kMapAnon, 1);
  for (uint32_t op : {LS_LIFE_FORK, LS_LIFE_EXEC, LS_LIFE_EXIT}) ev.send(op, 0, {101});
  expect_row(l, Kind::Timerfd, 1, 0, 0, 1, 1, 0);
  expect_row(l, Kind::Mmap, 1, kAnon, kPage, 1, 1, 0);
  l.process_exited(kPid);
  expect_row(l, Kind::Timerfd, 1, 0, 0, 0, 1, 1);
  expect_row(l, Kind::Mmap, 1, kAnon, 0, 0, 1, 1);
}

TEST(ResourceLedgerTest, TwoPidsAreKeptApart) {
  ResourceLedger l;
  Events a(l, 100), b(l, 200);
  a.mmap(kA, 4 * kPage, kMapAnon, 1);
  b.mmap(kA, 2 * kPage, kMapAnon, 1);
  a.timerfd(5, 1);
  b.timerfd(5, 1);
  a.brk(0x1000000, 1);
  b.brk(0x1000000, 1);
  a.brk(0x1002000, 1);
  b.brk(0x1001000, 1);
  b.munmap(kA, 4 * kPage);
  b.close(5);
  b.exec();

  expect_row(l, Kind::Mmap, 1, kAnon, 4 * kPage, 1, 1, 0, 100);
  expect_row(l, Kind::Mmap, 1, kAnon, 0, 0, 1, 1, 200);
  expect_row(l, Kind::Timerfd, 1, 0, 0, 1, 1, 0, 100);
  expect_row(l, Kind::Timerfd, 1, 0, 0, 0, 1, 1, 200);
  expect_row(l, Kind::Brk, 1, kAnon, 0x2000, 1, 1, 0, 100);
  expect_row(l, Kind::Brk, 1, kAnon, 0, 0, 1, 1, 200);
  l.process_exited(200);
  EXPECT_EQ(l.live_bytes(100, Kind::Mmap), int64_t(4 * kPage));
  EXPECT_EQ(l.live_objects(100, Kind::Timerfd), 1);
}

TEST(ResourceLedgerTest, RowsComeInAStableOrder) {
  ResourceLedger l;
  Events a(l, 200), b(l, 100);
  a.timerfd(3, 5);
  a.mmap(kA, kPage, kMapPrivate, 2);
  a.mmap(kB, kPage, kMapAnon, 2);
  a.mmap(kB + kPage, kPage, kMapAnon, -1);
  b.timerfd(3, 1);
  auto rows = l.rows();
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0].trace_id, 100u);
  EXPECT_EQ(rows[1].trace_id, 200u);
  EXPECT_EQ(rows[1].kind, Kind::Mmap);
  EXPECT_EQ(rows[1].stack_id, -1);
  EXPECT_EQ(rows[2].stack_id, 2);
  EXPECT_EQ(rows[2].sub, kAnon);
  EXPECT_EQ(rows[3].stack_id, 2);
  EXPECT_EQ(rows[3].sub, kFile);
  EXPECT_EQ(rows[4].kind, Kind::Timerfd);
  EXPECT_EQ(rows[4].first_ns, 1u);
}

// Random mmap / MAP_FIXED / munmap / mremap against a page-by-page model: live
// bytes, pieces and live regions must always agree with it.
TEST(ResourceLedgerTest, RandomMappingsAgreeWithAPageModel) {
  ResourceLedger l;
  Events ev(l);
  constexpr int kPages = 64;
  std::vector<int> owner(kPages, 0);  // region number per page, 0 = unmapped
  int next_region = 1;
  uint64_t seed = 12345;
  auto rnd = [&](int n) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<int>((seed >> 33) % static_cast<uint64_t>(n));
  };
  auto addr = [](int page) { return kA + uint64_t(page) * kPage; };

  for (int step = 0; step < 2000; ++step) {
    const int first = rnd(kPages);
    const int count = 1 + rnd(std::min(8, kPages - first));
    switch (rnd(3)) {
      case 0:  // mmap, possibly over existing mappings
        ev.mmap(addr(first), count * kPage - rnd(100), kMapAnon, 1 + rnd(3));
        for (int p = first; p < first + count; ++p) owner[p] = next_region;
        ++next_region;
        break;
      case 1:  // munmap
        ev.munmap(addr(first), count * kPage);
        for (int p = first; p < first + count; ++p) owner[p] = 0;
        break;
      default: {  // mremap of whatever is at `first`, moved to a random place
        const int to = rnd(kPages - count + 1);
        ev.mremap(addr(first), count * kPage, count * kPage, kMremapMaymove, addr(to), 1 + rnd(3));
        for (int p = first; p < first + count; ++p) owner[p] = 0;
        for (int p = to; p < to + count; ++p) owner[p] = next_region;
        ++next_region;
        break;
      }
    }
    int64_t pages = 0, pieces = 0;
    std::set<int> alive;
    for (int p = 0; p < kPages; ++p) {
      if (owner[p] == 0) continue;
      ++pages;
      alive.insert(owner[p]);
      if (p == 0 || owner[p - 1] != owner[p]) ++pieces;
    }
    int64_t live_regions = 0;
    for (const auto& r : l.rows()) live_regions += int64_t(r.allocs) - int64_t(r.frees);
    ASSERT_EQ(l.live_bytes(kPid, Kind::Mmap), pages * int64_t(kPage)) << "step " << step;
    ASSERT_EQ(l.live_objects(kPid, Kind::Mmap), pieces) << "step " << step;
    ASSERT_EQ(live_regions, int64_t(alive.size())) << "step " << step;
  }
}

// ---- images: exec into a new trace id, forgetting an image ----

TEST(ResourceLedgerTest, ExecIntoANewImageCarriesSurvivingDescriptorsOnTheOldRows) {
  ResourceLedger l;
  Events old_image(l, 100), new_image(l, 101);
  old_image.timerfd(3, 1);            // survives exec
  old_image.timerfd(4, 2, kCloexec);  // does not
  old_image.mmap(kA, kPage, kMapAnon, 3);
  old_image.exec_into(101);
  EXPECT_EQ(l.live_objects(100, Kind::Timerfd), 1);  // still charged to the image that made it
  EXPECT_EQ(l.live_bytes(100, Kind::Mmap), 0);       // the address space is gone
  new_image.timerfd(5, 9);
  EXPECT_EQ(l.live_objects(101, Kind::Timerfd), 1);
  new_image.close(3);  // the new image closes what the old one opened
  EXPECT_EQ(l.live_objects(100, Kind::Timerfd), 0);
  new_image.close(5);
  EXPECT_EQ(l.live_objects(101, Kind::Timerfd), 0);
}

TEST(ResourceLedgerTest, ForgetDropsAnImagesRowsButNotOnesStillHeldByItsSuccessor) {
  ResourceLedger l;
  Events old_image(l, 100), new_image(l, 101);
  old_image.timerfd(3, 1);
  old_image.mmap(kA, kPage, kMapAnon, 3);
  old_image.exec_into(101);
  l.forget(100);
  EXPECT_TRUE(find(l, Kind::Timerfd, 1, 0, 100).has_value());   // timer 3 lives on in 101
  EXPECT_FALSE(find(l, Kind::Mmap, 3, kAnon, 100).has_value());  // nothing left of it
  new_image.close(3);
  EXPECT_EQ(l.live_objects(100, Kind::Timerfd), 0);
  l.forget(100);
  EXPECT_TRUE(l.rows().empty());
}
