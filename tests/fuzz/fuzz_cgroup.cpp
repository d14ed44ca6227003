// target/cgroup: the text of /proc/PID/cgroup and the container id in it.
#include "fuzz_input.h"
#include "target/cgroup.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = leakscope::fuzz::as_text(data, size);
  (void)leakscope::container_id_from_cgroup(leakscope::parse_cgroup_path(text));
  (void)leakscope::container_id_from_cgroup(text);
  return 0;
}
