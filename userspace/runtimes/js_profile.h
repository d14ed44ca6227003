// V8's sampling heap profile (the DevTools protocol's
// HeapProfiler.SamplingHeapProfile) turned into stacks and what is live
// under each. Pure: JSON in, plain values out; no sockets, no /proc.
//
// The profile is a tree of call frames; a node's `selfSize` is V8's
// estimate of the bytes still live that were allocated with exactly that
// stack (its sampled objects, each scaled up by how likely an object of its
// size was to be sampled). `samples` lists the sampled objects still live:
// {size (scaled the same way), nodeId, ordinal}; ordinals grow with every sample V8 takes, so a
// sample above the last ordinal seen was allocated since the last profile.
//
// Everything in a profile comes from the traced process: sizes, depths,
// names and counts are bounded and checked here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/types.h"

namespace leakscope {

// One JS allocation stack and what it holds now.
struct JsStack {
  std::vector<Frame> frames;  // innermost first: the function that allocated, then its callers
  size_t leak_site = 0;       // index of the first frame of the user's own code (js_leak_site)
  std::string identity;       // js_stack_identity: stacks with the same one are one leak
  int64_t live_bytes = 0;     // V8's estimate (selfSize)
  int64_t live_objects = 0;   // estimated from the live samples' sizes and the interval
  int64_t live_samples = 0;   // sampled objects still live (what the estimates rest on)
  int64_t new_samples = 0;    // of those, sampled since the last profile (ordinal above it)
};

struct JsProfile {
  std::vector<JsStack> stacks;  // stacks with something live, in the profile's order
  uint64_t max_ordinal = 0;     // highest sample ordinal seen (carry it to the next profile)
  size_t nodes = 0;             // call-tree nodes read
  bool truncated = false;       // a bound below was hit: some nodes or frames were left out
};

struct JsProfileLimits {
  size_t max_nodes = 1'000'000;
  size_t max_samples = 4'000'000;
  size_t max_depth = 512;        // frames kept per stack (the innermost)
  size_t max_name_bytes = 1024;  // a function name
  size_t max_url_bytes = 4096;
  // Bytes of frame names and files over all stacks of a profile: a few MB
  // of JSON (deep paths, long names, many leaves) must not become GBs of
  // frames in the tracer.
  size_t max_frame_bytes = 64u << 20;
};

// Reads `profile` (the `profile` member of getSamplingProfile's result),
// sampled every `sampling_interval` bytes on average; samples at or below
// `ordinal_seen` are not new. nullopt and a one-line *error when it is not
// a sampling heap profile, or has no `samples` (a Node too old for them:
// Node 12 and later send them).
std::optional<JsProfile> read_js_profile(const nlohmann::json& profile, double sampling_interval,
                                         uint64_t ordinal_seen, std::string* error,
                                         const JsProfileLimits& limits = {});

// Why a Node.js of `version` ("v20.20.2", as its inspector's /json/version
// says) cannot be sampled, or "" when it can: the profile's `samples` (and
// live-objects-only sampling) came with Node 12. An unknown version ("")
// is tried: the profile itself is checked.
std::string js_runtime_too_old(std::string_view version);

// The frame of a profile node's call frame: function (or "(anonymous)"),
// file (the url, a file:// URL made a path), 1-based line and column,
// module "[js]".
Frame js_frame(std::string_view function_name, std::string_view url, int64_t zero_based_line,
               int64_t zero_based_column, const JsProfileLimits& limits = {});

// Whether a JS frame's file is the user's own code: not Node's internals
// (node:*, internal/*), not a package (a node_modules directory), not
// V8's own pseudo-frames ("(root)", "(GC)", "(V8 API)"... have no url).
bool js_user_code(const Frame& frame);

// The leak site of a JS stack (innermost first): the first frame of the
// user's own code; 0 when there is none.
size_t js_leak_site(const std::vector<Frame>& frames);

// What makes two JS stacks one: the leak site and the frames of the user's
// own code below it (function, file, line, column). The frames above the
// leak site (the builtin or Node function that allocated on its behalf)
// and the library frames between the user's (Express's router) are left
// out: V8 inlines and elides them differently from one call to the next,
// and one handler's leak would show as a dozen stacks. A stack without
// code of the user's is identified by all its frames.
std::string js_stack_identity(const std::vector<Frame>& frames, size_t leak_site);

}  // namespace leakscope
