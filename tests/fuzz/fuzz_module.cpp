// symbols/module: an ELF file of a traced process read through libdwfl for
// symbols, source lines (DWARF) and call-frame rules.
#include "fuzz_input.h"
#include "symbols/module.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  leakscope::fuzz::MemFile file(data, size);
  std::string error;
  auto module = leakscope::Module::open(file.path(), &error);
  if (!module) return 0;
  (void)module->build_id();
  // Addresses in every PT_LOAD (through the file offsets a maps line gives)
  // and a few at random from the input itself.
  for (uint64_t offset = 0; offset < size; offset += size / 8 + 1) {
    if (auto vaddr = module->file_offset_to_vaddr(offset)) {
      (void)module->lookup(*vaddr);
      (void)module->cfi_row(*vaddr);
    }
  }
  if (size >= 8) {
    uint64_t vaddr = 0;
    for (int i = 0; i < 8; ++i) vaddr = vaddr << 8 | data[i];
    (void)module->lookup(vaddr);
    (void)module->cfi_row(vaddr);
  }
  return 0;
}
