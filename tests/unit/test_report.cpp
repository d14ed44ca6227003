#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/duration.h"
#include "js_stack.h"
#include "report/json.h"
#include "report/model.h"
#include "report/text.h"
#include "report/units.h"

using namespace leakscope;

namespace {

StackEntry stack(pid_t pid, int32_t id, int64_t live, double growth, std::string leak_site) {
  StackEntry s;
  s.pid = pid;
  s.comm = "svc";
  s.allocator = "malloc";
  s.stack_id = id;
  s.live_bytes = live;
  s.live_objects = live / 64;
  s.growth_bytes_per_sec = growth;
  Frame f;
  f.address = 0x401234;
  f.function = std::move(leak_site);
  f.file = "/src/svc/cache.c";
  f.line = 42;
  f.module = "/usr/bin/svc";
  f.module_offset = 0x1234;
  s.frames.push_back(f);
  Frame unknown;
  unknown.address = 0x7f0000001000;
  unknown.module = "/usr/lib/libfoo.so";
  unknown.module_offset = 0xbeef;
  s.frames.push_back(unknown);
  return s;
}

Report sample_report() {
  Report r;
  r.host = "h";
  r.generated_at = "2026-11-25T00:00:00Z";
  r.elapsed_seconds = 30;
  r.final = true;
  r.stacks = {stack(7, 1, 8 << 20, 0, "load_table"), stack(7, 2, 4096, 300, "cache_put"),
              stack(7, 3, 1 << 20, 300, "remember")};
  rank_stacks(r.stacks);
  ImageEntry p;
  p.pid = 7;
  p.comm = "svc";
  r.processes.push_back(p);
  r.health.allocs = 10;
  r.health.dropped_objects = 3;
  return r;
}

}  // namespace

TEST(ReportTest, RankingIsByGrowthThenLiveBytes) {
  Report r = sample_report();
  EXPECT_EQ(r.stacks[0].frames[0].function, "remember");
  EXPECT_EQ(r.stacks[1].frames[0].function, "cache_put");
  EXPECT_EQ(r.stacks[2].frames[0].function, "load_table");  // big but flat: last
}

TEST(ReportTest, JsonCarriesTheContractFields) {
  auto j = nlohmann::json::parse(render_json(sample_report()));
  EXPECT_EQ(j["schema_version"], 1);
  ASSERT_EQ(j["stacks"].size(), 3u);
  const auto& top = j["stacks"][0];
  for (const char* field : {"pid", "comm", "kind", "live_bytes", "live_objects",
                            "growth_bytes_per_sec", "frames"})
    EXPECT_TRUE(top.contains(field)) << field;
  EXPECT_EQ(top["kind"], "heap");
  EXPECT_EQ(top["rank"], 1);
  const auto& f0 = top["frames"][0];
  EXPECT_EQ(f0["function"], "remember");
  EXPECT_EQ(f0["file"], "/src/svc/cache.c");
  EXPECT_EQ(f0["line"], 42);
  EXPECT_EQ(f0["module"], "/usr/bin/svc");
  EXPECT_EQ(f0["address"], "0x401234");
  // An unknown frame still has a usable name: module+offset.
  EXPECT_EQ(top["frames"][1]["function"], "/usr/lib/libfoo.so+0xbeef");
  EXPECT_EQ(top["frames"][1]["symbolized"], false);
  EXPECT_EQ(j["health"]["lossless"], false);
  EXPECT_EQ(j["health"]["dropped_objects"], 3);
}

// Each loss is reported under its own key: a fault loss is not a syscall
// event lost, a stack over the fault budget is not an allocation stack missed.
TEST(ReportTest, JsonKeepsEachLossApart) {
  Report r = sample_report();
  r.health.dropped_objects = 0;
  r.health.fault_events_lost = 4;
  r.health.fault_stacks_over_budget = 5;
  r.health.fault_pages_dropped = 6;
  r.health.children_not_followed = 7;
  auto j = nlohmann::json::parse(render_json(r));
  const auto& h = j["health"];
  EXPECT_EQ(h["lossless"], false);
  EXPECT_EQ(h["events_lost"], 0);
  EXPECT_EQ(h["stacks_unreadable"], 0);
  EXPECT_EQ(h["dropped_objects"], 0);
  EXPECT_EQ(h["fault_events_lost"], 4);
  EXPECT_EQ(h["fault_stacks_over_budget"], 5);
  EXPECT_EQ(h["fault_pages_dropped"], 6);
  EXPECT_EQ(h["children_not_followed"], 7);
  EXPECT_EQ(h["lost_total"], 4 + 5 + 6 + 7);
  EXPECT_EQ(h["allocs"], 10);
}

