// Profiles -> kind js ledger rows (runtimes/js_ledger.h), on the recorded
// Express profiles of tests/data/js-profiles: one row per leak, what died
// since at zero, sampled objects made and released counted across profiles.
#include "runtimes/js_ledger.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

namespace leakscope {
namespace {

using json = nlohmann::json;

JsProfile recorded(const std::string& name, uint64_t seen = 0) {
  std::ifstream in(std::string(LEAKSCOPE_TEST_DATA_DIR) + "/js-profiles/" + name);
  std::stringstream text;
  text << in.rdbuf();
  std::string error;
  auto p = read_js_profile(json::parse(text.str()), 32768, seen, &error);
  EXPECT_TRUE(p) << name << ": " << error;
  return p.value_or(JsProfile{});
}

// Interns by identity as the session's stack store does, and remembers
// each id's leak-site line.
struct Interner {
  std::map<std::string, int32_t> ids;
  std::map<int32_t, int> site_line;
  JsLedger::Intern fn() {
    return [this](const JsStack& s) {
      auto [it, added] = ids.emplace(s.identity, int32_t(ids.size()) + 100);
      site_line[it->second] = s.frames.at(s.leak_site).line;
      return it->second;
    };
  }
};

const LedgerRow* row_at(const std::vector<LedgerRow>& rows, Interner& in, int line) {
  const LedgerRow* found = nullptr;
  for (const LedgerRow& r : rows)
    if (in.site_line[r.stack_id] == line && (!found || r.value.live_bytes > found->value.live_bytes)) found = &r;
  return found;
}

TEST(JsLedger, AProfileBecomesOneRowPerLeakOfKindJs) {
  Interner in;
  JsLedger ledger;
  JsProfile p = recorded("express-cache-leak.json");
  ledger.apply(p, in.fn());
  std::vector<LedgerRow> rows = ledger.rows(7);
  ASSERT_FALSE(rows.empty());
  int64_t total = 0;
  for (const LedgerRow& r : rows) {
    EXPECT_EQ(r.trace_id, 7u);
    EXPECT_EQ(r.kind, Kind::Js);
    total += r.value.live_bytes;
  }
  EXPECT_EQ(total, 1593272);  // the profile's selfSize total
  EXPECT_LT(rows.size(), p.stacks.size());  // stacks of one leak are one row
  // The cache's handler holds what the README measured under it.
  const LedgerRow* cache = row_at(rows, in, 52);
  ASSERT_NE(cache, nullptr);
  EXPECT_EQ(cache->value.live_bytes, 1362168);
  EXPECT_GT(cache->counted_objects, 30);
  EXPECT_GT(cache->value.live_objects, cache->counted_objects);
  EXPECT_EQ(cache->value.allocs, uint64_t(cache->counted_objects));
  EXPECT_EQ(cache->value.frees, 0u);
}

TEST(JsLedger, StacksGoneFromTheNextProfileHoldNothingAndTheirSamplesAreFreed) {
  Interner in;
  JsLedger ledger;
  JsProfile first = recorded("express-cache-leak.json");
  ledger.apply(first, in.fn());
  const LedgerRow before = *row_at(ledger.rows(1), in, 52);
  // The next profile: the cache emptied (its stacks gone), other stacks the
  // same (their samples not new: ordinals seen).
  JsProfile next = recorded("express-cache-leak.json", first.max_ordinal);
  std::erase_if(next.stacks, [](const JsStack& s) { return s.frames[s.leak_site].line == 52; });
  ledger.apply(next, in.fn());
  std::vector<LedgerRow> rows = ledger.rows(1);
  const LedgerRow* after = row_at(rows, in, 52);
  ASSERT_NE(after, nullptr) << "a row, once seen, stays";
  EXPECT_EQ(after->value.live_bytes, 0);
  EXPECT_EQ(after->value.live_objects, 0);
  EXPECT_EQ(after->value.allocs, before.value.allocs);
  EXPECT_EQ(after->value.frees, before.value.allocs);
  // The stacks still there made nothing new.
  for (const LedgerRow& r : rows)
    if (r.value.live_bytes > 0) {
      EXPECT_EQ(r.value.frees, 0u);
    }
}

TEST(JsLedger, NewSamplesAddToWhatWasMade) {
  Interner in;
  JsLedger ledger;
  JsProfile p = recorded("express-event-leak.json");
  ledger.apply(p, in.fn());
  const uint64_t made = row_at(ledger.rows(1), in, 47)->value.allocs;
  // The same profile again with every sample new (as if all were replaced).
  ledger.apply(p, in.fn());
  const LedgerRow* again = row_at(ledger.rows(1), in, 47);
  EXPECT_EQ(again->value.allocs, 2 * made);
  EXPECT_EQ(again->value.frees, made);
}

}  // namespace
}  // namespace leakscope
