// Turning mangled C++ symbol names into readable ones.
#pragma once

#include <string>
#include <string_view>

namespace leakscope {

// Demangles an Itanium C++ ABI name ("_ZN3foo3barEv" -> "foo::bar()").
// Returns the input unchanged when it is not a mangled name or is invalid.
std::string demangle(std::string_view mangled);

}  // namespace leakscope
