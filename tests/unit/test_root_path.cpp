// Files of a containerised process are opened inside its root: symlinks and
// ".." never lead out of it.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <string>

#include "target/root_path.h"

namespace leakscope {
namespace {

std::string read_fd(int fd) {
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

class RootPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/leakscope-root-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    ::mkdir((root_ + "/etc").c_str(), 0755);
    ::mkdir((root_ + "/lib").c_str(), 0755);
    std::ofstream(root_ + "/etc/hostname") << "inside\n";
    std::ofstream(root_ + "/lib/libc.so.6") << "the container's libc\n";
  }
  void TearDown() override { (void)std::system(("rm -rf '" + root_ + "'").c_str()); }
  std::string root_;
};

TEST_F(RootPathTest, PlainPathOpensTheFileInsideTheRoot) {
  UniqueFd fd = open_in_root(root_, "/lib/libc.so.6");
  ASSERT_GE(fd.get(), 0);
  EXPECT_EQ(read_fd(fd.get()), "the container's libc\n");
}

TEST_F(RootPathTest, AbsoluteSymlinkResolvesInsideTheRootNotOnTheHost) {
  ASSERT_EQ(::symlink("/etc/hostname", (root_ + "/lib/evil").c_str()), 0);
  UniqueFd fd = open_in_root(root_, "/lib/evil");
  ASSERT_GE(fd.get(), 0);
  EXPECT_EQ(read_fd(fd.get()), "inside\n");  // the root's /etc/hostname, not the host's
}

// The perf map's case: a directory on the way (/tmp) that is an absolute
// symlink is followed inside the root too, not only the last component.
TEST_F(RootPathTest, SymlinkedDirectoryOnTheWayResolvesInsideTheRoot) {
  ASSERT_EQ(::mkdir((root_ + "/real_tmp").c_str(), 0755), 0);
  std::ofstream(root_ + "/real_tmp/perf-1.map") << "inside\n";
  ASSERT_EQ(::symlink("/real_tmp", (root_ + "/tmp").c_str()), 0);
  UniqueFd fd = open_in_root(root_, "/tmp/perf-1.map", O_NONBLOCK | O_NOFOLLOW);
  ASSERT_GE(fd.get(), 0);
  EXPECT_EQ(read_fd(fd.get()), "inside\n");
  // A symlink to the host's /tmp (or any host directory) names nothing here.
  ASSERT_EQ(::unlink((root_ + "/tmp").c_str()), 0);
  ASSERT_EQ(::symlink((root_ + "/real_tmp").c_str(), (root_ + "/tmp").c_str()), 0);
  EXPECT_LT(open_in_root(root_, "/tmp/perf-1.map").get(), 0);
}

TEST_F(RootPathTest, ExtraFlagsApplyToTheLastComponent) {
  ASSERT_EQ(::symlink("/etc/hostname", (root_ + "/lib/link").c_str()), 0);
  EXPECT_GE(open_in_root(root_, "/lib/link").get(), 0);
  UniqueFd fd = open_in_root(root_, "/lib/link", O_NOFOLLOW);
  EXPECT_LT(fd.get(), 0);
  EXPECT_EQ(errno, ELOOP);
}

TEST_F(RootPathTest, DotDotCannotClimbOutOfTheRoot) {
  ASSERT_EQ(::symlink("../../../../../../etc/hostname", (root_ + "/lib/up").c_str()), 0);
  UniqueFd fd = open_in_root(root_, "/lib/up");
  ASSERT_GE(fd.get(), 0);
  EXPECT_EQ(read_fd(fd.get()), "inside\n");
  UniqueFd direct = open_in_root(root_, "/../../../etc/hostname");
  ASSERT_GE(direct.get(), 0);
  EXPECT_EQ(read_fd(direct.get()), "inside\n");
}

TEST_F(RootPathTest, MagicLinksAreRefused) {
  ASSERT_EQ(::symlink("/proc/self/root/etc/hostname", (root_ + "/lib/magic").c_str()), 0);
  // Inside the root there is no /proc: nothing to open, and never the host's file.
  UniqueFd fd = open_in_root(root_, "/lib/magic");
  EXPECT_LT(fd.get(), 0);
}

TEST_F(RootPathTest, MissingFileIsAnError) {
  EXPECT_LT(open_in_root(root_, "/lib/nothing.so").get(), 0);
}

}  // namespace
}  // namespace leakscope
