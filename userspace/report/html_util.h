// Small helpers for the HTML report: escaping, compact numbers, axis ticks.
// Pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "report/model.h"

namespace leakscope::html {

// Escapes & < > " ' so the result is safe in element text and in quoted
// attribute values.
std::string escape(std::string_view text);

// A number for SVG coordinates: fixed precision, trailing zeros dropped.
std::string num(double value, int precision = 2);

// "512 B", "1.5 MiB", "12 KiB": short, for axis labels (at most 3 significant
// digits, no trailing zeros).
std::string compact_bytes(double bytes);

// "0.8s", "45s", "2m 05s", "1h 02m".
std::string format_duration(double seconds);

// Evenly spaced "nice" tick values covering [0, max]: steps of 1, 2, 2.5, 5 x
// 10^k, in units of 1024^k with `binary` (the largest unit below `max`), so
// byte labels stay round in one unit; never below 1 (bytes and objects come
// whole). Starts at 0, ends at or above `max`.
std::vector<double> nice_ticks(double max, int target_count, bool binary);
// The unit of such an axis (1, 1024, 1024^2, ... for binary; 1 otherwise) and
// the label of one of its ticks in it ("0", "0.5 MiB", "1.5 MiB"); `top` is
// the highest tick.
double axis_unit(double max, bool binary);
std::string axis_label(double value, double top, bool binary);

// Ticks for a time axis in seconds (1, 2, 5, 10, 15, 30 s, 1, 2, 5, 10 min...).
std::vector<double> time_ticks(double lo, double hi, int target_count);
std::string time_label(double seconds);  // "30s", "2m", "1m30s"

// Whether a kind is measured in bytes (heap, mmap, brk) or in objects.
bool kind_in_bytes(Kind kind);

// The function, or "libfoo.so+0x1a2b" (module basename) when it is unknown;
// a JS frame's function or "(anonymous)".
std::string frame_name(const Frame& frame);

// "file.c:42" (basename), "file.c", or "" when the file is unknown; JS
// frames "app.js:42:13" or "node:internal/timers:5:3" (js_short_file).
std::string frame_location(const Frame& frame);

}  // namespace leakscope::html
