// The benchmark target for stack walking: malloc(64)+free pairs made DEPTH
// noinline frames below main's timing call, each frame a function of its own
// (f1..f20, distinct bodies, a call that is not a tail call), so a traced
// allocation's stack is DEPTH + 5 frames: the chain, deep_pairs, main,
// __libc_start_call_main, __libc_start_main (and _start). Built twice from
// this source (tools/benchprogs/CMakeLists.txt): -O2 -fomit-frame-pointer
// (bench_deep_pairs_nofp: only CFI can walk it) and -O2
// -fno-omit-frame-pointer (bench_deep_pairs_fp). The loop is in the deepest
// frame, so the untraced cost of a pair is bench_malloc_pairs's.
// Follows the fixture protocol, as bench_malloc_pairs does.
//   bench_deep_pairs_{fp,nofp} [--pairs N] [--depth 1..20] [--auto] [--exit]
// prints "ns_per_pair <float>".
#include <stdlib.h>
#include <time.h>

#include "fixture_opaque.h"
#include "fixture_protocol.h"

enum { BLOCK = 64, MAX_DEPTH = 20 };

static volatile long sink;

// The deepest frame: the pairs themselves.
__attribute__((noinline, noclone)) long f0(long pairs)
{
	for (long i = 0; i < pairs; i++) {
		void *p = opaque_ptr(malloc(opaque_size(BLOCK)));
		if (!p)
			abort();
		free(opaque_ptr(p));
	}
	return pairs;
}

// f<n> calls f<n-1> and works on its result afterwards: no tail call, and
// each body differs (the constant), so no two are folded into one.
#define CHAIN(n, prev)                                                     \
	__attribute__((noinline, noclone)) long f##n(long pairs)           \
	{                                                                  \
		long r = f##prev(opaque_size(pairs));                      \
		sink = r + n;                                              \
		return r ^ n;                                              \
	}
CHAIN(1, 0)
CHAIN(2, 1)
CHAIN(3, 2)
CHAIN(4, 3)
CHAIN(5, 4)
CHAIN(6, 5)
CHAIN(7, 6)
CHAIN(8, 7)
CHAIN(9, 8)
CHAIN(10, 9)
CHAIN(11, 10)
CHAIN(12, 11)
CHAIN(13, 12)
CHAIN(14, 13)
CHAIN(15, 14)
CHAIN(16, 15)
CHAIN(17, 16)
CHAIN(18, 17)
CHAIN(19, 18)
CHAIN(20, 19)

// chain[d] makes the pairs d frames below deep_pairs: f(d-1) .. f0.
static long (*const chain[MAX_DEPTH + 1])(long) = {
	f0, f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10,
	f11, f12, f13, f14, f15, f16, f17, f18, f19,
};

__attribute__((noinline, noclone)) long deep_pairs(long depth, long pairs)
{
	long r = chain[depth](opaque_size(pairs));
	sink = r;
	return r + 1;
}

static long parse_long(int argc, char **argv, const char *flag, long fallback, long max)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], flag) != 0)
			continue;
		char *end = NULL;
		long v = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : 0;
		if (!end || *end != '\0' || v <= 0 || v > max) {
			fprintf(stderr, "bench_deep_pairs: %s needs an integer in 1..%ld\n", flag, max);
			exit(2);
		}
		return v;
	}
	return fallback;
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	struct fixture_mode mode = fixture_parse(argc, argv);
	long pairs = parse_long(argc, argv, "--pairs", 200000, 1L << 40);
	long depth = parse_long(argc, argv, "--depth", MAX_DEPTH, MAX_DEPTH);
	fixture_wait_go(mode);
	deep_pairs(depth, 16384); // first touch of the heap and tcache, untimed
	double start = now_ns();
	deep_pairs(depth, pairs);
	double elapsed = now_ns() - start;
	printf("ns_per_pair %.1f\n", elapsed / (double)pairs);
	printf("done\n");
	return fixture_finish(mode);
}
