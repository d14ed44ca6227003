// The stylesheet and script inlined into every HTML report. Static text: no
// report data ever goes into them.
#pragma once

#include <string_view>

namespace leakscope::html {

extern const std::string_view kStyle;   // contents of <style>
extern const std::string_view kScript;  // contents of <script>

}  // namespace leakscope::html
