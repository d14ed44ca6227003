// Control requests are untrusted input: each malformed one is refused with
// one line, none throws, and the well-formed ones come out typed.
#include "control/request.h"

#include <gtest/gtest.h>

namespace leakscope {
namespace {

using nlohmann::json;

std::string refusal(const json& request) {
  auto parsed = parse_control_request(request);
  const std::string* error = std::get_if<std::string>(&parsed);
  return error ? *error : std::string();
}

TEST(ControlRequest, MalformedRequestsAreRefusedWithOneLine) {
  const json cases[] = {
      json::parse(R"({"cmd":123})"),
      json::parse(R"({"cmd":null})"),
      json::parse(R"({"cmd":["report"]})"),
      json::parse(R"({"nocmd":1})"),
      json::parse(R"([1,2])"),
      json::parse(R"("report")"),
      json::parse(R"(42)"),
      json::parse("{", nullptr, false),  // discarded: not JSON at all
      json::parse(R"({"cmd":"report","top":"x"})"),
      json::parse(R"({"cmd":"report","top":0})"),
      json::parse(R"({"cmd":"report","top":-3})"),
      json::parse(R"({"cmd":"report","top":1.5})"),
      json::parse(R"({"cmd":"report","formats":"json"})"),
      json::parse(R"({"cmd":"report","formats":["json","xml"]})"),
      json::parse(R"({"cmd":"report","formats":[7]})"),
      json::parse(R"({"cmd":"report","weight":"heavy"})"),
      json::parse(R"({"cmd":"report","weight":1})"),
      json::parse(R"({"cmd":"attach"})"),
      json::parse(R"({"cmd":"attach","pid":"42"})"),
      json::parse(R"({"cmd":"attach","pid":-1})"),
      json::parse(R"({"cmd":"detach","pid":0})"),
      json::parse(R"({"cmd":"detach","pid":99999999999})"),
      json::parse(R"({"cmd":"attach","pid":4.2})"),
      json::parse(R"({"cmd":"shutdown"})"),
      json{{"cmd", std::string("\xff\xfe not utf-8")}},
      json{{"cmd", std::string(10000, 'x')}},
  };
  for (const json& request : cases) {
    std::string error;
    EXPECT_NO_THROW(error = refusal(request)) << request.dump(-1, ' ', true, json::error_handler_t::replace);
    EXPECT_FALSE(error.empty()) << request.dump(-1, ' ', true, json::error_handler_t::replace);
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
    EXPECT_LT(error.size(), 200u) << "a refusal stays one short line, whatever was sent";
  }
  EXPECT_NE(refusal(json::parse(R"({"cmd":"report","formats":["xml"]})")).find("\"xml\""), std::string::npos);
  EXPECT_NE(refusal(json::parse(R"({"cmd":"shutdown"})")).find("report, attach, detach, status"),
            std::string::npos);
}

TEST(ControlRequest, WellFormedRequestsComeOutTyped) {
  auto report = parse_control_request(json::parse(R"({"cmd":"report","formats":["json","pprof"],"top":7,"weight":"growth","later":true})"));
  ASSERT_TRUE(std::holds_alternative<ControlRequest>(report)) << std::get<std::string>(report);
  const auto& r = std::get<ReportRequest>(std::get<ControlRequest>(report));
  EXPECT_EQ(r.formats, (std::vector<Format>{Format::Json, Format::Pprof}));
  EXPECT_EQ(r.top, 7u);
  EXPECT_EQ(r.weight, FoldedWeight::Growth);

  auto plain = parse_control_request(json::parse(R"({"cmd":"report"})"));
  const auto& p = std::get<ReportRequest>(std::get<ControlRequest>(plain));
  EXPECT_EQ(p.formats, std::vector<Format>{Format::Text}) << "text when no format is asked for";
  EXPECT_EQ(p.top, 0u) << "0: the tracer's own --top";

  auto huge = parse_control_request(json::parse(R"({"cmd":"report","top":1000000000000})"));
  EXPECT_EQ(std::get<ReportRequest>(std::get<ControlRequest>(huge)).top, kMaxReportTop);

  auto attach = parse_control_request(json::parse(R"({"cmd":"attach","pid":4242})"));
  EXPECT_EQ(std::get<AttachRequest>(std::get<ControlRequest>(attach)).pid, 4242);
  auto detach = parse_control_request(json::parse(R"({"cmd":"detach","pid":17})"));
  EXPECT_EQ(std::get<DetachRequest>(std::get<ControlRequest>(detach)).pid, 17);
  auto status = parse_control_request(json::parse(R"({"cmd":"status"})"));
  EXPECT_TRUE(std::holds_alternative<StatusRequest>(std::get<ControlRequest>(status)));
}

}  // namespace
}  // namespace leakscope
