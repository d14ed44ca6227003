// Command line: parses flags into one TraceConfig and runs it. The only place
// that catches FatalError and turns it into a one-line message and exit code.
#pragma once

namespace leakscope {

int run_app(int argc, char** argv);

}  // namespace leakscope
