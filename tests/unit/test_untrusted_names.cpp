// Names leakscope reads from targets (comm, cmdline, symbols) may hold any
// bytes: a process can name itself "\xff\xfe" with prctl. Reports and
// control replies carry them without throwing.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "control/protocol.h"
#include "report/json.h"
#include "report/model.h"

namespace leakscope {
namespace {

const std::string kNotUtf8 = "\xff\xfe\xc3(";

TEST(UntrustedNames, JsonReportWithNamesThatAreNotUtf8) {
  Report r;
  ImageEntry image;
  image.pid = 42;
  image.comm = kNotUtf8;
  image.cmdline = {kNotUtf8, "--flag"};
  r.processes.push_back(image);
  StackEntry s;
  s.pid = 42;
  s.comm = kNotUtf8;
  s.live_bytes = 10;
  s.live_objects = 1;
  Frame f;
  f.function = "fn" + kNotUtf8;
  s.frames.push_back(f);
  r.stacks.push_back(s);
  std::string text;
  ASSERT_NO_THROW(text = render_json(r));
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded());
  EXPECT_EQ(parsed["processes"][0]["cmdline"][1], "--flag");
  EXPECT_NE(parsed["processes"][0]["comm"].get<std::string>(), kNotUtf8) << "replaced, not passed through";
}

TEST(UntrustedNames, ControlReplyWithNamesThatAreNotUtf8) {
  ControlReply reply = reply_ok({{"message", "tracing PID 42 (" + kNotUtf8 + ")"}});
  std::string wire;
  ASSERT_NO_THROW(wire = encode_reply(reply));
  nlohmann::json header = nlohmann::json::parse(wire.substr(0, wire.find('\n')), nullptr, false);
  ASSERT_FALSE(header.is_discarded());
  EXPECT_EQ(header["ok"], true);
}

}  // namespace
}  // namespace leakscope
