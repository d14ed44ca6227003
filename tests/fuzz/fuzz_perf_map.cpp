// symbols/perf_map: a JIT's perf map (/tmp/perf-PID.map), written by the
// traced process.
#include "fuzz_input.h"
#include "symbols/perf_map.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto map = leakscope::parse_perf_map(leakscope::fuzz::as_text(data, size));
  (void)map.lookup(0);
  (void)map.lookup(~uint64_t{0});
  if (size >= 8) {
    uint64_t addr = 0;
    for (int i = 0; i < 8; ++i) addr = addr << 8 | data[i];
    (void)map.lookup(addr);
  }
  return 0;
}
