#include "core/terminal_text.h"

namespace leakscope {

namespace {

void append_escaped(std::string& out, unsigned char byte) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\x";
  out += kHex[byte >> 4];
  out += kHex[byte & 15];
}

}  // namespace

std::string terminal_safe(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if ((byte < 0x20 && byte != '\n' && byte != '\t') || byte == 0x7f) {
      append_escaped(out, byte);
    } else if (byte == 0xc2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(text[i + 1]) <= 0x9f) {
      // U+0080..U+009F in UTF-8: C1 controls (U+009B is a CSI).
      append_escaped(out, static_cast<unsigned char>(text[++i]));
    } else if (byte >= 0x80 && byte <= 0x9f && (i == 0 || static_cast<unsigned char>(text[i - 1]) < 0x80)) {
      // A lone C1 byte after ASCII: an 8-bit terminal reads it as a control.
      append_escaped(out, byte);
    } else {
      out += static_cast<char>(byte);
    }
  }
  return out;
}

}  // namespace leakscope
