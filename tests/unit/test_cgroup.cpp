#include <gtest/gtest.h>
#include <unistd.h>

#include "target/cgroup.h"

using namespace leakscope;

namespace {
const std::string kId = "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899";
}

TEST(CgroupTest, V2PathWins) {
  EXPECT_EQ(parse_cgroup_path("0::/system.slice/nginx.service\n"), "/system.slice/nginx.service");
  EXPECT_EQ(parse_cgroup_path("12:cpu:/x\n4:memory:/kubepods/pod1\n"), "/kubepods/pod1");
}

TEST(CgroupTest, ContainerIdsOfCommonRuntimes) {
  EXPECT_EQ(container_id_from_cgroup("/system.slice/docker-" + kId + ".scope"), kId);
  EXPECT_EQ(container_id_from_cgroup("/docker/" + kId), kId);
  EXPECT_EQ(container_id_from_cgroup("/kubepods.slice/kubepods-pod1.slice/cri-containerd-" + kId +
                                     ".scope"),
            kId);
  EXPECT_EQ(container_id_from_cgroup("/user.slice/user-0.slice/session-3.scope"), "");
  EXPECT_EQ(container_id_from_cgroup("/" + kId + "0"), "");  // 65 digits is no id
}

TEST(CgroupTest, OwnProcessHasACgroup) { EXPECT_FALSE(process_cgroup(::getpid()).empty()); }
