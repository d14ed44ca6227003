// The benchmark target: N operations of one workload in one noinline
// function, timed with CLOCK_MONOTONIC. Follows the fixture protocol (ready
// PID, wait for a line, work, result, done, wait for EOF), so tools/bench can
// attach leakscope before the timed work starts.
//   bench_malloc_pairs [--pairs N] [--workload pairs|mix|realloc|pages] [--auto] [--exit]
// Workloads (one operation each):
//   pairs    malloc(64) + free
//   mix      a working set of 4096 blocks of 16..4095 bytes: free one at
//            random, malloc another in its place (steady state, ~8 MiB)
//   realloc  a buffer grown by realloc 64 bytes at a time up to 64 KiB,
//            then freed and started again
//   pages    a first touch of a fresh page of anonymous memory (a page
//            fault: what kind fault pays for), given back with madvise
//            every 64 MiB
// prints "ns_per_pair <float>" (ns per operation).
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include "fixture_opaque.h"
#include "fixture_protocol.h"

enum { BLOCK = 64 };

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

enum { SLOTS = 4096 };
static void *slots[SLOTS];
static unsigned long rng = 88172645463325252ul;

static unsigned long next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

__attribute__((noinline)) void working_set_mix(long ops)
{
	for (long i = 0; i < ops; i++) {
		unsigned long r = next_random();
		size_t slot = r % SLOTS;
		free(opaque_ptr(slots[slot]));
		char *p = opaque_ptr(malloc(opaque_size(16 + (r >> 20) % 4080)));
		if (!p)
			abort();
		p[0] = 1;
		slots[slot] = p;
	}
}

static char *grown;
static size_t grown_size;

__attribute__((noinline)) void realloc_growth(long ops)
{
	for (long i = 0; i < ops; i++) {
		grown_size += 64;
		if (grown_size > 65536) {
			free(opaque_ptr(grown));
			grown = NULL;
			grown_size = 64;
		}
		grown = opaque_ptr(realloc(grown, opaque_size(grown_size)));
		if (!grown)
			abort();
		grown[grown_size - 1] = 1;
	}
}

enum { REGION = 64 << 20, PAGE = 4096 };
static char *region;
static size_t touched;

__attribute__((noinline)) void touch_pages(long ops)
{
	if (!region) {
		region = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (region == MAP_FAILED)
			abort();
	}
	for (long i = 0; i < ops; i++) {
		if (touched == REGION) {
			madvise(region, REGION, MADV_DONTNEED);
			touched = 0;
		}
		((volatile char *)region)[touched] = 1;
		touched += PAGE;
	}
}

static void (*parse_workload(int argc, char **argv))(long)
{
	for (int i = 1; i + 1 < argc; i++) {
		if (strcmp(argv[i], "--workload") != 0)
			continue;
		if (strcmp(argv[i + 1], "pairs") == 0)
			return malloc_pairs;
		if (strcmp(argv[i + 1], "mix") == 0)
			return working_set_mix;
		if (strcmp(argv[i + 1], "realloc") == 0)
			return realloc_growth;
		if (strcmp(argv[i + 1], "pages") == 0)
			return touch_pages;
		fprintf(stderr, "bench_malloc_pairs: --workload is pairs, mix, realloc or pages\n");
		exit(2);
	}
	return malloc_pairs;
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
	void (*work)(long) = parse_workload(argc, argv);
	fixture_wait_go(mode);
	work(SLOTS * 4); // first-touch of the heap, tcache and working set, untimed
	double start = now_ns();
	work(pairs);
	double elapsed = now_ns() - start;
	printf("ns_per_pair %.1f\n", elapsed / (double)pairs);
	printf("done\n");
	return fixture_finish(mode);
}
