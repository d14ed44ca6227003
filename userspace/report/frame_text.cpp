#include "report/frame_text.h"

namespace leakscope {

bool is_js_frame(const Frame& frame) { return frame.module == kJsModule; }

size_t leak_site_index(const std::vector<Frame>& frames, size_t leak_site) {
  return leak_site < frames.size() ? leak_site : 0;
}

std::string js_function(const Frame& frame) {
  return frame.function.empty() ? std::string("(anonymous)") : frame.function;
}

std::string js_position(const Frame& frame) {
  std::string out = frame.file;
  if (out.empty()) return out;
  if (frame.line > 0) {
    out += ':' + std::to_string(frame.line);
    if (frame.column > 0) out += ':' + std::to_string(frame.column);
  }
  return out;
}

std::string js_short_file(const std::string& file) {
  if (file.starts_with("node:")) return file;
  std::string path = file;
  if (auto query = path.find_first_of("?#");
      query != std::string::npos && path.starts_with("file:"))
    path.resize(query);
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos || slash + 1 == path.size()) return path;
  return path.substr(slash + 1);
}

std::string js_frame_text(const Frame& frame) {
  std::string out = js_function(frame);
  const std::string where = js_position(frame);
  if (!where.empty()) out += " (" + where + ")";
  return out;
}

std::string js_frame_short(const Frame& frame) {
  std::string out = js_function(frame);
  if (frame.file.empty()) return out;
  out += " (" + js_short_file(frame.file);
  if (frame.line > 0) out += ':' + std::to_string(frame.line);
  return out + ")";
}

}  // namespace leakscope
