// Reports for a person at a terminal.
#pragma once

#include <cstddef>
#include <string>

#include "report/model.h"

namespace leakscope {

// The periodic table: one line per stack, the top `top` stacks.
std::string render_table(const Report& report, size_t top);

// "Input limits hit" and one line per file whose read a size bound cut
// (report.input_limits); empty when none was.
std::string input_limits_text(const Report& report);

// The full report: per process, then each of the top stacks with its frames.
std::string render_text(const Report& report, size_t top);

}  // namespace leakscope
