// Validates render_json's output against docs/report.schema.json with the
// system's python3-jsonschema (Debian package; tools/setup installs it).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "js_stack.h"
#include "report/json.h"
#include "report/model.h"

using namespace leakscope;
namespace fs = std::filesystem;

namespace {

constexpr const char* kPython = "/usr/bin/python3";

// Exit status: 0 valid, 1 invalid (errors printed), 2 bad schema, 3 no jsonschema.
constexpr const char* kValidator = R"PY(
import json, sys
try:
    import jsonschema
except ImportError:
    print("python3-jsonschema is missing")
    sys.exit(3)
with open(sys.argv[1]) as f:
    schema = json.load(f)
with open(sys.argv[2]) as f:
    instance = json.load(f)
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

fs::path repo_root() { return fs::path(__FILE__).parent_path().parent_path().parent_path(); }
fs::path schema_path() { return repo_root() / "docs" / "report.schema.json"; }

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "leakscope-schema-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) != nullptr) path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

struct Outcome {
  int status = -1;  // exit status of the validator, -1 if it did not run
  std::string output;
};

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

Outcome validate(const std::string& json_text) {
  Outcome o;
  TempDir dir;
  if (dir.path.empty()) {
    o.output = "cannot create a temporary directory";
    return o;
  }
  const fs::path instance = dir.path / "report.json";
  const fs::path script = dir.path / "validate.py";
  {
    std::ofstream(instance) << json_text;
    std::ofstream(script) << kValidator;
  }
  const std::string cmd = std::string(kPython) + " " + quote(script.string()) + " " +
                          quote(schema_path().string()) + " " + quote(instance.string()) + " 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) {
    o.output = "popen failed";
    return o;
  }
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) o.output.append(buf, n);
  const int raw = ::pclose(pipe);
  if (raw != -1 && WIFEXITED(raw)) o.status = WEXITSTATUS(raw);
  return o;
}

// Fails the test (with what to do) unless the validator can run at all.
void require_validator() {
  ASSERT_EQ(::access(kPython, X_OK), 0)
      << kPython << " is missing: run tools/setup (Debian packages python3, python3-jsonschema)";
  ASSERT_TRUE(fs::exists(schema_path())) << "schema not found at " << schema_path();
}

void expect_valid(const std::string& json_text) {
  const Outcome o = validate(json_text);
  ASSERT_NE(o.status, 3) << "python3-jsonschema is missing: run tools/setup "
                            "(Debian packages python3, python3-jsonschema)";
  ASSERT_NE(o.status, 2) << o.output;
  EXPECT_EQ(o.status, 0) << o.output;
}

void expect_invalid(const std::string& json_text, const std::string& mentions) {
  const Outcome o = validate(json_text);
  ASSERT_NE(o.status, 3) << "python3-jsonschema is missing: run tools/setup "
                            "(Debian packages python3, python3-jsonschema)";
  ASSERT_NE(o.status, 2) << o.output;
  EXPECT_EQ(o.status, 1) << "expected a validation failure, got:\n" << o.output;
  EXPECT_NE(o.output.find(mentions), std::string::npos) << o.output;
}

Frame frame(std::string function, std::string file, int line, uint64_t offset) {
  Frame f;
  f.address = 0x55d0c0a00000 + offset;
  f.function = std::move(function);
  f.file = std::move(file);
  f.line = line;
  f.module = "/usr/local/bin/server";
  f.module_offset = offset;
  f.build_id = "3f2a9c";
  return f;
}

