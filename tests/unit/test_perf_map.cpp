#include <gtest/gtest.h>

#include "symbols/perf_map.h"

namespace leakscope {
namespace {

TEST(PerfMap, ParsesLinesWithSpacesInNames) {
  const PerfMap map = parse_perf_map(
      "3ef414d8a1a0 5c LazyCompile:*handler /srv/app.js:12\n"
      "3ef414d8a300 20 Builtin:ArgumentsAdaptorTrampoline\n"
      "7f0000001000 100 void Foo::bar(int, char const*)\n");
  ASSERT_EQ(map.size(), 3u);
  const PerfMapSymbol* s = map.lookup(0x3ef414d8a1b0);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->name, "LazyCompile:*handler /srv/app.js:12");
  EXPECT_EQ(s->start, 0x3ef414d8a1a0u);
  EXPECT_EQ(s->end, 0x3ef414d8a1a0u + 0x5c);
  ASSERT_NE(map.lookup(0x7f00000010ff), nullptr);
  EXPECT_EQ(map.lookup(0x7f00000010ff)->name, "void Foo::bar(int, char const*)");
}

TEST(PerfMap, LookupAtBounds) {
  const PerfMap map = parse_perf_map("1000 10 first\n1010 10 second\n2000 1 lone\n");
  EXPECT_EQ(map.lookup(0xfff), nullptr);
  ASSERT_NE(map.lookup(0x1000), nullptr);
  EXPECT_EQ(map.lookup(0x1000)->name, "first");
  EXPECT_EQ(map.lookup(0x100f)->name, "first");
  EXPECT_EQ(map.lookup(0x1010)->name, "second");
  EXPECT_EQ(map.lookup(0x101f)->name, "second");
  EXPECT_EQ(map.lookup(0x1020), nullptr);
  EXPECT_EQ(map.lookup(0x1fff), nullptr);
  EXPECT_EQ(map.lookup(0x2000)->name, "lone");
  EXPECT_EQ(map.lookup(0x2001), nullptr);
  EXPECT_EQ(map.lookup(0), nullptr);
  EXPECT_EQ(map.lookup(UINT64_MAX), nullptr);
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
  EXPECT_EQ(map.lookup(0x1000), nullptr);
  ASSERT_NE(map.lookup(0x2008), nullptr);
  EXPECT_EQ(map.lookup(0x2008)->name, "prefixed");
  ASSERT_NE(map.lookup(0x3000), nullptr);
  EXPECT_EQ(map.lookup(0x3000)->name, "last line without newline");
}

TEST(PerfMap, EmptyText) {
  const PerfMap map = parse_perf_map("");
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.lookup(0x1000), nullptr);
}

TEST(PerfMap, LaterEntriesOverrideOverlaps) {
  // Code moved: a newer symbol reuses the middle of an older one.
  PerfMap map = parse_perf_map("1000 100 old\n1040 20 new\n");
  EXPECT_EQ(map.lookup(0x103f)->name, "old");
  EXPECT_EQ(map.lookup(0x1040)->name, "new");
  EXPECT_EQ(map.lookup(0x105f)->name, "new");
  EXPECT_EQ(map.lookup(0x1060)->name, "old");
  EXPECT_EQ(map.lookup(0x10ff)->name, "old");
  EXPECT_EQ(map.lookup(0x1100), nullptr);

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

}  // namespace
}  // namespace leakscope