TEST(ReportTest, TextShowsLeakSiteFirstAndWhatWasLost) {
  Report r = sample_report();
  std::string text = render_text(r, 10);
  EXPECT_LT(text.find("remember"), text.find("load_table"));
  EXPECT_NE(text.find("cache.c:42"), std::string::npos);
  EXPECT_NE(text.find("LOST"), std::string::npos);
  EXPECT_NE(text.find("3 objects dropped (object map full)"), std::string::npos) << text;
  EXPECT_EQ(text.find("stacks not captured"), std::string::npos) << "only losses that happened";
  std::string table = render_table(r, 1);
  EXPECT_NE(table.find("remember"), std::string::npos);
  EXPECT_EQ(table.find("load_table"), std::string::npos);  // --top 1
}

TEST(ReportTest, UnitsReadLikeAPersonWouldWriteThem) {
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bytes(2048), "2.00 KiB");
  EXPECT_EQ(format_bytes(1.5 * 1024 * 1024), "1.50 MiB");
  EXPECT_EQ(format_rate(110.0 * 1024), "+110.0 KiB/s");
  EXPECT_EQ(format_rate(-2048), "-2.00 KiB/s");
}

TEST(DurationTest, ParsesUnitsAndRejectsNonsense) {
  EXPECT_DOUBLE_EQ(*parse_duration("500ms"), 0.5);
  EXPECT_DOUBLE_EQ(*parse_duration("5s"), 5);
  EXPECT_DOUBLE_EQ(*parse_duration("2m"), 120);
  EXPECT_DOUBLE_EQ(*parse_duration("1h"), 3600);
  EXPECT_DOUBLE_EQ(*parse_duration("1.5"), 1.5);
  EXPECT_FALSE(parse_duration(""));
  EXPECT_FALSE(parse_duration("fast"));
  EXPECT_FALSE(parse_duration("5x"));
  EXPECT_FALSE(parse_duration("1.2.3s"));
  EXPECT_FALSE(parse_duration("-1s"));
}

TEST(ReportTest, TruncatedStacksSayCallersAreUnknown) {
  Report r = sample_report();
  // "remember" ranks first; its walk was cut after its second frame.
  ASSERT_EQ(r.stacks[0].frames[0].function, "remember");
  r.stacks[0].truncated = true;
  const std::string text = render_text(r, 10);
  const size_t site = text.find("remember");
  const size_t cut = text.find("      [...]");
  ASSERT_NE(cut, std::string::npos) << text;
  EXPECT_LT(site, cut);
  EXPECT_LT(text.find("libfoo.so+0xbeef", site), cut) << "after the last frame";
  EXPECT_EQ(text.find("      [...]", cut + 1), std::string::npos) << "only the truncated stack";
  EXPECT_NE(render_table(r, 1).find("remember <- libfoo.so+0xbeef <- [...]"), std::string::npos)
      << render_table(r, 1);

  // Cut at the leak site itself: captured, but no frame is code.
  r.stacks[0].frames.clear();
  const std::string empty = render_text(r, 1);
  EXPECT_NE(empty.find("      [...]"), std::string::npos) << empty;
  EXPECT_EQ(empty.find("[stack not captured]"), std::string::npos) << empty;

  const nlohmann::json j = nlohmann::json::parse(render_json(sample_report()));
  for (const auto& s : j["stacks"]) EXPECT_EQ(s.at("truncated"), false);
  const nlohmann::json t = nlohmann::json::parse(render_json(r));
  EXPECT_EQ(t["stacks"][0]["truncated"], true);
  EXPECT_EQ(t["stacks"][1]["truncated"], false);
}

