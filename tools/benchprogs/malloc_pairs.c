// The benchmark target: N malloc(64)+free pairs in one noinline function,
// timed with CLOCK_MONOTONIC. Follows the fixture protocol (ready PID, wait
// for a line, work, result, done, wait for EOF), so tools/bench can attach
// leakscope before the timed work starts.
//   bench_malloc_pairs [--pairs N] [--auto] [--exit]
// prints "ns_per_pair <float>".
#include <stdlib.h>
#include <time.h>

#include "fixture_opaque.h"
#include "fixture_protocol.h"

enum { BLOCK = 64, WARMUP = 1000 };

// Each pointer goes through opaque_ptr, or GCC deletes the pair outright.
__attribute__((noinline)) void malloc_pairs(long pairs)
{
	for (long i = 0; i < pairs; i++) {
		void *p = opaque_ptr(malloc(opaque_size(BLOCK)));
		if (!p)
			abort();
		free(opaque_ptr(p));
	}
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static long parse_pairs(int argc, char **argv)
{
	long pairs = 200000;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--pairs") == 0) {
			char *end = NULL;
			if (i + 1 < argc)
				pairs = strtol(argv[++i], &end, 10);
			if (!end || *end != '\0' || pairs <= 0) {
				fprintf(stderr, "bench_malloc_pairs: --pairs needs a positive integer\n");
				exit(2);
			}
		}
	}
	return pairs;
}

int main(int argc, char **argv)
{
	struct fixture_mode mode = fixture_parse(argc, argv);
	long pairs = parse_pairs(argc, argv);
	fixture_wait_go(mode);
	malloc_pairs(WARMUP); // first-touch of the heap and tcache, untimed
	double start = now_ns();
	malloc_pairs(pairs);
	double elapsed = now_ns() - start;
	printf("ns_per_pair %.1f\n", elapsed / (double)pairs);
	printf("done\n");
	return fixture_finish(mode);
}
