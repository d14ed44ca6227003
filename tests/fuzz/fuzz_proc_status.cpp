// target/process and target/node_process: the texts of /proc/PID/stat,
// statm, status and cmdline, cut from one input at "\n---\n".
#include "fuzz_input.h"
#include "target/node_process.h"
#include "target/process.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view rest = leakscope::fuzz::as_text(data, size);
  std::string_view stat = leakscope::fuzz::next_part(&rest, "\n---\n");
  std::string_view statm = leakscope::fuzz::next_part(&rest, "\n---\n");
  std::string_view status = leakscope::fuzz::next_part(&rest, "\n---\n");
  std::string_view cmdline = rest;
  (void)leakscope::parse_stat(stat);
  (void)leakscope::parse_statm(statm, 4096);
  (void)leakscope::parse_status_uid(status);
  if (auto mask = leakscope::parse_sigcgt(status))
    for (int signal = 0; signal <= 65; ++signal) (void)leakscope::mask_has_signal(*mask, signal);
  (void)leakscope::split_nul(cmdline);
  return 0;
}
