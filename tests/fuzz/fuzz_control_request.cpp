// control/request: a request line any root peer of the control socket may
// send, parsed as the server does (JSON without exceptions) and checked.
#include <nlohmann/json.hpp>

#include "control/request.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto request = nlohmann::json::parse(leakscope::fuzz::as_text(data, size), nullptr, false);
  (void)leakscope::parse_control_request(request);
  return 0;
}
