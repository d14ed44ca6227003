#include "symbols/demangle.h"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>

namespace leakscope {

namespace {

struct FreeDeleter {
  void operator()(char* p) const { std::free(p); }
};

}  // namespace

std::string demangle(std::string_view mangled) {
  // Only Itanium-mangled names: plain C names like "f" would otherwise be
  // "demangled" as types ("f" -> "float").
  if (!mangled.starts_with("_Z")) return std::string(mangled);
  const std::string terminated(mangled);
  int status = 0;
  std::unique_ptr<char, FreeDeleter> out(
      abi::__cxa_demangle(terminated.c_str(), nullptr, nullptr, &status));
  if (status != 0 || !out) return terminated;
  return std::string(out.get());
}

}  // namespace leakscope
