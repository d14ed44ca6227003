// bench_many_stacks: holds OBJECTS live allocations spread over 2^DEPTH
// distinct call stacks (each allocation's path through left()/right() is
// the bits of its index), for measuring the tracer's own cost at scale.
//
//   bench_many_stacks [--objects N] [--depth D]
// Protocol: "ready PID", waits for a line, allocates, prints "done", then
// keeps everything until stdin closes.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *left(int depth, unsigned path);
void *right(int depth, unsigned path);

__attribute__((noinline)) void *leaf(void)
{
	return malloc(32);
}

// Inlined: one frame per level, so 17 levels fit the 32 frames kept.
static inline __attribute__((always_inline)) void *step(int depth, unsigned path)
{
	if (depth == 0)
		return leaf();
	return (path & 1) ? left(depth - 1, path >> 1) : right(depth - 1, path >> 1);
}

__attribute__((noinline)) void *left(int depth, unsigned path)
{
	void *p = step(depth, path);
	__asm__ volatile("" ::: "memory");
	return p;
}

__attribute__((noinline)) void *right(int depth, unsigned path)
{
	void *p = step(depth, path);
	__asm__ volatile("" ::: "memory");
	return p;
}

int main(int argc, char **argv)
{
	long objects = 1000000;
	int depth = 17;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--objects") == 0)
			objects = atol(argv[i + 1]);
		else if (strcmp(argv[i], "--depth") == 0)
			depth = atoi(argv[i + 1]);
	}
	void **kept = calloc((size_t)objects, sizeof *kept);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready %d\n", (int)getpid());
	char line[64];
	if (!fgets(line, sizeof line, stdin))
		return 0;
	for (long i = 0; i < objects; i++)
		kept[i] = step(depth, (unsigned)i);
	printf("done %ld objects over %ld stacks\n", objects, 1L << depth);
	while (fgets(line, sizeof line, stdin))
		;
	free(kept);
	return 0;
}
