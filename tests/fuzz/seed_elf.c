/* The seed ELF of the fuzz targets that read ELF files: a dynamic
 * executable with symbols, line info and .eh_frame, a few functions deep,
 * and SDT notes (the otel_memory USDT probes ElfFile::usdt_probes reads). */
#include <stdint.h>
#include <stdlib.h>
#include <sys/sdt.h>

__attribute__((noinline)) static void* leak(size_t n) {
  void* p = malloc(n);
  DTRACE_PROBE3(otel_memory, alloc, (uintptr_t)p, (uint64_t)n, (uint64_t)1);
  return p;
}
__attribute__((noinline)) void* make(size_t n) { return leak(n * 2); }

int main(int argc, char** argv) {
  (void)argv;
  void* p = make((size_t)argc);
  DTRACE_PROBE1(otel_memory, free, (uintptr_t)p);
  free(p);
  return 0;
}
