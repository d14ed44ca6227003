#include "tracer/page_check.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

namespace leakscope {
namespace {

std::optional<PageCheck::Result> wait_result(PageCheck& check) {
  for (int i = 0; i < 500; ++i) {
    if (auto r = check.take()) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return std::nullopt;
}

TEST(PageCheck, FindsThePagesAProcessGaveBackOffTheCallersThread) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  auto* region = static_cast<char*>(::mmap(nullptr, 4 * page, PROT_READ | PROT_WRITE,
                                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(region, MAP_FAILED);
  std::memset(region, 1, 4 * page);
  ASSERT_EQ(::madvise(region + page, 2 * page, MADV_DONTNEED), 0);  // pages 1 and 2 go back
  const auto base = reinterpret_cast<uint64_t>(region);

  PageCheck check;
  EXPECT_TRUE(check.idle());
  ASSERT_TRUE(check.submit({7, ::getpid(), {base, base + page, base + 2 * page, base + 3 * page}, page}));
  EXPECT_FALSE(check.submit({7, ::getpid(), {base}, page})) << "one batch at a time";
  auto result = wait_result(check);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->id, 7u);
  EXPECT_FALSE(result->process_gone);
  EXPECT_EQ(result->gone, (std::vector<uint64_t>{base + page, base + 2 * page}));
  EXPECT_TRUE(check.idle()) << "taken: ready for the next batch";
  EXPECT_FALSE(check.take()) << "a result is taken once";
  ::munmap(region, 4 * page);
}

TEST(PageCheck, AProcessThatIsGoneSaysSo) {
  PageCheck check;
  ASSERT_TRUE(check.submit({3, 0x3fffffff, {0x1000}, 4096}));
  auto result = wait_result(check);
  ASSERT_TRUE(result);
  EXPECT_TRUE(result->process_gone);
}

}  // namespace
}  // namespace leakscope
