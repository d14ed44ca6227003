#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "symbols/perf_map.h"

namespace leakscope {
namespace {

TEST(PerfMap, ParsesLinesWithSpacesInNames) {
  const PerfMap map = parse_perf_map(
      "3ef414d8a1a0 5c LazyCompile:*handler /srv/app.js:12\n"
      "3ef414d8a300 20 Builtin:ArgumentsAdaptorTrampoline\n"
      "7f0000001000 100 void Foo::bar(int, char const*)\n");
  ASSERT_EQ(map.size(), 3u);
  const auto s = map.lookup(0x3ef414d8a1b0);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->name, "LazyCompile:*handler /srv/app.js:12");
  EXPECT_EQ(s->start, 0x3ef414d8a1a0u);
  EXPECT_EQ(s->end, 0x3ef414d8a1a0u + 0x5c);
  ASSERT_TRUE(map.lookup(0x7f00000010ff));
  EXPECT_EQ(map.lookup(0x7f00000010ff)->name, "void Foo::bar(int, char const*)");
}

TEST(PerfMap, LookupAtBounds) {
  const PerfMap map = parse_perf_map("1000 10 first\n1010 10 second\n2000 1 lone\n");
  EXPECT_FALSE(map.lookup(0xfff));
  ASSERT_TRUE(map.lookup(0x1000));
  EXPECT_EQ(map.lookup(0x1000)->name, "first");
  EXPECT_EQ(map.lookup(0x100f)->name, "first");
  EXPECT_EQ(map.lookup(0x1010)->name, "second");
  EXPECT_EQ(map.lookup(0x101f)->name, "second");
  EXPECT_FALSE(map.lookup(0x1020));
  EXPECT_FALSE(map.lookup(0x1fff));
  EXPECT_EQ(map.lookup(0x2000)->name, "lone");
  EXPECT_FALSE(map.lookup(0x2001));
  EXPECT_FALSE(map.lookup(0));
  EXPECT_FALSE(map.lookup(UINT64_MAX));
}

TEST(PerfMap, ToleratesGarbage) {
  const PerfMap map = parse_perf_map(
      "\n"
      "garbage\n"
      "zz 10 bad start\n"
      "1000 zz bad size\n"
      "1000 10\n"  // no name
      "1000 0 empty range\n"
      "0x2000 0x10 prefixed\r\n"  // 0x and CRLF tolerated
      "   \t\n"
      "3000 10 last line without newline");
  ASSERT_EQ(map.size(), 2u);
  EXPECT_FALSE(map.lookup(0x1000));
  ASSERT_TRUE(map.lookup(0x2008));
  EXPECT_EQ(map.lookup(0x2008)->name, "prefixed");
  ASSERT_TRUE(map.lookup(0x3000));
  EXPECT_EQ(map.lookup(0x3000)->name, "last line without newline");
}

TEST(PerfMap, EmptyText) {
  const PerfMap map = parse_perf_map("");
  EXPECT_TRUE(map.empty());
  EXPECT_FALSE(map.lookup(0x1000));
}

TEST(PerfMap, LaterEntriesOverrideOverlaps) {
  // Code moved: a newer symbol reuses the middle of an older one.
  PerfMap map = parse_perf_map("1000 100 old\n1040 20 new\n");
  EXPECT_EQ(map.lookup(0x103f)->name, "old");
  EXPECT_EQ(map.lookup(0x1040)->name, "new");
  EXPECT_EQ(map.lookup(0x105f)->name, "new");
  EXPECT_EQ(map.lookup(0x1060)->name, "old");
  EXPECT_EQ(map.lookup(0x10ff)->name, "old");
  EXPECT_FALSE(map.lookup(0x1100));

  // A newer symbol covering several older ones replaces them.
  map.add_text("0ff0 200 big\n");
  EXPECT_EQ(map.size(), 1u);
  EXPECT_EQ(map.lookup(0x1050)->name, "big");

  // Overlapping the head of an older symbol.
  map.add_text("0f00 f8 head\n");
  EXPECT_EQ(map.lookup(0xff7)->name, "head");
  EXPECT_EQ(map.lookup(0xff8)->name, "big");
  EXPECT_EQ(map.lookup(0x11ef)->name, "big");
}

TEST(PerfMap, AddTextAppends) {
  PerfMap map;
  EXPECT_EQ(map.add_text("1000 10 a\n"), 1u);
  EXPECT_EQ(map.add_text("2000 10 b\nbad\n"), 1u);
  EXPECT_EQ(map.size(), 2u);
  EXPECT_EQ(map.lookup(0x2001)->name, "b");
}

TEST(PerfMap, OverlapsWithinOneBatchNewestWins) {
  // All in one text: the later lines win where they overlap earlier ones,
  // whatever their order in the address space.
  const PerfMap map = parse_perf_map(
      "1000 100 a\n"
      "1080 100 b\n"   // over a's tail
      "0f80 100 c\n"   // over a's head
      "1040 10 d\n"    // inside a
      "1000 200 e\n"   // over everything so far
      "10f0 20 f\n");
  EXPECT_EQ(map.lookup(0xf80)->name, "c");
  EXPECT_EQ(map.lookup(0xfff)->name, "c");
  EXPECT_EQ(map.lookup(0x1000)->name, "e");
  EXPECT_EQ(map.lookup(0x1045)->name, "e");
  EXPECT_EQ(map.lookup(0x10ef)->name, "e");
  EXPECT_EQ(map.lookup(0x10f0)->name, "f");
  EXPECT_EQ(map.lookup(0x110f)->name, "f");
  EXPECT_EQ(map.lookup(0x1110)->name, "e");
  EXPECT_EQ(map.lookup(0x11ff)->name, "e");
  EXPECT_FALSE(map.lookup(0x1200));
  EXPECT_EQ(map.lookup(0x1110)->start, 0x1110u);
  EXPECT_EQ(map.lookup(0x1110)->end, 0x1200u);
}

TEST(PerfMap, MatchesOneByOneAdds) {
  // The batched merge gives what adding each line on its own gives.
  std::string text;
  uint64_t x = 12345;
  for (int i = 0; i < 2000; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    const uint64_t start = 0x10000 + (x >> 40) % 0x4000;
    const uint64_t size = 1 + (x >> 20) % 0x80;
    char line[64];
    std::snprintf(line, sizeof line, "%llx %llx s%d\n", static_cast<unsigned long long>(start),
                  static_cast<unsigned long long>(size), i);
    text += line;
  }
  const PerfMap batched = parse_perf_map(text);
  PerfMap single;
  std::string_view rest = text;
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    single.add_text(rest.substr(0, nl + 1));
    rest.remove_prefix(nl + 1);
  }
  ASSERT_EQ(batched.size(), single.size());
  for (uint64_t a = 0xff00; a < 0x14200; ++a) {
    const auto b = batched.lookup(a);
    const auto s = single.lookup(a);
    ASSERT_EQ(b.has_value(), s.has_value()) << std::hex << a;
    if (b) {
      EXPECT_EQ(b->name, s->name) << std::hex << a;
      EXPECT_EQ(b->start, s->start) << std::hex << a;
      EXPECT_EQ(b->end, s->end) << std::hex << a;
    }
  }
}