// A report as a real run produces it: several processes and kinds, every
// verdict, unsymbolized frames, an exited process, sinks with an error.
Report realistic_report() {
  Report r;
  r.tool_version = "0.4.0";
  r.host = "web-01";
  r.generated_at = "2026-11-25T16:07:09Z";
  r.elapsed_seconds = 93.5;
  r.final = true;
  r.window_seconds = 60;
  r.alerts_firing = 1;

  ImageEntry server;
  server.pid = 14446;
  server.comm = "server";
  server.cmdline = {"/usr/local/bin/server", "--port", "8080"};
  server.allocator_module = "/usr/lib/x86_64-linux-gnu/libc.so.6";
  server.cgroup = "/system.slice/docker-abc123.scope";
  server.container_id = "abc123";
  server.traced_seconds = 93.5;
  server.live_bytes = 2 << 20;
  server.live_objects = 4097;
  server.allocator_growth = {3 << 20, 24, 33000.5};  // glibc's arena grew with brk
  server.allocator_beyond_live_bytes = 1 << 20;
  server.allocator_growth_unattributed_bytes = 135168;
  r.processes.push_back(server);
  ImageEntry worker;
  worker.pid = 14450;
  worker.comm = "worker";
  worker.cmdline = {"worker"};
  worker.allocator_module = "/usr/lib/x86_64-linux-gnu/libc.so.6";
  worker.cgroup = "/user.slice";
  worker.exited = true;
  worker.traced_seconds = 12.25;
  r.processes.push_back(worker);

  StackEntry leak;
  leak.pid = 14446;
  leak.comm = "server";
  leak.kind = Kind::Heap;
  leak.allocator = "operator new";
  leak.stack_id = 17;
  leak.live_bytes = 2 << 20;
  leak.live_objects = 4097;
  leak.allocs = 8194;
  leak.frees = 4097;
  leak.bytes_allocated = 4 << 20;
  leak.growth_bytes_per_sec = 113459.2;
  leak.growth_objects_per_sec = 44.5;
  leak.assessment.verdict = Verdict::Leak;
  leak.assessment.confidence = 0.97;
  leak.assessment.evidence = {113000.5, "bytes/s", 60, 1.0, 58.5, 100000, 2100000, 61};
  leak.oldest_age_seconds = 92.1;
  leak.median_age_seconds = 45.2;
  leak.frames = {frame("remember_client(Session const&)", "/src/server.cc", 88, 0x1a2b),
                 frame("handle_request", "/src/server.cc", 140, 0x1c00),
                 frame("main", "/src/main.cc", 12, 0x900)};
  Frame libc;
  libc.address = 0x7f3c1d229d90;
  libc.module = "/usr/lib/x86_64-linux-gnu/libc.so.6";
  libc.module_offset = 0x29d90;
  leak.frames.push_back(libc);
  leak.history = {{0, 0, 0}, {1, 4096, 2}};
  r.stacks.push_back(leak);

  StackEntry timers = leak;
  timers.kind = Kind::Timerfd;
  timers.allocator = "timerfd_create";
  timers.stack_id = 18;
  timers.live_bytes = 0;
  timers.live_objects = 12;
  timers.assessment.verdict = Verdict::Growing;
  timers.assessment.confidence = 0.5;
  timers.assessment.evidence = {0.3, "objects/s", 60, 0.6, 20, 3, 12, 61};
  timers.truncated = true;  // its walk met a word that is not code
  r.stacks.push_back(timers);

  StackEntry cache = leak;
  cache.stack_id = 3;
  cache.growth_bytes_per_sec = -20.5;
  cache.assessment.verdict = Verdict::Stable;
  cache.assessment.confidence = 0.8;
  cache.assessment.evidence = {0, "bytes/s", 60, -0.1, 0, 65536, 65536, 61};
  r.stacks.push_back(cache);

  StackEntry freeing = leak;
  freeing.pid = 14450;
  freeing.comm = "worker";
  freeing.kind = Kind::Mmap;
  freeing.allocator = "mmap";
  freeing.stack_id = -14;  // a failed stack capture
  freeing.frames.clear();
  freeing.assessment.verdict = Verdict::Shrinking;
  freeing.assessment.confidence = 0.6;
  freeing.assessment.evidence = {-4096, "bytes/s", 12, -1, 0, 1 << 20, 0, 12};
  r.stacks.push_back(freeing);

  StackEntry fresh = leak;  // never assessed: default evidence
  fresh.stack_id = 99;
  fresh.assessment = Assessment{};
  fresh.oldest_age_seconds = 0;
  fresh.median_age_seconds = 0;
  r.stacks.push_back(fresh);
  r.stacks[0].allocator_growth = {3 * (1 << 20) - 135168, 23, 33000.5};  // the leak's calls grew the arena

  r.health.allocs = 8194;
  r.health.frees = 4097;
  r.health.frees_unknown = 3;
  r.health.dropped_objects = 1;
  r.health.stacks_full = 2;
  r.health.events_lost = 6;
  r.health.children_not_followed = 7;
  r.health.fault_events_lost = 8;
  r.health.fault_stacks_over_budget = 9;
  r.health.fault_pages_dropped = 10;
  r.health.unknown_frames = 1;
  r.health.total_frames = 4;
  r.health.objects_capacity = 1048576;
  r.health.ledger_rows = 5;
  r.health.ledger_capacity = 65536;
  r.health.live_object_entries = 4109;

  r.sinks.push_back({"stderr", 3, 0, 0, ""});
  r.sinks.push_back({"webhook:http://alerts.example/hook", 1, 2, 1, "connection refused"});
  r.input_limits.push_back({"/proc/4242/root/tmp/perf-17.map",
                            "larger than the perf map read cap of 16 MiB", "read in part"});
  r.input_limits_total = 2;
  return r;
}

