// target/proc_maps: the text of /proc/PID/maps.
#include "fuzz_input.h"
#include "target/node_process.h"
#include "target/proc_maps.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = leakscope::fuzz::as_text(data, size);
  for (const auto& entry : leakscope::parse_maps(text))
    (void)leakscope::without_deleted_suffix(entry.path);
  while (!text.empty()) (void)leakscope::maps_line_is_libnode(leakscope::fuzz::next_part(&text, "\n"));
  return 0;
}
