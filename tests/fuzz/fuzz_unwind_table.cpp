// symbols/unwind_table: the .eh_frame / .debug_frame of an ELF file of a
// traced process compiled into the kernel unwinder's table, and the lookup
// that reads such a table.
#include <vector>

#include "fuzz_input.h"
#include "symbols/unwind_table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  leakscope::fuzz::MemFile file(data, size);
  std::string error;
  leakscope::UnwindTableStats stats;
  // Limits small enough that a fuzzed file reaches them in a fuzzing run.
  leakscope::UnwindTableLimits limits;
  limits.max_rows = 1 << 16;
  limits.max_fdes = 1 << 14;
  limits.max_fde_bytes = 4 << 10;
  limits.max_cfi_work = uint64_t{1} << 24;
  auto table = leakscope::compile_unwind_table_fd(file.fd(), &error, &stats, limits);
  if (table) {
    for (uint64_t at = table->base; at < table->base + 4096; at += 7)
      (void)leakscope::unwind_rule_at(table->words, at);
    (void)table->rows();
    (void)table->pages();
  }
  // The lookup on words as they come: it must never read out of bounds.
  std::vector<uint64_t> words(size / 8);
  for (size_t i = 0; i < words.size(); ++i)
    for (int b = 0; b < 8; ++b) words[i] = words[i] << 8 | data[i * 8 + b];
  if (!words.empty()) {
    (void)leakscope::unwind_rule_at(words, words[0]);
    (void)leakscope::unwind_rule_at(words, words[0] + (words.size() > 1 ? words[1] : 0));
    (void)leakscope::unwind_rule_at(words, words.back());
  }
  return 0;
}
