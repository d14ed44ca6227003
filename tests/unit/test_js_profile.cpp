// V8 sampling heap profiles -> JS stacks: recorded profiles of
// examples/express-leaks (tests/data/js-profiles/README.md), frame naming,
// the leak-site rule, and hostile input.
#include "runtimes/js_profile.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

namespace leakscope {
namespace {

using json = nlohmann::json;
constexpr double kInterval = 32768;
constexpr const char* kApp = "/srv/express-leaks/app.js";

json recorded(const std::string& name) {
  std::ifstream in(std::string(LEAKSCOPE_TEST_DATA_DIR) + "/js-profiles/" + name);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream text;
  text << in.rdbuf();
  return json::parse(text.str());
}

JsProfile read(const json& profile, uint64_t seen = 0) {
  std::string error;
  auto p = read_js_profile(profile, kInterval, seen, &error);
  EXPECT_TRUE(p) << error;
  return p.value_or(JsProfile{});
}

// Live bytes per leak-site frame "file:line".
std::map<std::string, int64_t> bytes_by_site(const JsProfile& p) {
  std::map<std::string, int64_t> out;
  for (const JsStack& s : p.stacks) {
    const Frame& f = s.frames.at(s.leak_site);
    out[f.file + ":" + std::to_string(f.line)] += s.live_bytes;
  }
  return out;
}

std::string top_site(const JsProfile& p) {
  auto by = bytes_by_site(p);
  auto best = by.begin();
  for (auto it = by.begin(); it != by.end(); ++it)
    if (it->second > best->second) best = it;
  return best == by.end() ? "" : best->first;
}

TEST(JsProfile, EachRecordedLeakIsHeldUnderItsHandlerLine) {
  // The handler lines of app.js (1-based) the profiles were recorded with.
  EXPECT_EQ(top_site(read(recorded("express-cache-leak.json"))), std::string(kApp) + ":52");
  EXPECT_EQ(top_site(read(recorded("express-event-leak.json"))), std::string(kApp) + ":47");
  EXPECT_EQ(top_site(read(recorded("express-leaky-interval.json"))), std::string(kApp) + ":42");
}

TEST(JsProfile, BytesAreTheProfilesSelfSizesAndEveryLiveSampleIsCounted) {
  json profile = recorded("express-cache-leak.json");
  JsProfile p = read(profile);
  int64_t bytes = 0, samples = 0, objects = 0;
  for (const JsStack& s : p.stacks) {
    bytes += s.live_bytes;
    samples += s.live_samples;
    objects += s.live_objects;
    EXPECT_FALSE(s.frames.empty());
    EXPECT_LE(s.leak_site, s.frames.size() - 1);
  }
  EXPECT_EQ(bytes, 1593272);  // the README's selfSize total
  // Samples whose node is not in the tree (allocated while the profile was
  // built) belong to no stack: at most a few are left out.
  EXPECT_GE(samples, 44);
  EXPECT_LE(samples, 50);
  // Small objects: each sample stands for many of them.
  EXPECT_GT(objects, samples * 10);
  EXPECT_GT(p.max_ordinal, 0u);
  EXPECT_FALSE(p.truncated);
}

TEST(JsProfile, TheHandlerFrameIsNamedWithItsFileLineAndColumn) {
  JsProfile p = read(recorded("express-leaky-interval.json"));
  bool found = false;
  for (const JsStack& s : p.stacks) {
    const Frame& f = s.frames[s.leak_site];
    if (f.file != kApp || f.line != 42) continue;
    found = true;
    EXPECT_EQ(f.function, "(anonymous)");  // an arrow function
    EXPECT_EQ(f.column, 19);               // 0-based 18 in the profile
    EXPECT_EQ(f.module, "[js]");
    // The whole stack is kept: the handler's callers (express) below it.
    ASSERT_GT(s.frames.size(), s.leak_site + 3);
    bool express_below = false;
    for (size_t i = s.leak_site + 1; i < s.frames.size(); ++i)
      express_below |= s.frames[i].file.find("/node_modules/express/") != std::string::npos;
    EXPECT_TRUE(express_below);
  }
  EXPECT_TRUE(found);
}

TEST(JsProfile, OneHandlersStacksAreOneLeakWhateverV8InlinedBetween) {
  // The event leak's handler is reached through Express's router by
  // several paths (frames inlined or not) and allocates through builtins:
  // one identity, so one row.
  JsProfile p = read(recorded("express-event-leak.json"));
  std::set<std::string> identities;
  size_t stacks = 0;
  for (const JsStack& s : p.stacks) {
    const Frame& f = s.frames[s.leak_site];
    if (f.file != kApp || f.line != 47) continue;
    ++stacks;
    identities.insert(s.identity);
  }
  EXPECT_GT(stacks, 1u);
  EXPECT_EQ(identities.size(), 1u);
  // Other handlers are other leaks; a stack without user code keeps all
  // its frames in its identity.
  auto frame = [](const char* fn, const char* file) { return js_frame(fn, file, 1, 1); };
  std::vector<Frame> handler = {frame("a", "/srv/app/app.js")};
  std::vector<Frame> other = {frame("b", "/srv/app/app.js")};
  EXPECT_NE(js_stack_identity(handler, 0), js_stack_identity(other, 0));
  std::vector<Frame> internal1 = {frame("x", "node:events"), frame("y", "node:net")};
  std::vector<Frame> internal2 = {frame("x", "node:events"), frame("z", "node:net")};
  EXPECT_NE(js_stack_identity(internal1, 0), js_stack_identity(internal2, 0));
  // Library frames between user frames do not count; user frames do.
  std::vector<Frame> via1 = {frame("h", "/a/app.js"), frame("next", "/a/node_modules/express/x.js"),
                             frame("main", "/a/server.js")};
  std::vector<Frame> via2 = {frame("h", "/a/app.js"), frame("main", "/a/server.js")};
  std::vector<Frame> via3 = {frame("h", "/a/app.js"), frame("other", "/a/server.js")};
  EXPECT_EQ(js_stack_identity(via1, 0), js_stack_identity(via2, 0));
  EXPECT_NE(js_stack_identity(via1, 0), js_stack_identity(via3, 0));
}

TEST(JsProfile, FramesAboveTheLeakSiteAreNodesAndV8s) {
  // In the interval leak, setInterval (node:timers) and builtins like
  // String.prototype.repeat (no url) allocate on the handler's behalf.
  JsProfile p = read(recorded("express-leaky-interval.json"));
  size_t above = 0;
  for (const JsStack& s : p.stacks)
    for (size_t i = 0; i < s.leak_site; ++i) {
      ++above;
      EXPECT_FALSE(js_user_code(s.frames[i])) << s.frames[i].function << " " << s.frames[i].file;
    }
  EXPECT_GT(above, 0u);
}

TEST(JsProfile, OnlySamplesAboveTheLastOrdinalAreNew) {
  json profile = recorded("express-event-leak.json");
  JsProfile first = read(profile);
  int64_t fresh = 0, live = 0;
  for (const JsStack& s : first.stacks) fresh += s.new_samples, live += s.live_samples;
  EXPECT_EQ(fresh, live);
  JsProfile again = read(profile, first.max_ordinal);
  for (const JsStack& s : again.stacks) EXPECT_EQ(s.new_samples, 0);
  EXPECT_EQ(again.max_ordinal, first.max_ordinal);
}

TEST(JsProfile, ObjectsAreEstimatedFromTheScaledSampleSizes) {
  // One node, one sample of a 64-byte object at a 32 KiB interval: V8
  // sends 64 / (1 - exp(-64/32768)) = 32800 bytes, about 512 objects.
  json profile = {{"head",
                   {{"callFrame", {{"functionName", "(root)"}, {"url", ""}, {"lineNumber", -1}, {"columnNumber", -1}}},
                    {"selfSize", 0},
                    {"id", 1},
                    {"children",
                     {{{"callFrame",
                        {{"functionName", "make"}, {"url", "/app/a.js"}, {"lineNumber", 9}, {"columnNumber", 4}}},
                       {"selfSize", 32800},
                       {"id", 2},
                       {"children", json::array()}}}}}},
                  {"samples", {{{"size", 32800}, {"nodeId", 2}, {"ordinal", 7}}}}};
  JsProfile p = read(profile);
  ASSERT_EQ(p.stacks.size(), 1u);
  EXPECT_EQ(p.stacks[0].live_bytes, 32800);
  EXPECT_NEAR(double(p.stacks[0].live_objects), 512, 3);
  EXPECT_EQ(p.stacks[0].frames[0].function, "make");
  EXPECT_EQ(p.stacks[0].frames[0].line, 10);
  EXPECT_EQ(p.stacks[0].frames[0].column, 5);
  EXPECT_EQ(p.max_ordinal, 7u);
}

TEST(JsProfile, AProfileWithoutSamplesIsFromANodeTooOld) {
  json profile = recorded("express-quiet.json");
  profile.erase("samples");
  std::string error;
  EXPECT_FALSE(read_js_profile(profile, kInterval, 0, &error));
  EXPECT_NE(error.find("older than 12"), std::string::npos) << error;
}

TEST(JsProfile, WhatIsNotAProfileIsAnErrorNotACrash) {
  std::string error;
  for (const char* text : {"null", "[]", "{}", "{\"head\":3,\"samples\":[]}", "{\"head\":{},\"samples\":{}}",
                           "\"profile\""}) {
    error.clear();
    EXPECT_FALSE(read_js_profile(json::parse(text), kInterval, 0, &error)) << text;
    EXPECT_FALSE(error.empty()) << text;
  }
  // Wrong types inside are skipped, not trusted.
  json odd = {{"head",
               {{"callFrame", 5},
                {"id", "x"},
                {"children",
                 {7, {{"callFrame", {{"functionName", 3}, {"url", {1}}, {"lineNumber", "a"}}}, {"selfSize", -9}},
                  {{"selfSize", 1e300}, {"id", 3}}}}}},
              {"samples", {1, {{"size", "x"}}, {{"nodeId", 3}, {"size", -1}}}}};
  auto p = read_js_profile(odd, kInterval, 0, &error);
  ASSERT_TRUE(p);
  for (const JsStack& s : p->stacks) EXPECT_GE(s.live_bytes, 0);
}

TEST(JsProfile, HostileDepthAndSizeAreBounded) {
  // A chain 100,000 deep: no recursion to overflow, frames cut to the limit.
  // (Built from the bottom up and moved, never copied: nlohmann copies
  // recursively; reading and destroying are not.)
  json chain = json::array();
  for (int i = 100000; i >= 1; --i) {
    json node = {{"callFrame", {{"functionName", "f" + std::to_string(i)}, {"url", "/a.js"}, {"lineNumber", i}}},
                 {"id", i},
                 {"selfSize", i == 100000 ? 100 : 0}};
    node["children"] = std::move(chain);
    chain = json::array();
    chain.push_back(std::move(node));
  }
  json profile = {{"samples", json::array()}};
  profile["head"] = {{"callFrame", {{"functionName", "(root)"}}}, {"id", 0}};
  profile["head"]["children"] = std::move(chain);
  JsProfileLimits limits;
  limits.max_depth = 64;
  std::string error;
  auto p = read_js_profile(profile, kInterval, 0, &error, limits);
  ASSERT_TRUE(p) << error;
  ASSERT_EQ(p->stacks.size(), 1u);
  EXPECT_EQ(p->stacks[0].frames.size(), 64u);
  EXPECT_EQ(p->stacks[0].frames[0].function, "f100000");  // the innermost kept
  EXPECT_TRUE(p->truncated);
  limits.max_nodes = 1000;
  p = read_js_profile(profile, kInterval, 0, &error, limits);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->truncated);
  EXPECT_TRUE(p->stacks.empty());
  // Many leaves under a deep path: the frames kept are bounded in bytes.
  {
    json wide = {{"samples", json::array()}};
    json leaves = json::array();
    for (int i = 0; i < 2000; ++i)
      leaves.push_back({{"callFrame", {{"functionName", std::string(1000, 'n')}, {"url", "/w.js"}}},
                        {"id", 10 + i},
                        {"selfSize", 1}});
    wide["head"] = {{"callFrame", {{"functionName", "(root)"}}}, {"id", 0}};
    wide["head"]["children"] = std::move(leaves);
    JsProfileLimits small;
    small.max_frame_bytes = 100'000;
    auto w = read_js_profile(wide, kInterval, 0, &error, small);
    ASSERT_TRUE(w);
    EXPECT_TRUE(w->truncated);
    EXPECT_GT(w->stacks.size(), 10u);
    EXPECT_LT(w->stacks.size(), 100u);
  }
  // Long names are cut.
  Frame f = js_frame(std::string(100000, 'x'), std::string(100000, '/'), 1, 1);
  EXPECT_LE(f.function.size(), 1024u);
  EXPECT_LE(f.file.size(), 4096u);
}

TEST(JsProfile, ANodeOlderThan12IsTooOld) {
  EXPECT_EQ(js_runtime_too_old("v20.20.2"), "");
  EXPECT_EQ(js_runtime_too_old("v12.0.0"), "");
  EXPECT_EQ(js_runtime_too_old(""), "");
  EXPECT_EQ(js_runtime_too_old("garbage"), "");
  EXPECT_NE(js_runtime_too_old("v10.24.1").find("too old"), std::string::npos);
  EXPECT_NE(js_runtime_too_old("v8.17.0").find("Node.js v8.17.0"), std::string::npos);
}

TEST(JsProfile, FrameNaming) {
  Frame f = js_frame("", "file:///srv/app/main.mjs", 0, 0);
  EXPECT_EQ(f.function, "(anonymous)");
  EXPECT_EQ(f.file, "/srv/app/main.mjs");
  EXPECT_EQ(f.line, 1);
  EXPECT_EQ(f.column, 1);
  Frame builtin = js_frame("repeat", "", -1, -1);
  EXPECT_EQ(builtin.line, 0);
  EXPECT_EQ(builtin.column, 0);
}

TEST(JsProfile, LeakSiteIsTheFirstFrameOfTheUsersOwnCode) {
  auto frame = [](const char* file) { return js_frame("f", file, 1, 1); };
  EXPECT_EQ(js_leak_site({frame(""), frame("node:internal/timers"), frame("node:timers"),
                          frame("/srv/app/node_modules/express/lib/router/layer.js"), frame("/srv/app/app.js"),
                          frame("/srv/app/lib.js")}),
            4u);
  EXPECT_EQ(js_leak_site({frame("internal/streams/readable.js"), frame("/srv/app/server.js")}), 1u);
  // No code of the user's at all: the innermost frame.
  EXPECT_EQ(js_leak_site({frame("node:events"), frame("")}), 0u);
  EXPECT_FALSE(js_user_code(frame("/srv/app/node_modules/lodash/lodash.js")));
  EXPECT_TRUE(js_user_code(frame("/srv/app/routes/users.js")));
}

}  // namespace
}  // namespace leakscope
