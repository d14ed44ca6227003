#include <gtest/gtest.h>

#include "symbols/demangle.h"

namespace leakscope {
namespace {

TEST(Demangle, FunctionInNamespace) { EXPECT_EQ(demangle("_ZN3foo3barEv"), "foo::bar()"); }

TEST(Demangle, FunctionWithArguments) {
  EXPECT_EQ(demangle("_ZN5Cache6insertERKSsm"), "Cache::insert(std::string const&, unsigned long)");
}

TEST(Demangle, OperatorNew) { EXPECT_EQ(demangle("_Znwm"), "operator new(unsigned long)"); }

TEST(Demangle, CloneSuffix) {
  EXPECT_EQ(demangle("_ZN3foo3barEv.cold"), "foo::bar() [clone .cold]");
}

TEST(Demangle, PlainCNamesUnchanged) {
  EXPECT_EQ(demangle("malloc"), "malloc");
  EXPECT_EQ(demangle("f"), "f");  // not the type "float"
  EXPECT_EQ(demangle(""), "");
}

TEST(Demangle, InvalidUnchanged) {
  EXPECT_EQ(demangle("_Z"), "_Z");
  EXPECT_EQ(demangle("_ZN3foo"), "_ZN3foo");
}

TEST(Demangle, DoesNotReadPastTheView) {
  const std::string buffer = "_ZN3foo3barEvGARBAGE";
  EXPECT_EQ(demangle(std::string_view(buffer).substr(0, 13)), "foo::bar()");
}

}  // namespace
}  // namespace leakscope
