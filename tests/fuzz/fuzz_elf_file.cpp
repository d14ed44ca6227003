// target/elf_file: an ELF file of a traced process (build id, program
// headers, .dynsym and .symtab, SDT notes) read by ElfFile.
#include "fuzz_input.h"
#include "target/elf_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  leakscope::fuzz::MemFile file(data, size);
  std::string error;
  auto elf = leakscope::ElfFile::open(file.path(), &error);
  if (!elf) return 0;
  (void)elf->build_id();
  (void)elf->is_dynamic();
  (void)elf->has_interpreter();
  (void)elf->has_symtab();
  (void)elf->usdt_probes();
  for (const char* name : {"malloc", "main", "free", "leak"}) {
    if (auto symbol = elf->find_function(name)) {
      if (auto offset = elf->vaddr_to_file_offset(symbol->vaddr)) (void)elf->read_bytes(*offset, 64);
    }
  }
  for (const auto& segment : elf->load_segments()) {
    (void)elf->vaddr_to_file_offset(segment.vaddr);
    (void)elf->vaddr_to_file_offset(segment.vaddr + segment.memsz - 1);
    (void)elf->read_bytes(segment.offset, 32);
  }
  (void)elf->read_bytes(~uint64_t{0} - 8, 64);
  return 0;
}