nlohmann::json realistic_json() { return nlohmann::json::parse(render_json(realistic_report())); }

}  // namespace

TEST(ReportSchemaTest, RealisticReportIsValid) {
  require_validator();
  const std::string text = render_json(realistic_report());
  // The report really has every part the schema describes.
  const nlohmann::json j = nlohmann::json::parse(text);
  ASSERT_EQ(j["stacks"].size(), 5u);
  ASSERT_EQ(j["processes"].size(), 2u);
  ASSERT_EQ(j["alerts"]["sinks"].size(), 2u);
  ASSERT_TRUE(j["processes"][0].contains("allocator_footprint"));
  ASSERT_TRUE(j["stacks"][0].contains("allocator_footprint"));
  ASSERT_EQ(j["input_limits"]["hits"].size(), 1u);
  expect_valid(text);
}

TEST(ReportSchemaTest, AllocatorFootprintWithoutItsFiguresFails) {
  require_validator();
  nlohmann::json j = realistic_json();
  j["processes"][0]["allocator_footprint"].erase("beyond_live_bytes");
  expect_invalid(j.dump(), "beyond_live_bytes");
  j = realistic_json();
  j["stacks"][0]["allocator_footprint"]["held_bytes"] = -1;
  expect_invalid(j.dump(), "stacks/0/allocator_footprint/held_bytes");
}

TEST(ReportSchemaTest, InputLimitHitWithoutItsLimitFails) {
  require_validator();
  nlohmann::json j = realistic_json();
  j["input_limits"]["hits"][0].erase("limit");
  expect_invalid(j.dump(), "limit");
}

TEST(ReportSchemaTest, EmptyReportIsValid) {
  require_validator();
  Report r;
  r.generated_at = "2026-11-25T00:00:00Z";
  expect_valid(render_json(r));
}

TEST(ReportSchemaTest, LaterVersionsMayAddFields) {
  require_validator();
  nlohmann::json j = realistic_json();
  j["new_top_level"] = {{"x", 1}};
  j["stacks"][0]["new_field"] = "x";
  j["stacks"][0]["frames"][0]["inlined"] = true;
  expect_valid(j.dump());
}

TEST(ReportSchemaTest, LiveBytesAsStringFails) {
  require_validator();
  nlohmann::json j = realistic_json();
  j["stacks"][0]["live_bytes"] = "2097152";
  expect_invalid(j.dump(), "stacks/0/live_bytes");
}

TEST(ReportSchemaTest, MissingSchemaVersionFails) {
  require_validator();
  nlohmann::json j = realistic_json();
  j.erase("schema_version");
  expect_invalid(j.dump(), "schema_version");
}

TEST(ReportSchemaTest, OtherSchemaVersionFails) {
  require_validator();
  nlohmann::json j = realistic_json();
  j["schema_version"] = 2;
  expect_invalid(j.dump(), "schema_version");
}

