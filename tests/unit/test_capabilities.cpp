// Which capabilities a trace asks for (README "Capabilities"), and that the
// tracer's own set is the one packaging/capabilities.txt gives the systemd
// unit and the DaemonSet.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "core/capabilities.h"

using namespace leakscope;

namespace {

uint64_t set_of(const std::vector<Capability>& caps) {
  uint64_t set = 0;
  for (Capability cap : caps) set |= 1ull << static_cast<int>(cap);
  return set;
}

std::vector<std::string> names(const std::vector<MissingCapability>& missing) {
  std::vector<std::string> out;
  for (const auto& m : missing) out.push_back(capability_name(m.cap));
  return out;
}

using Names = std::vector<std::string>;

}  // namespace

TEST(CapabilitiesTest, ServiceSetIsThePackagingList) {
  std::ifstream in(std::string(LEAKSCOPE_TEST_DATA_DIR) + "/../../packaging/capabilities.txt");
  ASSERT_TRUE(in.good());
  Names listed;
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line[0] != '#') listed.push_back(line);
  Names ours;
  for (Capability cap : service_capabilities()) ours.push_back(capability_name(cap));
  EXPECT_EQ(ours, listed);
}

TEST(CapabilitiesTest, ServiceSetIsEnoughForEverything) {
  const uint64_t set = set_of(service_capabilities());
  EXPECT_TRUE(missing_capabilities({.uprobes = true, .other_users = true}, set).empty());
  EXPECT_TRUE(missing_capabilities({.uprobes = false, .other_users = false}, set).empty());
}

TEST(CapabilitiesTest, EachDroppedIsNamedAlone) {
  const PrivilegeNeeds all{.uprobes = true, .other_users = true};
  for (Capability dropped : service_capabilities()) {
    uint64_t set = set_of(service_capabilities()) & ~(1ull << static_cast<int>(dropped));
    EXPECT_EQ(names(missing_capabilities(all, set)), Names{capability_name(dropped)});
  }
}

TEST(CapabilitiesTest, UprobesTakeSysAdminEvenWithBpfAndPerfmon) {
  const uint64_t set = set_of({Capability::Bpf, Capability::Perfmon});
  EXPECT_EQ(names(missing_capabilities({.uprobes = true}, set)), Names{"CAP_SYS_ADMIN"});
  // Without allocator probes, CAP_BPF and CAP_PERFMON load and attach the rest.
  EXPECT_TRUE(missing_capabilities({.uprobes = false}, set).empty());
  EXPECT_EQ(names(missing_capabilities({.uprobes = false}, set_of({Capability::Bpf}))),
            Names{"CAP_PERFMON"});
  EXPECT_EQ(names(missing_capabilities({.uprobes = false}, 0)), (Names{"CAP_BPF", "CAP_PERFMON"}));
}

TEST(CapabilitiesTest, OwnProcessesNeedNeitherPtraceNorDacReadSearch) {
  const uint64_t set = set_of({Capability::SysAdmin});
  EXPECT_TRUE(missing_capabilities({.uprobes = true, .other_users = false}, set).empty());
  EXPECT_EQ(names(missing_capabilities({.uprobes = true, .other_users = true}, set)),
            (Names{"CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH"}));
}
