// Kind fault's books (page -> stack) and the pagemap residency check.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "resources/page_ledger.h"
#include "target/pagemap.h"

namespace leakscope {
namespace {

const ResourceRow* find_row(const std::vector<ResourceRow>& rows, uint32_t id, int32_t stack) {
  for (const ResourceRow& r : rows)
    if (r.trace_id == id && r.stack_id == stack) return &r;
  return nullptr;
}

TEST(PageLedgerTest, PagesAreChargedToTheStackThatTouchedThemFirst) {
  PageLedger books(4096);
  books.touch(1, 0x10000, 7, 100);
  books.touch(1, 0x10ff8, 7, 101);  // the same page again: counted once
  books.touch(1, 0x11000, 7, 102);
  books.touch(1, 0x12000, 9, 103);
  auto rows = books.rows();
  ASSERT_EQ(rows.size(), 2u);
  const ResourceRow* a = find_row(rows, 1, 7);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->kind, Kind::Fault);
  EXPECT_EQ(a->live_bytes, 8192);
  EXPECT_EQ(a->live_objects, 2);
  EXPECT_EQ(a->first_ns, 100u);
  EXPECT_EQ(find_row(rows, 1, 9)->live_bytes, 4096);
  EXPECT_EQ(books.pages(1), (std::vector<uint64_t>{0x10000, 0x11000, 0x12000}));
  EXPECT_EQ(books.pages_tracked(), 3u);
}

TEST(PageLedgerTest, ASampledPageCountsItsWeightUntilItIsGone) {
  // The kernel sent 1 in 16 faulting pages while its ring filled: each one
  // booked stands for 16, and its release takes back 16.
  PageLedger books(4096);
  books.touch(1, 0x10000, 7, 100, 16);
  books.touch(1, 0x20000, 7, 101, 16);
  books.touch(1, 0x30000, 7, 102);  // the ring drained: one page, one page
  const ResourceRow* row = find_row(books.rows(), 1, 7);
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->live_bytes, 33 * 4096);
  EXPECT_EQ(row->live_objects, 33);
  EXPECT_EQ(books.pages_tracked(), 3u) << "three pages on the books, standing for 33";
  const uint64_t gone[] = {0x20000};
  books.release(1, gone);
  row = find_row(books.rows(), 1, 7);
  EXPECT_EQ(row->live_bytes, 17 * 4096);
  EXPECT_EQ(row->frees, 16u);
  books.process_exited(1);
  EXPECT_EQ(find_row(books.rows(), 1, 7)->live_bytes, 0);
}

TEST(PageLedgerTest, ReleasedPagesLeaveTheirStackAndATouchedAgainPageMoves) {
  PageLedger books(4096);
  books.touch(1, 0x10000, 7, 1);
  books.touch(1, 0x11000, 7, 2);
  std::vector<uint64_t> gone = {0x10000, 0x99000};  // one unknown page: ignored
  books.release(1, gone);
  const ResourceRow* a = find_row(books.rows(), 1, 7);
  EXPECT_EQ(a->live_bytes, 4096);
  EXPECT_EQ(a->frees, 1u);
  // Released and touched again by other code before the check saw it.
  books.touch(1, 0x11000, 8, 3);
  auto rows = books.rows();
  EXPECT_EQ(find_row(rows, 1, 7)->live_objects, 0);
  EXPECT_EQ(find_row(rows, 1, 8)->live_objects, 1);
  EXPECT_EQ(books.pages_tracked(), 1u);
}

TEST(PageLedgerTest, APageTouchedAfterItWasSeenGoneStaysOnTheBooks) {
  PageLedger books(4096);
  books.touch(1, 0x10000, 7, 100);
  books.touch(1, 0x11000, 7, 100);
  // The pagemap was read at 200 and saw both pages gone; by the time the
  // answer is applied, 0x11000 was touched again (fault event at 300).
  books.touch(1, 0x11000, 8, 300);
  std::vector<uint64_t> gone = {0x10000, 0x11000};
  books.release(1, gone, 200);
  auto rows = books.rows();
  EXPECT_EQ(find_row(rows, 1, 7)->live_objects, 0);
  EXPECT_EQ(find_row(rows, 1, 8)->live_objects, 1) << "resident again: it will not fault again to come back";
  EXPECT_EQ(books.pages(1), (std::vector<uint64_t>{0x11000}));
}

TEST(PageLedgerTest, ExitReleasesEverythingForgetDropsTheRowsBoundedBooksCountDrops) {
  PageLedger books(4096, 2);
  books.touch(1, 0x10000, 7, 1);
  books.touch(2, 0x10000, 7, 1);  // another image: its own page
  books.touch(2, 0x20000, 7, 1);  // over the limit of 2
  EXPECT_EQ(books.pages_dropped(), 1u);
  books.process_exited(1);
  EXPECT_EQ(find_row(books.rows(), 1, 7)->live_bytes, 0);
  EXPECT_EQ(books.images(), (std::vector<uint32_t>{2}));
  books.forget(1);
  EXPECT_EQ(find_row(books.rows(), 1, 7), nullptr);
  EXPECT_NE(find_row(books.rows(), 2, 7), nullptr);
}

TEST(PagemapTest, TouchedPagesAreResidentUntilUnmappedOrGivenBack) {
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  auto* mem = static_cast<char*>(
      ::mmap(nullptr, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(mem, MAP_FAILED);
  mem[0] = 1;
  mem[2 * page] = 1;
  const uint64_t base = reinterpret_cast<uint64_t>(mem);
  std::vector<uint64_t> pages = {base, base + page, base + 2 * page, base + 3 * page};
  auto r = pages_resident(::getpid(), pages, page);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, (std::vector<bool>{true, false, true, false}));
  ASSERT_EQ(::madvise(mem, page, MADV_DONTNEED), 0);
  r = pages_resident(::getpid(), pages, page);
  EXPECT_EQ(*r, (std::vector<bool>{false, false, true, false}));
  ::munmap(mem, 4 * page);
  r = pages_resident(::getpid(), pages, page);
  EXPECT_EQ(*r, (std::vector<bool>{false, false, false, false}));
  // A process that is not there: no answer rather than "all gone".
  EXPECT_FALSE(pages_resident(999999999, pages, page).has_value());
}

}  // namespace
}  // namespace leakscope
