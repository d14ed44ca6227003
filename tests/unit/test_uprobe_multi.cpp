// Which kernels get uprobe_multi links: those whose links serve every
// thread of the process (6.10 and later), read off uname's release.
#include <gtest/gtest.h>

#include <cerrno>

#include "probes/uprobe_multi.h"

using namespace leakscope::uprobe_multi;

TEST(UprobeMulti, OnlyKernelsWhoseLinksServeEveryThreadQualify) {
  EXPECT_TRUE(release_at_least("6.18.44", 6, 10));
  EXPECT_TRUE(release_at_least("6.10.0-rc1", 6, 10));
  EXPECT_TRUE(release_at_least("7.0.1", 6, 10));
  EXPECT_TRUE(release_at_least("6.12.48+deb13-amd64", 6, 10));
  // 6.6 to 6.9 make the links, but run them for the main thread only.
  EXPECT_FALSE(release_at_least("6.9.12", 6, 10));
  EXPECT_FALSE(release_at_least("6.6.0", 6, 10));
  EXPECT_FALSE(release_at_least("6.1.0-28-amd64", 6, 10));
  EXPECT_FALSE(release_at_least("5.15.0", 6, 10));
  EXPECT_FALSE(release_at_least("", 6, 10));
  EXPECT_FALSE(release_at_least("linux", 6, 10));
}

TEST(UprobeMulti, AttachRefusesWhatTheKernelNeedNotSee) {
  const uint64_t offsets[] = {0x1000, 0x2000};
  const uint64_t cookies[] = {1};
  EXPECT_EQ(attach(3, 1, "/bin/true", offsets, cookies, false), -EINVAL);  // a cookie short
  EXPECT_EQ(attach(3, 1, "/bin/true", {}, {}, false), -EINVAL);            // nothing to probe
  EXPECT_EQ(attach(-1, 1, "/bin/true", offsets, offsets, false), -EINVAL);
  EXPECT_EQ(attach(3, 0, "/bin/true", offsets, offsets, false), -EINVAL);  // never host-wide
}
