#include "runtimes/js_profile.h"

#include <cmath>
#include <limits>
#include <unordered_map>

#include <nlohmann/json.hpp>

namespace leakscope {

namespace {

using json = nlohmann::json;

// A string member of `object`, cut to `max` bytes; "" when absent or not a
// string.
std::string_view string_member(const json& object, const char* name, size_t max) {
  auto it = object.find(name);
  if (it == object.end() || !it->is_string()) return {};
  const std::string& s = it->get_ref<const std::string&>();
  return std::string_view(s).substr(0, max);
}

// An integer member; `fallback` when absent, not a number or out of range.
int64_t int_member(const json& object, const char* name, int64_t fallback) {
  auto it = object.find(name);
  if (it == object.end()) return fallback;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_number_float()) {
    double d = it->get<double>();
    if (std::isfinite(d) && d >= -9.0e18 && d <= 9.0e18) return static_cast<int64_t>(d);
  }
  return fallback;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// What the samples of one node add up to.
struct NodeSamples {
  int64_t count = 0;
  int64_t fresh = 0;
  double objects = 0;  // estimated
};

// How many objects one sample stands for. V8 samples an object of s bytes
// with probability 1 - exp(-s / interval) and sends the sample's size
// scaled by the inverse of that, S = s / (1 - exp(-s / interval)) (about
// the interval for small objects): s is found again from S (the function
// grows with s), and the sample stands for S / s objects.
double objects_per_sample(double scaled, double interval) {
  if (scaled <= 0 || interval <= 0) return 1;
  auto scale = [&](double s) { return s / -std::expm1(-s / interval); };
  if (scaled <= scale(1)) return scaled;  // objects of a byte or less: as many as bytes
  double lo = 1, hi = scaled;
  for (int i = 0; i < 60 && hi - lo > 0.01; ++i) {
    double mid = (lo + hi) / 2;
    (scale(mid) < scaled ? lo : hi) = mid;
  }
  return scaled / hi;
}

}  // namespace

Frame js_frame(std::string_view function_name, std::string_view url, int64_t zero_based_line,
               int64_t zero_based_column, const JsProfileLimits& limits) {
  Frame f;
  function_name = function_name.substr(0, limits.max_name_bytes);
  url = url.substr(0, limits.max_url_bytes);
  f.function = function_name.empty() ? "(anonymous)" : std::string(function_name);
  if (starts_with(url, "file://")) url.remove_prefix(7);
  f.file = std::string(url);
  constexpr int64_t kMaxLine = std::numeric_limits<int>::max() - 1;
  if (zero_based_line >= 0 && zero_based_line < kMaxLine) f.line = static_cast<int>(zero_based_line + 1);
  if (zero_based_column >= 0 && zero_based_column < kMaxLine) f.column = static_cast<int>(zero_based_column + 1);
  f.module = kJsModule;
  return f;
}

std::string js_runtime_too_old(std::string_view version) {
  if (version.empty()) return {};
  std::string_view digits = version.substr(version[0] == 'v' ? 1 : 0);
  int major = 0;
  size_t i = 0;
  for (; i < digits.size() && i < 4 && digits[i] >= '0' && digits[i] <= '9'; ++i) major = major * 10 + (digits[i] - '0');
  if (i == 0) return {};
  if (major >= 12) return {};
  return "Node.js " + std::string(version.substr(0, 32)) +
         " is too old: its sampling heap profile lacks the live samples leakscope reads (Node.js 12 or later)";
}

bool js_user_code(const Frame& frame) {
  std::string_view file = frame.file;
  if (file.empty()) return false;  // (root), (GC), (V8 API), (program), ...
  if (starts_with(file, "node:") || starts_with(file, "internal/") || starts_with(file, "evalmachine."))
    return false;
  if (file.find("/node_modules/") != std::string_view::npos || starts_with(file, "node_modules/")) return false;
  return true;
}

size_t js_leak_site(const std::vector<Frame>& frames) {
  for (size_t i = 0; i < frames.size(); ++i)
    if (js_user_code(frames[i])) return i;
  return 0;
}

std::string js_stack_identity(const std::vector<Frame>& frames, size_t leak_site) {
  std::string out;
  auto add = [&](const Frame& f) {
    out += f.function;
    out += '\0';
    out += f.file;
    out += '\0';
    out += std::to_string(f.line) + ':' + std::to_string(f.column) + '\n';
  };
  const bool user = leak_site < frames.size() && js_user_code(frames[leak_site]);
  for (size_t i = user ? leak_site : 0; i < frames.size(); ++i)
    if (!user || js_user_code(frames[i])) add(frames[i]);
  return out;
}

std::optional<JsProfile> read_js_profile(const json& profile, double sampling_interval, uint64_t ordinal_seen,
                                         std::string* error, const JsProfileLimits& limits) {
  auto fail = [&](std::string message) -> std::optional<JsProfile> {
    if (error) *error = std::move(message);
    return std::nullopt;
  };
  if (!profile.is_object()) return fail("the sampling heap profile is not a JSON object");
  auto head = profile.find("head");
  if (head == profile.end() || !head->is_object()) return fail("the sampling heap profile has no call tree (head)");
  auto samples = profile.find("samples");
  if (samples == profile.end() || !samples->is_array())
    return fail("the sampling heap profile has no samples (a Node.js older than 12 does not send them)");

  JsProfile out;
  std::unordered_map<int64_t, NodeSamples> by_node;
  size_t read = 0;
  for (const json& s : *samples) {
    if (++read > limits.max_samples) {
      out.truncated = true;
      break;
    }
    if (!s.is_object()) continue;
    int64_t node = int_member(s, "nodeId", -1);
    int64_t size = int_member(s, "size", -1);
    int64_t ordinal = int_member(s, "ordinal", -1);
    if (node < 0 || size < 0) continue;
    NodeSamples& n = by_node[node];
    ++n.count;
    n.objects += objects_per_sample(double(size), sampling_interval);
    if (ordinal >= 0) {
      if (uint64_t(ordinal) > ordinal_seen) ++n.fresh;
      out.max_ordinal = std::max(out.max_ordinal, uint64_t(ordinal));
    }
  }
  out.max_ordinal = std::max(out.max_ordinal, ordinal_seen);

  // Depth-first over the tree without recursion (a hostile profile may be
  // deep), keeping the path from the root as frames.
  struct Visit {
    const json* node;
    size_t next_child = 0;
  };
  std::vector<Visit> todo{{&*head}};
  std::vector<Frame> path;  // frames of todo[1..], outermost first (the root has none)
  size_t frame_bytes = 0;   // of the stacks kept so far
  while (!todo.empty()) {
    Visit& v = todo.back();
    const json& node = *v.node;
    if (v.next_child == 0) {
      // First visit: account the node.
      if (++out.nodes > limits.max_nodes) {
        out.truncated = true;
        break;
      }
      int64_t self = std::max<int64_t>(0, int_member(node, "selfSize", 0));
      int64_t id = int_member(node, "id", -1);
      auto samples_of = by_node.find(id);
      if ((self > 0 || samples_of != by_node.end()) && !path.empty()) {
        JsStack stack;
        size_t keep = std::min(path.size(), limits.max_depth);
        if (keep < path.size()) out.truncated = true;
        size_t bytes = 0;
        for (size_t i = path.size() - keep; i < path.size(); ++i)
          bytes += path[i].function.size() + path[i].file.size() + sizeof(Frame);
        if (frame_bytes + bytes > limits.max_frame_bytes) {
          out.truncated = true;
          break;
        }
        frame_bytes += bytes * 2;  // the frames and the identity made of them
        stack.frames.assign(path.rbegin(), path.rbegin() + static_cast<std::ptrdiff_t>(keep));
        stack.leak_site = js_leak_site(stack.frames);
        stack.identity = js_stack_identity(stack.frames, stack.leak_site);
        stack.live_bytes = self;
        if (samples_of != by_node.end()) {
          stack.live_samples = samples_of->second.count;
          stack.new_samples = samples_of->second.fresh;
          stack.live_objects = std::llround(samples_of->second.objects);
        }
        out.stacks.push_back(std::move(stack));
      }
    }
    auto children = node.find("children");
    if (children != node.end() && children->is_array() && v.next_child < children->size()) {
      const json& child = (*children)[v.next_child++];
      if (!child.is_object()) continue;
      auto frame = child.find("callFrame");
      static const json kNoFrame = json::object();
      const json& cf = frame != child.end() && frame->is_object() ? *frame : kNoFrame;
      path.push_back(js_frame(string_member(cf, "functionName", limits.max_name_bytes),
                              string_member(cf, "url", limits.max_url_bytes), int_member(cf, "lineNumber", -1),
                              int_member(cf, "columnNumber", -1), limits));
      todo.push_back(Visit{&child});
      continue;
    }
    todo.pop_back();
    if (!path.empty() && !todo.empty()) path.pop_back();
  }
  return out;
}

}  // namespace leakscope