// A js stack: V8 allocated inside node:internal; the leak site is the app's
// handler (frame 1), which the text shows and marks.
TEST(ReportTest, TextShowsTheLeakSiteOfAJsStack) {
  Report r = sample_report();
  r.stacks.insert(r.stacks.begin(), js_test::js_leak_stack());
  const std::string text = render_text(r, 10);
  // Every frame, as function (file:line:column), the leak site marked.
  EXPECT_NE(text.find("\n      push (node:internal/fixed_queue:98:17)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\n    > handler (/srv/app/app.js:42:13)  <- leak site\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("\n      (anonymous) (/srv/app/node_modules/express/lib/router/layer.js:95:5)\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("[[js]]"), std::string::npos) << "no module for JS frames";
  EXPECT_NE(text.find("js via JS objects (sampled)"), std::string::npos) << text;
  // Native stacks are not marked: their leak site is their first frame.
  EXPECT_EQ(text.find("<- leak site", text.find("<- leak site") + 1), std::string::npos) << text;

  // The table's line starts at the leak site.
  const std::string table = render_table(r, 1);
  EXPECT_NE(table.find("  \u2026 handler (app.js:42) <- (anonymous) (layer.js:95)\n"),
            std::string::npos)
      << table;
  EXPECT_EQ(table.find("push"), std::string::npos) << table;

  // A leak site out of range falls back to the first frame.
  r.stacks[0].leak_site = 7;
  EXPECT_NE(render_table(r, 1).find("  push (node:internal/fixed_queue:98) <- handler (app.js:42)"),
            std::string::npos)
      << render_table(r, 1);
  EXPECT_EQ(render_text(r, 1).find("leak site"), std::string::npos);
}

TEST(ReportTest, JsonCarriesTheLeakSiteAndColumns) {
  Report r = sample_report();
  r.stacks.insert(r.stacks.begin(), js_test::js_leak_stack());
  const nlohmann::json j = nlohmann::json::parse(render_json(r));
  const nlohmann::json& js = j["stacks"][0];
  EXPECT_EQ(js["kind"], "js");
  EXPECT_EQ(js["allocator"], "JS objects (sampled)");
  EXPECT_EQ(js["leak_site"], 1);
  const nlohmann::json& site = js["frames"][js["leak_site"].get<size_t>()];
  EXPECT_EQ(site["function"], "handler");
  EXPECT_EQ(site["file"], "/srv/app/app.js");
  EXPECT_EQ(site["line"], 42);
  EXPECT_EQ(site["column"], 13);
  EXPECT_EQ(site["module"], "[js]");
  EXPECT_EQ(js["frames"][0]["column"], 17);
  // Native stacks: leak site 0, no column.
  for (size_t i = 1; i < j["stacks"].size(); ++i) {
    EXPECT_EQ(j["stacks"][i]["leak_site"], 0);
    for (const auto& f : j["stacks"][i]["frames"]) EXPECT_FALSE(f.contains("column")) << f;
  }
  // Out of range: the first frame, as every format reads it.
  r.stacks[0].leak_site = 9;
  EXPECT_EQ(nlohmann::json::parse(render_json(r))["stacks"][0]["leak_site"], 0);
}

TEST(ReportTest, AnEarlyStackSaysItIsNotJudgedYetAndRanksBetweenTheRisingAndTheQuiet) {
  Report r = sample_report();
  auto judged = [&](const std::string& site, Verdict v, double rate) -> StackEntry& {
    for (StackEntry& s : r.stacks)
      if (s.frames[0].function == site) {
        s.assessment.verdict = v;
        s.assessment.evidence.rate = rate;
        s.assessment.evidence.unit = "bytes/s";
        s.assessment.evidence.window_seconds = 6;
        if (v == Verdict::Early) s.assessment.evidence.needed_seconds = 10;
        return s;
      }
    throw std::runtime_error("no stack " + site);
  };
  judged("load_table", Verdict::Stable, 0);
  judged("remember", Verdict::Early, 2 << 20);  // fastest so far, but young
  judged("cache_put", Verdict::Growing, 4096);
  rank_stacks(r.stacks);
  ASSERT_EQ(r.stacks.size(), 3u);
  EXPECT_EQ(r.stacks[0].frames[0].function, "cache_put");
  EXPECT_EQ(r.stacks[1].frames[0].function, "remember");
  EXPECT_EQ(r.stacks[2].frames[0].function, "load_table");

  const std::string text = render_text(r, 10);
  EXPECT_NE(text.find("#2  EARLY"), std::string::npos) << text;
  EXPECT_NE(text.find("+2.00 MiB/s over 6s so far, too little history to judge (a trend needs 10s)"),
            std::string::npos)
      << text;
  const size_t early_at = text.find("#2  EARLY");
  const std::string early_block = text.substr(early_at, text.find("#3  ") - early_at);
  EXPECT_EQ(early_block.find("confidence"), std::string::npos) << "no confidence in no verdict\n" << early_block;

  auto j = nlohmann::json::parse(render_json(r));
  EXPECT_EQ(j["stacks"][1]["verdict"], "early");
  EXPECT_EQ(j["stacks"][1]["evidence"]["needed_seconds"], 10);
  EXPECT_FALSE(j["stacks"][2]["evidence"].contains("needed_seconds"));
}
