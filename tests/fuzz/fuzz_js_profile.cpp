// runtimes/js_profile: V8's sampling heap profile, sent by the traced
// Node.js process over its inspector, and the version string it reports.
#include <nlohmann/json.hpp>

#include "fuzz_input.h"
#include "runtimes/js_profile.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = leakscope::fuzz::as_text(data, size);
  (void)leakscope::js_runtime_too_old(text.substr(0, 64));
  auto profile = nlohmann::json::parse(text, nullptr, false);
  if (profile.is_discarded()) return 0;
  // Small limits, so that a fuzzed profile reaches them.
  leakscope::JsProfileLimits limits;
  limits.max_nodes = 1000;
  limits.max_samples = 1000;
  limits.max_depth = 16;
  limits.max_name_bytes = 64;
  limits.max_url_bytes = 128;
  limits.max_frame_bytes = 4096;
  std::string error;
  for (double interval : {32768.0, 512.0}) {
    auto read = leakscope::read_js_profile(profile, interval, 3, &error, limits);
    if (read)
      for (const auto& stack : read->stacks)
        (void)leakscope::js_stack_identity(stack.frames, stack.leak_site);
  }
  return 0;
}
