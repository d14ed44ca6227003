// Names leakscope reads from targets (comm, cmdline, symbols) may hold any
// bytes: a process can name itself "\xff\xfe" with prctl. Reports and
// control replies carry them without throwing.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "control/protocol.h"
#include "core/terminal_text.h"
#include "report/text.h"
#include "report/json.h"
#include "report/model.h"

namespace leakscope {
namespace {

const std::string kNotUtf8 = "\xff\xfe\xc3(";

// A report of one process named `name` (its comm and first argument),
// with one stack whose function is "fn" + name.
Report report_named(const std::string& name) {
  Report r;
  ImageEntry image;
  image.pid = 42;
  image.comm = name;
  image.cmdline = {name, "--flag"};
  r.processes.push_back(image);
  StackEntry s;
  s.pid = 42;
  s.comm = name;
  s.live_bytes = 4096;
  s.live_objects = 1;
  Frame f;
  f.function = "fn" + name;
  s.frames.push_back(f);
  r.stacks.push_back(s);
  return r;
}

TEST(UntrustedNames, JsonReportWithNamesThatAreNotUtf8) {
  Report r = report_named(kNotUtf8);
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

// A process that names itself with an escape sequence (prctl takes any
// bytes) must not drive the terminal of whoever reads leakscope's text
// report: its control characters are shown, not sent.
TEST(UntrustedNames, TextReportShowsATargetsEscapeSequencesInsteadOfSendingThem) {
  const std::string hostile = "evil\x1b]0;owned\x07\x1b[2J\xc2\x9b" "31m\x7f";
  const std::string text = terminal_safe(render_text(report_named(hostile), 10));
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
  EXPECT_EQ(text.find('\x07'), std::string::npos);
  EXPECT_EQ(text.find('\x7f'), std::string::npos);
  EXPECT_EQ(text.find("\xc2\x9b"), std::string::npos) << "a C1 CSI in UTF-8 passed";
  EXPECT_NE(text.find("evil\\x1b]0;owned\\x07"), std::string::npos) << "shown escaped: " << text;
  EXPECT_NE(text.find('\n'), std::string::npos) << "the report's own lines stay";
}

TEST(UntrustedNames, TerminalSafeKeepsTextAndUtf8) {
  EXPECT_EQ(terminal_safe("a\tb\nc"), "a\tb\nc");
  EXPECT_EQ(terminal_safe("caf\xc3\xa9 \xe2\x86\x90"), "caf\xc3\xa9 \xe2\x86\x90");
  EXPECT_EQ(terminal_safe("\xc3\x80"), "\xc3\x80") << "U+00C0 is a letter, its second byte no control";
  EXPECT_EQ(terminal_safe(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(terminal_safe("\r"), "\\x0d");
  EXPECT_EQ(terminal_safe("x\x9by"), "x\\x9by") << "a lone 8-bit CSI";
  EXPECT_EQ(terminal_safe("A\x9b\x9b" "2J"), "A\\x9b\\x9b" "2J") << "two in a row";
  EXPECT_EQ(terminal_safe("\xff\x9b" "2J"), "\xff\\x9b" "2J") << "after a byte that is no UTF-8";
  EXPECT_EQ(terminal_safe("\xa0\x9b"), "\xa0\\x9b");
  EXPECT_EQ(terminal_safe("\xc3\x9b \xc3\x80"), "\xc3\x9b \xc3\x80") << "U+00DB and U+00C0 are letters";
  EXPECT_EQ(terminal_safe("\xc2\x9b"), "\\xc2\\x9b") << "U+009B, the C1 CSI";
  EXPECT_EQ(terminal_safe("\xe2\x86"), "\xe2\\x86") << "a sequence cut short";
}

}  // namespace
}  // namespace leakscope
