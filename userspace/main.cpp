// leakscope: the thin entry point. Everything else lives in the modules.
#include "cli/app.h"

int main(int argc, char** argv) { return leakscope::run_app(argc, argv); }
