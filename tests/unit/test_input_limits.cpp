// A size bound that bites on a target's file is said once, and reaches the
// report in every format.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <string>

#include "core/input_limits.h"
#include "report/json.h"
#include "report/model.h"
#include "report/text.h"

namespace leakscope {
namespace {

class InputLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override { clear_input_limits(); }
  void TearDown() override { clear_input_limits(); }
};

TEST_F(InputLimitsTest, EachFileAndLimitOnce) {
  note_input_limit("/proc/1/root/tmp/perf-1.map", "larger than the cap", "read in part");
  note_input_limit("/proc/1/root/tmp/perf-1.map", "larger than the cap", "read in part");
  note_input_limit("/proc/1/root/tmp/perf-1.map", "more symbols than the cap", "read in part");
  note_input_limit("/usr/lib/x.so", "larger than the cap", "not read");
  const auto hits = input_limits_hit();
  ASSERT_EQ(hits.size(), 3u);
  EXPECT_EQ(input_limit_hits_total(), 3u);
  EXPECT_EQ(hits[0].file, "/proc/1/root/tmp/perf-1.map");
  EXPECT_EQ(hits[0].limit, "larger than the cap");
  EXPECT_EQ(hits[2].file, "/usr/lib/x.so");
  EXPECT_EQ(hits[2].effect, "not read");
}

TEST_F(InputLimitsTest, KeepsABoundedListAndCountsTheRest) {
  for (int i = 0; i < 100; ++i) note_input_limit("/f" + std::to_string(i), "cap", "not read");
  EXPECT_EQ(input_limits_hit().size(), kMaxInputLimitHits);
  EXPECT_EQ(input_limit_hits_total(), 100u);
}

TEST_F(InputLimitsTest, FileNamesOfDescriptorsAreWhereTheyLead) {
  EXPECT_EQ(input_file_name("/usr/lib/libc.so.6"), "/usr/lib/libc.so.6");
  const std::string exe = "/proc/" + std::to_string(::getpid()) + "/exe";
  char link[4096];
  const ssize_t n = ::readlink(exe.c_str(), link, sizeof link);
  ASSERT_GT(n, 0);
  EXPECT_EQ(input_file_name(exe), std::string(link, static_cast<size_t>(n)));
  EXPECT_EQ(input_file_name("/proc/self/fd/99999"), "/proc/self/fd/99999");
}

Report report_with_hits() {
  Report r;
  r.generated_at = "2026-12-02T00:00:00Z";
  r.input_limits.push_back(
      {"/proc/7/root/tmp/perf-7.map", "larger than the perf map read cap of 16 MiB", "read in part"});
  r.input_limits.push_back({"/opt/big.so", "larger than the ELF object cap of 4 GiB", "not read"});
  r.input_limits_total = 5;
  return r;
}

TEST_F(InputLimitsTest, TextReportSaysWhichFileAndWhichLimit) {
  const std::string text = render_text(report_with_hits(), 10);
  EXPECT_NE(text.find("Input limits hit (5)"), std::string::npos) << text;
  EXPECT_NE(text.find("/proc/7/root/tmp/perf-7.map: read in part: larger than the perf map read "
                      "cap of 16 MiB"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("/opt/big.so: not read"), std::string::npos) << text;
  EXPECT_NE(text.find("... 3 more"), std::string::npos) << text;
}

TEST_F(InputLimitsTest, TextReportSaysNothingWithoutHits) {
  Report r;
  EXPECT_EQ(render_text(r, 10).find("Input limits"), std::string::npos);
  EXPECT_EQ(input_limits_text(r), "");
}

TEST_F(InputLimitsTest, JsonReportListsTheHits) {
  const nlohmann::json j = nlohmann::json::parse(render_json(report_with_hits()));
  EXPECT_EQ(j["input_limits"]["total"], 5);
  ASSERT_EQ(j["input_limits"]["hits"].size(), 2u);
  EXPECT_EQ(j["input_limits"]["hits"][0]["file"], "/proc/7/root/tmp/perf-7.map");
  EXPECT_EQ(j["input_limits"]["hits"][1]["effect"], "not read");
  const nlohmann::json empty = nlohmann::json::parse(render_json(Report{}));
  EXPECT_EQ(empty["input_limits"]["total"], 0);
  EXPECT_TRUE(empty["input_limits"]["hits"].empty());
}

}  // namespace
}  // namespace leakscope
