// report/frame_text.h: how JS frames are named, and the leak site's index.
#include <gtest/gtest.h>

#include "js_stack.h"
#include "report/frame_text.h"

using namespace leakscope;

TEST(FrameTextTest, JsFramesReadAsFunctionAndPosition) {
  const std::vector<Frame> frames = js_test::js_frames();
  EXPECT_TRUE(is_js_frame(frames[1]));
  EXPECT_EQ(js_frame_text(frames[1]), "handler (/srv/app/app.js:42:13)");
  EXPECT_EQ(js_frame_short(frames[1]), "handler (app.js:42)");
  EXPECT_EQ(js_frame_text(frames[0]), "push (node:internal/fixed_queue:98:17)");
  EXPECT_EQ(js_frame_short(frames[0]), "push (node:internal/fixed_queue:98)");

  Frame unnamed = js_test::js_frame("", "file:///srv/app/main.mjs?v=2", 7, 0);
  EXPECT_EQ(js_frame_text(unnamed), "(anonymous) (file:///srv/app/main.mjs?v=2:7)");
  EXPECT_EQ(js_frame_short(unnamed), "(anonymous) (main.mjs:7)");
  Frame nowhere = js_test::js_frame("eval", "", 0, 0);
  EXPECT_EQ(js_frame_text(nowhere), "eval");
  EXPECT_EQ(js_frame_short(nowhere), "eval");
  EXPECT_EQ(js_short_file("/srv/app/"), "/srv/app/");

  Frame native;
  native.function = "malloc";
  native.module = "/usr/lib/libc.so.6";
  EXPECT_FALSE(is_js_frame(native));
}

TEST(FrameTextTest, LeakSiteIndexFallsBackToTheFirstFrame) {
  const std::vector<Frame> frames = js_test::js_frames();
  EXPECT_EQ(leak_site_index(frames, 1), 1u);
  EXPECT_EQ(leak_site_index(frames, 2), 2u);
  EXPECT_EQ(leak_site_index(frames, 3), 0u);
  EXPECT_EQ(leak_site_index({}, 0), 0u);
  EXPECT_EQ(leak_site_index({}, 5), 0u);
}
