#include "core/terminal_text.h"

namespace leakscope {

namespace {

void append_escaped(std::string& out, unsigned char byte) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\x";
  out += kHex[byte >> 4];
  out += kHex[byte & 15];
}

// The length of the well-formed UTF-8 sequence at the start of `s` (2 to
// 4 bytes: no overlong form, no surrogate, nothing past U+10FFFF), and its
// code point; 0 when it is none.
size_t utf8_sequence(std::string_view s, uint32_t* code_point) {
  const auto at = [&s](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = at(0);
  size_t length = 0;
  uint32_t cp = 0, min = 0;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2, cp = lead & 0x1f, min = 0x80;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3, cp = lead & 0x0f, min = 0x800;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4, cp = lead & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() < length) return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((at(i) & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (at(i) & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  *code_point = cp;
  return length;
}

}  // namespace

std::string terminal_safe(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x80) {
      if ((byte < 0x20 && byte != '\n' && byte != '\t') || byte == 0x7f)
        append_escaped(out, byte);
      else
        out += static_cast<char>(byte);
      ++i;
      continue;
    }
    uint32_t cp = 0;
    if (const size_t length = utf8_sequence(text.substr(i), &cp)) {
      if (cp <= 0x9f) {  // U+0080..U+009F: C1 controls (U+009B is a CSI)
        for (size_t k = 0; k < length; ++k) append_escaped(out, static_cast<unsigned char>(text[i + k]));
      } else {
        out.append(text.substr(i, length));
      }
      i += length;
      continue;
    }
    // Not UTF-8: a byte an 8-bit terminal reads as a C1 control is
    // escaped; any other passes as it came.
    if (byte <= 0x9f)
      append_escaped(out, byte);
    else
      out += static_cast<char>(byte);
    ++i;
  }
  return out;
}

}  // namespace leakscope
