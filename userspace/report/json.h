// The JSON report: a public contract for ops tooling. Fields are added over
// time, never renamed; `schema_version` says which contract a file follows.
#pragma once

#include <string>

#include "report/model.h"

namespace leakscope {

std::string render_json(const Report& report);

}  // namespace leakscope
