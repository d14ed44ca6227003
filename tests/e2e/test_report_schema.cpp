// The JSON report of a real trace against docs/report.schema.json, with the
// system's python3-jsonschema. Checked strictly: the validator closes every
// object of the schema (no properties but those declared), so a field the
// tracer writes and the schema does not declare fails here.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <thread>

#include "harness.h"
#include "services.h"

using namespace e2e;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

fs::path schema_path() {
  return fs::path(__FILE__).parent_path().parent_path().parent_path() / "docs" /
         "report.schema.json";
}

// Exit status: 0 valid, 1 invalid (errors printed), 2 bad schema, 3 no jsonschema.
constexpr const char* kClosedValidator = R"PY(
import json, sys
try:
    import jsonschema
except ImportError:
    print("python3-jsonschema is missing: run tools/setup")
    sys.exit(3)
schema = json.load(open(sys.argv[1]))
instance = json.load(open(sys.argv[2]))
def close(node):
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for v in node.values():
            close(v)
    elif isinstance(node, list):
        for v in node:
            close(v)
close(schema)
cls = jsonschema.validators.validator_for(schema)
try:
    cls.check_schema(schema)
except jsonschema.exceptions.SchemaError as e:
    print("invalid schema:", e.message)
    sys.exit(2)
errors = sorted(cls(schema).iter_errors(instance), key=lambda e: list(e.absolute_path))
for e in errors:
    print("/".join(str(p) for p in e.absolute_path) + ": " + e.message)
sys.exit(1 if errors else 0)
)PY";

// Validates `report` against the closed schema; returns {status, output}.
std::pair<int, std::string> validate_closed(const json& report) {
  const std::string dir = "/tmp/leakscope-e2e-schema-" + std::to_string(::getpid());
  fs::create_directories(dir);
  std::ofstream(dir + "/validate.py") << kClosedValidator;
  std::ofstream(dir + "/report.json") << report.dump(2);
  auto result = run_command("/usr/bin/python3 " + dir + "/validate.py '" + schema_path().string() +
                            "' " + dir + "/report.json");
  fs::remove_all(dir);
  return result;
}

}  // namespace

TEST(ReportSchemaE2E, RealTraceReportDeclaresEveryField) {
  ASSERT_TRUE(fs::exists(schema_path())) << schema_path();
  // One of each kind the fixtures make: heap, mmap, timerfd (armed), epoll.
  std::vector<std::unique_ptr<Fixture>> fx;
  fx.push_back(std::make_unique<Fixture>("leaky"));
  fx.push_back(std::make_unique<Fixture>("maps", std::vector<std::string>{"leak"}));
  fx.push_back(std::make_unique<Fixture>("timers", std::vector<std::string>{"leak"}));
  fx.push_back(std::make_unique<Fixture>("epolls", std::vector<std::string>{"leak"}));
  std::string pids;
  for (const auto& f : fx) pids += (pids.empty() ? "" : ",") + std::to_string(f->pid());
  const std::string path = "/tmp/leakscope-e2e-schema.json";
  Leakscope ls({"trace", "-p", pids, "--tick", "200ms", "-q", "--json", path});
  ASSERT_TRUE(ls.wait_tracing()) << ls.err();
  for (auto& f : fx) f->go();
  for (auto& f : fx) f->wait_done();
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  ASSERT_EQ(ls.stop(), 0) << ls.err();
  const json report = take_json(path);
  ASSERT_TRUE(report.is_object()) << ls.err();

  // The report really holds the parts that are easy to leave undeclared.
  std::set<std::string> kinds;
  bool armed = false;
  for (const auto& s : report["stacks"]) {
    kinds.insert(s["kind"].get<std::string>());
    armed |= s.contains("armed");
    EXPECT_EQ(s["unit"], s["kind"] == "timerfd" || s["kind"] == "epoll" ? "objects" : "bytes")
        << s.dump();
  }
  for (const char* kind : {"heap", "mmap", "timerfd", "epoll"}) EXPECT_TRUE(kinds.count(kind)) << kind;
  EXPECT_TRUE(armed) << "no timerfd stack with armed";
  EXPECT_TRUE(report["health"].contains("events_lost"));

  auto [status, output] = validate_closed(report);
  ASSERT_NE(status, 3) << output;
  ASSERT_NE(status, 2) << output;
  EXPECT_EQ(status, 0) << output;

  // The closed schema does refuse what it does not declare.
  json planted = report;
  planted["stacks"][0]["not_in_the_schema"] = 1;
  std::tie(status, output) = validate_closed(planted);
  EXPECT_EQ(status, 1) << output;
  EXPECT_NE(output.find("not_in_the_schema"), std::string::npos) << output;
}
