// Placeholder until the pprof renderer lands (being written now).
#include "report/formats.h"
namespace leakscope {
std::string render_pprof(const Report&) { return {}; }
}  // namespace leakscope
