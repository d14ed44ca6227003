// A JavaScript allocation stack as the js kind reports it, for the format
// tests: V8 allocated inside node:internal, called from the app's handler,
// called from express. Its leak site is frame 1, handler at app.js:42:13.
#pragma once

#include <vector>

#include "core/types.h"
#include "report/model.h"

namespace leakscope::js_test {

inline Frame js_frame(std::string function, std::string file, int line, int column) {
  Frame f;
  f.function = std::move(function);
  f.file = std::move(file);
  f.line = line;
  f.column = column;
  f.module = "[js]";
  return f;
}

inline std::vector<Frame> js_frames() {
  return {js_frame("push", "node:internal/fixed_queue", 98, 17),
          js_frame("handler", "/srv/app/app.js", 42, 13),
          js_frame("(anonymous)", "/srv/app/node_modules/express/lib/router/layer.js", 95, 5)};
}

inline constexpr size_t kJsLeakSite = 1;

inline StackEntry js_leak_stack() {
  StackEntry s;
  s.pid = 3131;
  s.trace_id = 3;
  s.comm = "node";
  s.kind = Kind::Js;
  s.allocator = "JS objects (sampled)";
  s.stack_id = (1 << 25) + 1;
  s.live_bytes = 6 << 20;
  s.live_objects = 50000;
  s.allocs = 60000;
  s.frees = 10000;
  s.growth_bytes_per_sec = 20480;
  s.rank_score = 20480;
  s.assessment.verdict = Verdict::Leak;
  s.assessment.confidence = 0.9;
  s.assessment.evidence.rate = 20480;
  s.assessment.evidence.unit = "bytes/s";
  s.frames = js_frames();
  s.leak_site = kJsLeakSite;
  return s;
}

}  // namespace leakscope::js_test