TEST(ReportSchemaTest, UnknownVerdictFails) {
  require_validator();
  nlohmann::json j = realistic_json();
  j["stacks"][1]["verdict"] = "maybe";
  expect_invalid(j.dump(), "stacks/1/verdict");
}

TEST(ReportSchemaTest, MissingFrameFieldFails) {
  require_validator();
  nlohmann::json j = realistic_json();
  j["stacks"][0]["frames"][2].erase("module_offset");
  expect_invalid(j.dump(), "module_offset");
}

// The schema lets later versions add fields, so validation alone would not
// notice a health figure it never declares: check each one by name.
TEST(ReportSchemaTest, DeclaresAndRequiresEveryHealthFigure) {
  require_validator();
  std::ifstream in(schema_path());
  const nlohmann::json schema = nlohmann::json::parse(in);
  const nlohmann::json& declared = schema.at("$defs").at("health");
  const nlohmann::json j = realistic_json();
  ASSERT_GE(j["health"].size(), kHealthFigures.size() + 2);  // + lossless, lost_total
  for (const auto& [key, value] : j["health"].items()) {
    EXPECT_TRUE(declared.at("properties").contains(key)) << key << " is not declared";
    EXPECT_NE(std::find(declared.at("required").begin(), declared.at("required").end(), key),
              declared.at("required").end())
        << key << " is not required";
  }
}

TEST(ReportSchemaTest, NegativeLossFails) {
  require_validator();
  nlohmann::json j = realistic_json();
  j["health"]["fault_pages_dropped"] = -1;
  expect_invalid(j.dump(), "health/fault_pages_dropped");
}

TEST(ReportSchemaTest, WrongHealthTypeFails) {
  require_validator();
  nlohmann::json j = realistic_json();
  j["health"]["lossless"] = "no";
  expect_invalid(j.dump(), "health/lossless");
}

TEST(ReportSchemaTest, DeclaresEveryStackField) {
  // A field written but not declared would pass validation unchecked.
  std::ifstream in(schema_path());
  const nlohmann::json schema = nlohmann::json::parse(in);
  const nlohmann::json& declared = schema.at("$defs").at("stack").at("properties");
  const nlohmann::json j = realistic_json();
  EXPECT_EQ(j["stacks"][1].at("truncated"), true);
  for (const auto& stack : j["stacks"])
    for (const auto& [key, value] : stack.items())
      EXPECT_TRUE(declared.contains(key)) << key << " is not declared";
}

TEST(ReportSchemaTest, TruncatedNotABooleanFails) {
  require_validator();
  nlohmann::json j = realistic_json();
  j["stacks"][1]["truncated"] = "yes";
  expect_invalid(j.dump(), "stacks/1/truncated");
}

// A js stack: kind "js", its leak site's index, JS frames with a column.
TEST(ReportSchemaTest, JsStackIsValidAndDeclared) {
  require_validator();
  Report r = realistic_report();
  r.stacks.push_back(js_test::js_leak_stack());
  const std::string text = render_json(r);
  const nlohmann::json j = nlohmann::json::parse(text);
  const nlohmann::json& js = j["stacks"].back();
  ASSERT_EQ(js["kind"], "js");
  ASSERT_EQ(js["leak_site"], 1);
  ASSERT_EQ(js["frames"][1]["column"], 13);
  expect_valid(text);

  std::ifstream in(schema_path());
  const nlohmann::json schema = nlohmann::json::parse(in);
  const nlohmann::json& frame = schema.at("$defs").at("frame").at("properties");
  for (const auto& f : js["frames"])
    for (const auto& [key, value] : f.items()) EXPECT_TRUE(frame.contains(key)) << key << " is not declared";

  nlohmann::json bad = j;
  bad["stacks"].back()["leak_site"] = -1;
  expect_invalid(bad.dump(), "leak_site");
  bad = j;
  bad["stacks"].back()["frames"][1]["column"] = 0;
  expect_invalid(bad.dump(), "column");
}
