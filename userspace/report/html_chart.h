// The growth chart of the HTML report: one stack's live bytes (or objects,
// for timerfd/epoll) over time as an inline SVG line chart, with the
// detector's window and floor drawn over it. Pure.
#pragma once

#include <string>

#include "report/model.h"

namespace leakscope::html {

// The <svg> element, or a short note when the stack has no history.
std::string render_growth_chart(const StackEntry& stack);

}  // namespace leakscope::html
