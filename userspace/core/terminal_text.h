// Text for a terminal, when part of it came from a target: a process's
// name (prctl sets any bytes), a symbol from its ELF, a path it mapped.
// Written raw, such bytes could drive the operator's terminal (escape
// sequences that move the cursor, retitle the window, rewrite what was
// printed) from inside a root tool's output. Control characters are shown
// as \xNN instead; the text's own newlines and tabs stay.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace leakscope {

// `text` with every C0 control but '\n' and '\t', DEL and every C1
// control (U+0080..U+009F in UTF-8, or a byte 0x80..0x9F that is no part
// of a well-formed UTF-8 sequence) written as \xNN. Other bytes, valid
// UTF-8 or not, pass unchanged.
std::string terminal_safe(std::string_view text);

}  // namespace leakscope
