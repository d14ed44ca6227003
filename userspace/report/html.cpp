// Placeholder until the HTML renderer lands (being written now).
#include "report/formats.h"
namespace leakscope {
std::string render_html(const Report&) { return {}; }
}  // namespace leakscope
