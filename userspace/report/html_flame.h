// The flame graph of the HTML report: live bytes by stack, common prefixes
// merged, drawn as inline SVG (root at the bottom, callers below callees, the
// leak site on top). Pure.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "report/model.h"

namespace leakscope::html {

struct FlameNode {
  enum class Level { Root, Process, Frame };
  Level level = Level::Frame;
  std::string name;    // function, module+0xoffset, "comm [pid]" or "all"
  std::string module;  // frames only
  std::string file;    // frames only; empty when unknown
  std::vector<int> lines;  // distinct source lines merged into this node
  bool symbolized = true;
  bool leak_site = false;  // the leak site (StackEntry::leak_site) of a stack judged a leak
  int64_t bytes = 0;       // live bytes under this node
  int64_t leak_bytes = 0;  // ... of stacks judged a leak
  size_t stacks = 0;       // stacks passing through
  std::vector<FlameNode> children;  // largest first
};

// root ("all") -> process ("comm [pid]") -> outermost caller -> ... -> leak
// site (and, for js, the runtime's frames above it). Stacks with no live
// bytes are left out; frames are merged by name and module (JS frames: and
// file), so one caller reached from two call sites is one box.
FlameNode build_flame_tree(const Report& report);

size_t flame_depth(const FlameNode& root);  // levels, root included

// The <svg> element. `width` is the viewBox width; the SVG scales to its box.
std::string render_flame_svg(const FlameNode& root, double width = 1200);

}  // namespace leakscope::html