TEST(PerfMap, HoldsAtMostMaxSymbols) {
  PerfMap map(100);
  std::string text;
  for (int i = 0; i < 1000; ++i) {
    char line[64];
    std::snprintf(line, sizeof line, "%x 10 sym%d\n", 0x1000 + i * 0x10, i);
    text += line;
  }
  EXPECT_FALSE(map.full());
  const size_t added = map.add_text(text);
  EXPECT_LE(map.size(), 100u);
  EXPECT_GE(map.size(), 90u);  // the bound is used, not halved
  EXPECT_EQ(added, map.size());
  EXPECT_TRUE(map.full());
  // The first lines are the ones kept.
  EXPECT_EQ(map.lookup(0x1000)->name, "sym0");
  EXPECT_FALSE(map.lookup(0x1000 + 999 * 0x10));
  map.clear();
  EXPECT_FALSE(map.full());
  EXPECT_TRUE(map.empty());
}

TEST(PerfMap, NotFullWhenOnlyGarbageIsLeft) {
  PerfMap map(4);
  map.add_text("1000 10 a\n2000 10 b\n");
  map.add_text("garbage\n\n");
  EXPECT_FALSE(map.full());
}

TEST(PerfMap, CostsAboutItsText) {
  // ~200,000 symbols of V8-like names: the table is about the size of the
  // text (24 bytes a symbol plus its name), not several times it.
  std::string text;
  for (int i = 0; i < 200000; ++i) {
    char line[128];
    std::snprintf(line, sizeof line, "%x 40 LazyCompile:*handler_%d /srv/app/lib/routes.js:%d\n",
                  0x100000 + i * 0x40, i, i % 977);
    text += line;
  }
  const PerfMap map = parse_perf_map(text);
  ASSERT_EQ(map.size(), 200000u);
  EXPECT_LT(map.memory_bytes(), text.size() * 3 / 2) << map.memory_bytes() << " for " << text.size();
}

TEST(PerfMap, ReplacedNamesAreReclaimed) {
  // A JIT that keeps moving code over the same range: the names of what was
  // replaced do not pile up.
  PerfMap map;
  const std::string name(200, 'n');
  for (int round = 0; round < 20000; ++round) {
    char line[300];
    std::snprintf(line, sizeof line, "1000 100 %s%d\n", name.c_str(), round);
    map.add_text(line);
  }
  EXPECT_EQ(map.size(), 1u);
  EXPECT_LT(map.memory_bytes(), size_t{3} << 20);
  EXPECT_EQ(map.lookup(0x1000)->name, name + "19999");
}

}  // namespace
}  // namespace leakscope
