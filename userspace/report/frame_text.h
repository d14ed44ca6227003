// How the formats name a frame a runtime named (a JS frame) and find a
// stack's leak site. Native frames keep each format's own naming; these
// helpers only add what a JS frame needs. Pure.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/types.h"

namespace leakscope {


bool is_js_frame(const Frame& frame);

// Index of the leak site in `frames`: `leak_site`, or 0 when it is out of
// range (an empty stack, or a stale index), so callers can index safely
// when `frames` is not empty.
size_t leak_site_index(const std::vector<Frame>& frames, size_t leak_site);

// The function of a JS frame, "(anonymous)" when V8 gave none.
std::string js_function(const Frame& frame);

// Where a JS frame is: "/srv/app/app.js:42:13", "node:internal/timers:5",
// the file alone, or "" when unknown. Line and column are 1-based; 0 leaves
// them out.
std::string js_position(const Frame& frame);

// A JS file shortened for narrow places: the basename of a path or of a
// file:// URL; "node:internal/timers" and other "node:" modules kept whole.
std::string js_short_file(const std::string& file);

// "handler (/srv/app/app.js:42:13)", or "handler" when the file is unknown.
std::string js_frame_text(const Frame& frame);

// "handler (app.js:42)": short file, line, no column (names that stay the
// same when code moves sideways, for folded stacks and table lines).
std::string js_frame_short(const Frame& frame);

}  // namespace leakscope
