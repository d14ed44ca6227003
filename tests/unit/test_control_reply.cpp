// A tracer's reply as the control commands decode and read it: framing from
// bytes (no socket), the tracer's verdict as an exit code, and a reply
// well framed but of the wrong shape as a one-line error, never a JSON
// library exception.
#include <gtest/gtest.h>

#include <string>

#include "cli/control_replies.h"
#include "control/client.h"
#include "control/protocol.h"
#include "core/errors.h"

namespace leakscope {
namespace {

using nlohmann::json;

const char* kPath = "/run/leakscope/leakscope-7.sock";

ClientReply decode(const std::string& bytes) {
  BytesReader source(bytes);
  return read_control_reply(source, kPath, 60);
}

// The FatalError `run` throws (code and message); Ok and "" when none.
template <class Run>
std::pair<ExitCode, std::string> fatal_error_of(Run run) {
  try {
    run();
  } catch (const FatalError& e) {
    return {e.code(), e.what()};
  }
  return {ExitCode::Ok, ""};
}

TEST(ControlReply, PartsAreReadByTheirSizesFromTheServersEncoding) {
  ControlReply sent = reply_ok();
  sent.parts.push_back({"text", "line one\nline two\n"});
  sent.parts.push_back({"pprof", std::string("\x1f\x8b\0\n\xff", 5)});
  ClientReply got = decode(encode_reply(sent));
  EXPECT_EQ(got.header["ok"], true);
  ASSERT_EQ(got.parts.size(), 2u);
  EXPECT_EQ(got.parts[0].name, "text");
  EXPECT_EQ(got.parts[0].bytes, "line one\nline two\n");
  EXPECT_EQ(got.parts[1].name, "pprof");
  EXPECT_EQ(got.parts[1].bytes, std::string("\x1f\x8b\0\n\xff", 5));
  EXPECT_EQ(&report_parts(got, {"text", "pprof"}), &got.parts);
}

TEST(ControlReply, APartCutShortIsNoCompleteAnswer) {
  ControlReply sent = reply_ok();
  sent.parts.push_back({"json", std::string(100, 'x')});
  std::string bytes = encode_reply(sent);
  bytes.resize(bytes.size() - 1);
  auto [code, message] = fatal_error_of([&] { decode(bytes); });
  EXPECT_EQ(code, ExitCode::Failure);
  EXPECT_EQ(message, std::string("the tracer at ") + kPath + " gave no complete answer");
  // A size far past what came is the same (never allocated up front).
  std::tie(code, message) = fatal_error_of(
      [&] { decode(R"({"ok":true,"parts":[{"name":"json","size":18446744073709551615}]})" "\nabc"); });
  EXPECT_EQ(code, ExitCode::Failure);
  EXPECT_EQ(message, std::string("the tracer at ") + kPath + " gave no complete answer");
}

// Parts that announce more than kMaxReplyPartBytes in all are refused from
// the header, before the client reads (and holds) a byte of them.
TEST(ControlReply, PartsAnnouncingMoreThanTheBoundInAllAreRefusedUnread) {
  const uint64_t half = kMaxReplyPartBytes / 2 + 1;
  struct Counting : ByteSource {
    BytesReader inner;
    uint64_t asked = 0;
    explicit Counting(std::string_view b) : inner(b) {}
    IoStatus line(std::string* out, size_t limit) override { return inner.line(out, limit); }
    IoStatus exact(size_t n, std::string* out) override {
      asked += n;
      return inner.exact(n, out);
    }
  };
  const std::string header = R"({"ok":true,"parts":[{"name":"json","size":)" + std::to_string(half) +
                             R"(},{"name":"html","size":)" + std::to_string(half) + "}]}\nabc";
  Counting source(header);
  auto [code, message] = fatal_error_of([&] { read_control_reply(source, kPath, 60); });
  EXPECT_EQ(code, ExitCode::Failure);
  EXPECT_EQ(message, std::string("the tracer at ") + kPath + " gave no complete answer");
  EXPECT_EQ(source.asked, 0u) << "a part was read before the total was checked";
}

TEST(ControlReply, AHeaderThatIsNoJsonObjectIsNoCompleteAnswer) {
  const std::string headers[] = {
      "[1,2]\n",
      "\"ok\"\n",
      "true\n",
      "not json\n",
      "{\"ok\":true\n",
      "{\"ok\":true}",  // no newline: the tracer hung up mid-line
      "",
      R"({"ok":true,"parts":{"name":"text","size":1}})" "\nx",
      R"({"ok":true,"parts":[{"name":"text","size":-1}]})" "\n",
      R"({"ok":true,"parts":[{"name":"text","size":1.5}]})" "\nxx",
      R"({"ok":true,"parts":[{"name":"text"}]})" "\n",
      R"({"ok":true,"parts":[7]})" "\n",
      // Nested past kMaxReplyHeaderDepth.
      R"({"ok":true,"status":)" + std::string(100, '[') + std::string(100, ']') + "}\n",
      // More parts than a reply may list.
      [] {
        json parts = json::array();
        for (size_t i = 0; i <= kMaxReplyParts; ++i) parts.push_back({{"name", "text"}, {"size", 0}});
        return json{{"ok", true}, {"parts", parts}}.dump() + "\n";
      }(),
  };
  for (const std::string& bytes : headers) {
    auto [code, message] = fatal_error_of([&] { decode(bytes); });
    EXPECT_EQ(code, ExitCode::Failure) << bytes;
    EXPECT_EQ(message, std::string("the tracer at ") + kPath + " gave no complete answer") << bytes;
  }
}

TEST(ControlReply, AnOverlongHeaderLineIsRefusedAtItsLimit) {
  std::string bytes(kMaxReplyHeaderBytes + 1, ' ');
  auto [code, message] = fatal_error_of([&] { decode(bytes); });
  EXPECT_EQ(code, ExitCode::Failure);
  EXPECT_EQ(message, std::string("the tracer at ") + kPath + " gave no complete answer");
}

TEST(ControlReply, AnErrorReplyBecomesItsExitCode) {
  struct Case {
    std::string header;
    ExitCode code;
    std::string message;
  } cases[] = {
      {R"({"ok":false,"error":"no process with PID 99999"})", ExitCode::NoSuchProcess, "no process with PID 99999"},
      {R"({"ok":false,"error":"permission denied: only root may control leakscope"})", ExitCode::Permission,
       "permission denied: only root may control leakscope"},
      {R"({"ok":false,"error":"PID 7 is already traced"})", ExitCode::Failure, "PID 7 is already traced"},
      {R"({"ok":false,"error":"busy\n\u001b[2Jstill busy"})", ExitCode::Failure, "busy  [2Jstill busy"},
      {R"({"ok":false,"error":7})", ExitCode::Failure, "request failed"},
      {R"({"ok":"yes"})", ExitCode::Failure, "request failed"},
      {R"({})", ExitCode::Failure, "request failed"},
  };
  for (const Case& c : cases) {
    auto [code, message] = fatal_error_of([&] { decode(c.header + "\n"); });
    EXPECT_EQ(code, c.code) << c.header;
    EXPECT_EQ(message, c.message) << c.header;
  }
}

json status_header(json status) { return json{{"ok", true}, {"status", std::move(status)}}; }

TEST(ControlReply, AStatusIsRenderedAsBefore) {
  json status = {{"pid", 4242},
                 {"version", "0.9.0"},
                 {"uptime_seconds", 12.4},
                 {"ticks", 25},
                 {"kinds", {"heap", "mmap"}},
                 {"targets", {{{"pid", 1234}, {"comm", "leaky"}, {"state", "traced"}, {"live_bytes", 2048},
                               {"live_objects", 2}, {"traced_seconds", 12.1}}}},
                 {"probes", 6},
                 {"maps", {{"objects", {{"used", 2}, {"capacity", 1024}}}, {"ledger", {{"used", 1}, {"capacity", 64}}}}},
                 {"drops", {{"stacks_lost", 3}}},
                 {"alerts_firing", 1},
                 {"sinks", {{{"name", "webhook"}, {"delivered", 4}, {"failures", 1}, {"last_error", "HTTP 503"}}}},
                 {"control", "/run/leakscope/leakscope-4242.sock"}};
  EXPECT_EQ(status_text(status_header(status)),
            "leakscope 0.9.0 (pid 4242), up 12s, 25 ticks, control /run/leakscope/leakscope-4242.sock\n"
            "kinds: heap mmap\n"
            "targets:\n"
            "  1234     leaky            traced    live 2.00 KiB in 2 objects, traced 12s\n"
            "maps: objects 2/1024, ledger 1/64; probes 6\n"
            "drops: stacks_lost 3\n"
            "alerts firing: 1\n"
            "  sink webhook: 4 sent, 1 failed, 0 dropped, 0 queued; last error: HTTP 503\n");
  EXPECT_EQ(json::parse(status_json_text(status_header(status))), status);
}

TEST(ControlReply, AStatusOfTheWrongShapeIsAOneLineError) {
  // Decoded from bytes, as `leakscope status` gets it.
  ClientReply reply = decode(R"({"ok":true,"status":{"ticks":"x"}})" "\n");
  auto [code, message] = fatal_error_of([&] { status_text(reply.header); });
  EXPECT_EQ(code, ExitCode::Failure);
  EXPECT_EQ(message, "the tracer's reply is malformed: status.ticks is not an integer in range");

  const std::pair<json, std::string> cases[] = {
      {json{{"ok", true}}, "it holds no status"},
      {status_header(7), "status is not an object"},
      {status_header({{"pid", 1e30}}), "status.pid is not an integer in range"},
      {status_header({{"ticks", -1}}), "status.ticks is not an integer in range"},
      {status_header({{"version", 1}}), "status.version is not a string"},
      {status_header({{"uptime_seconds", "long"}}), "status.uptime_seconds is not a number"},
      {status_header({{"kinds", "heap"}}), "status.kinds is not an array"},
      {status_header({{"kinds", {"heap", 2}}}), "status.kinds[1] is not a string"},
      {status_header({{"targets", {json::object(), {{"comm", {1, 2}}}}}}), "status.targets[1].comm is not a string"},
      {status_header({{"targets", {"leaky"}}}), "status.targets[0] is not an object"},
      {status_header({{"maps", {{"objects", {{"used", "x"}}}}}}), "status.maps.objects.used is not an integer in range"},
      {status_header({{"drops", {{"stacks\nlost", "x"}}}}), "status.drops.\"stacks\\nlost\" is not a number"},
      {status_header({{"alerts_firing", {1}}}), "status.alerts_firing is not an integer in range"},
      {status_header({{"sinks", {{{"queued", 0.5}}}}}), "status.sinks[0].queued is not an integer in range"},
  };
  for (const auto& [header, what] : cases) {
    std::tie(code, message) = fatal_error_of([&] { status_text(header); });
    EXPECT_EQ(code, ExitCode::Failure) << header.dump();
    EXPECT_EQ(message, "the tracer's reply is malformed: " + what) << header.dump();
    EXPECT_EQ(message.find('\n'), std::string::npos);
  }
  std::tie(code, message) = fatal_error_of([&] { status_json_text(json{{"ok", true}}); });
  EXPECT_EQ(message, "the tracer's reply is malformed: it holds no status");
}

TEST(ControlReply, AReportMustHoldTheFormatsAskedForInOrder) {
  ClientReply reply = decode(encode_reply([] {
    ControlReply r = reply_ok();
    r.parts.push_back({"json", "{}"});
    r.parts.push_back({"../../etc/passwd", "x"});
    return r;
  }()));
  auto [code, message] = fatal_error_of([&] { report_parts(reply, {"text"}); });
  EXPECT_EQ(code, ExitCode::Failure);
  EXPECT_EQ(message, "the tracer's reply is malformed: 2 parts for 1 formats asked for");
  std::tie(code, message) = fatal_error_of([&] { report_parts(reply, {"json", "html"}); });
  EXPECT_EQ(message, "the tracer's reply is malformed: part 2 is \"../../etc/passwd\", not the html asked for");
  std::tie(code, message) = fatal_error_of([&] { report_parts(ClientReply{json{{"ok", true}}, {}}, {"text"}); });
  EXPECT_EQ(message, "the tracer's reply is malformed: 0 parts for 1 formats asked for");
}

TEST(ControlReply, AnActionsMessageMustBeText) {
  EXPECT_EQ(action_message(json{{"ok", true}, {"message", "tracing PID 7 (leaky)"}}), "tracing PID 7 (leaky)");
  EXPECT_EQ(action_message(json{{"ok", true}}), "done");
  auto [code, message] = fatal_error_of([&] { action_message(json{{"ok", true}, {"message", {1}}}); });
  EXPECT_EQ(code, ExitCode::Failure);
  EXPECT_EQ(message, "the tracer's reply is malformed: reply.message is not a string");
}

}  // namespace
}  // namespace leakscope
