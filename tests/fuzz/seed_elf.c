/* The seed ELF of the fuzz targets that read ELF files: a dynamic
 * executable with symbols, line info and .eh_frame, a few functions deep. */
#include <stdlib.h>

__attribute__((noinline)) static void* leak(size_t n) { return malloc(n); }
__attribute__((noinline)) void* make(size_t n) { return leak(n * 2); }

int main(int argc, char** argv) {
  (void)argv;
  void* p = make((size_t)argc);
  free(p);
  return 0;
}
