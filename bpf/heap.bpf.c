// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Heap kind: uprobes on the allocator the target really maps.
 *
 * Entry probes save what was asked for per thread; one return probe, shared
 * by every allocating function, records the result and captures the stack.
 * The stack is taken at return on purpose: there the caller's frame is the
 * first one, which entry probes miss in allocators built without frame
 * pointers (glibc's malloc begins with `push %r12`).
 *
 * Nested calls (realloc(NULL, n) calling malloc, operator new calling
 * malloc, realloc(p, 0) calling free, one family's function calling
 * another's) are told apart by the stack pointer: an inner call runs below
 * the outer call's entry sp, so it is ignored and the outermost call alone
 * is accounted. A free-shaped function that only tail-jumps to another
 * (libstdc++'s operator delete to free, mimalloc's mi_free_size to
 * mi_free) is not probed at all: it has no return probe, so nothing would
 * tell its call and the inner one apart (target/allocator.cpp).
 */
#include "ledger.bpf.h"

/* libbpf's USDT argument specs: one per attached probe (two per process
 * with the otel_memory probes); its default of 256 would stop at 128
 * processes under --all. */
#define BPF_USDT_MAX_SPEC_CNT 2048
#include <bpf/usdt.bpf.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u64 page_size = 4096;

/* --sample N: only blocks whose address hashes to 0 mod N are accounted.
 * An allocation and its free see the same address, so both are in or both
 * out; userspace scales the estimates by N. 1: every block. */
const volatile __u32 sample_every = 1;

/* Blocks are 16-byte aligned: hash the bits that vary. */
static __always_inline __u64 block_hash(__u64 addr)
{
	return (addr >> 4) * 0x9E3779B97F4A7C15ULL;
}

static __always_inline int sampled(__u64 addr)
{
	if (sample_every <= 1)
		return 1;
	return ((__u32)(block_hash(addr) >> 32) % sample_every) == 0;
}

/* Set by userspace while tracing (tracer/heap_sampling.h): when the objects
 * map nears full, 1 in 2^shift *new* blocks are kept, each weighted 2^shift
 * in the ledger; objects kept before keep their own weight and every free
 * of a kept object is honoured, so the estimates stay unbiased. Other bits
 * of the hash than --sample's, so the two choices are independent. */
__u32 heap_sample_shift = 0;

static __always_inline __u32 sample_shift(void)
{
	__u32 shift = heap_sample_shift;
	return shift > LS_MAX_SAMPLE_SHIFT ? LS_MAX_SAMPLE_SHIFT : shift;
}

static __always_inline int kept_at(__u64 addr, __u32 shift)
{
	return ((__u32)(block_mix(addr) >> 40) & ((1u << shift) - 1)) == 0;
}

/* A free of a block not kept: unknown only if it could have been kept now
 * (otherwise the sampling, not a block from before attach, explains it). */
static __always_inline void block_freed(__u32 trace_id, __u64 addr, __u64 born_before)
{
	object_died_seen(trace_id, LS_KIND_HEAP, addr, born_before, kept_at(addr, sample_shift()));
}

#define SIZE_OVERFLOW (~0ULL)

/* Per-thread state between an allocator's entry and its return. */
struct ls_inflight {
	__u64 size;      /* bytes asked for */
	__u64 old_ptr;   /* realloc: the block being resized */
	__u64 out_ptr;   /* posix_memalign: where the result is written */
	__u64 entry_sp;  /* stack pointer at entry: tells nested calls apart */
	__u64 ret_word;  /* the word at entry_sp then: the caller's return address */
	__u64 entry_ns;
	__u32 fn;        /* the function's id (LS_FN_ID): its probe's cookie */
	__u32 shape;     /* enum ls_alloc_shape */
};

/* tid -> the allocator call in flight. LRU: a thread that dies inside the
 * allocator leaves an entry nobody will read; eviction costs nothing. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1 << 14);
	__type(key, __u32);
	__type(value, struct ls_inflight);
} inflight SEC(".maps");

/* The stack pointer, read once: the verifier rejects a context pointer that
 * clang has offset once and dereferenced on several paths. */
static __always_inline __u64 stack_pointer(struct pt_regs *ctx)
{
	__u64 sp = PT_REGS_SP(ctx);
	asm volatile("" : "+r"(sp));
	return sp;
}

static __always_inline int nested(__u64 sp, __u32 tid)
{
	struct ls_inflight *outer = bpf_map_lookup_elem(&inflight, &tid);
	return outer && sp < outer->entry_sp;
}

/* A tail call from a probed function into another (mimalloc's pvalloc
 * jumps to mi_pvalloc, which jumps to mi_malloc_aligned with the size it
 * rounded) enters at the outer call's entry sp, where the outer call's
 * return probe has meanwhile replaced the return address with its
 * trampoline: the call the caller made is the outer one, whose record
 * stays. A record left by a call that never returned (an exception thrown
 * through operator new) is older, or has the same return address. */
#define TAIL_CALL_NS (10 * 1000 * 1000ULL)

static __always_inline int tail_called(__u64 sp, __u32 tid, __u64 ret_word, __u64 now)
{
	struct ls_inflight *outer = bpf_map_lookup_elem(&inflight, &tid);
	return outer && sp == outer->entry_sp && ret_word != outer->ret_word &&
	       now - outer->entry_ns < TAIL_CALL_NS;
}

static __always_inline int enter(struct pt_regs *ctx, __u32 shape, __u64 size,
				 __u64 old_ptr, __u64 out_ptr)
{
	__u64 sp = stack_pointer(ctx);
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	if (!traced_id(id >> 32) || nested(sp, tid))
		return 0;
	__u64 ret_word = 0;
	bpf_probe_read_user(&ret_word, sizeof(ret_word), (void *)sp);
	__u64 now = bpf_ktime_get_ns();
	if (tail_called(sp, tid, ret_word, now))
		return 0;
	struct ls_inflight call = {
		.size = size,
		.old_ptr = old_ptr,
		.out_ptr = out_ptr,
		.entry_sp = sp,
		.ret_word = ret_word,
		.entry_ns = now,
		.fn = (__u32)bpf_get_attach_cookie(ctx) & (LS_FN_ID_LIMIT - 1),
		.shape = shape,
	};
	if (bpf_map_update_elem(&inflight, &tid, &call, BPF_ANY))
		count(LS_CNT_INFLIGHT_FULL);
	return 0;
}

static __always_inline __u64 array_size(__u64 n, __u64 m)
{
	if (!m)
		return 0;
	__u64 limit = ~0ULL / m;
	/* Keep clang from folding the check into a 128-bit multiply, which
	 * the BPF target cannot do. */
	asm volatile("" : "+r"(limit));
	if (n > limit)
		return SIZE_OVERFLOW;
	return n * m;
}

/* Each entry program serves every function of its shape (leakscope.h):
 * the function itself is the probe's cookie. */
SEC("uprobe")
int BPF_KPROBE(malloc_enter, __u64 size)
{
	return enter(ctx, LS_SHAPE_MALLOC, size, 0, 0);
}

SEC("uprobe")
int BPF_KPROBE(calloc_enter, __u64 n, __u64 m)
{
	return enter(ctx, LS_SHAPE_CALLOC, array_size(n, m), 0, 0);
}

SEC("uprobe")
int BPF_KPROBE(realloc_enter, __u64 ptr, __u64 size)
{
	return enter(ctx, LS_SHAPE_REALLOC, size, ptr, 0);
}

SEC("uprobe")
int BPF_KPROBE(reallocarray_enter, __u64 ptr, __u64 n, __u64 m)
{
	return enter(ctx, LS_SHAPE_REALLOCARRAY, array_size(n, m), ptr, 0);
}

SEC("uprobe")
int BPF_KPROBE(posix_memalign_enter, __u64 memptr, __u64 align, __u64 size)
{
	return enter(ctx, LS_SHAPE_POSIX_MEMALIGN, size, 0, memptr);
}

SEC("uprobe")
int BPF_KPROBE(aligned_alloc_enter, __u64 align, __u64 size)
{
	return enter(ctx, LS_SHAPE_ALIGNED_ALLOC, size, 0, 0);
}

SEC("uprobe")
int BPF_KPROBE(pvalloc_enter, __u64 size)
{
	/* pvalloc hands out whole pages (and one page for 0). */
	__u64 pages = size ? (size + page_size - 1) / page_size : 1;
	return enter(ctx, LS_SHAPE_PVALLOC, pages * page_size, 0, 0);
}

/* The last free this CPU saw. Free-shaped functions have no return probe,
 * so one that hands its block on to another probed free (jemalloc's aligned
 * sized delete computes its flags, then tail-jumps to sdallocx) leaves no
 * call in flight to tell the inner free by. The inner call frees the same
 * block on the same thread at or below the outer call's entry sp: by then
 * the outer call released it, and the inner one is not counted as a free
 * of a block never seen. Only that count is spared: a block found live is
 * released whatever this CPU saw, because the same thread freeing the same
 * address from the same call site may be freeing it again (another thread
 * got the address back from the allocator in between). Per CPU: a thread
 * migrated between the two probes a few instructions apart counts the
 * inner free as unknown, no worse. */
struct ls_last_free {
	__u64 ptr;
	__u64 sp;
	__u32 tid;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ls_last_free);
} last_free SEC(".maps");

SEC("uretprobe")
int BPF_KRETPROBE(alloc_return, __u64 ret)
{
	__u64 sp = stack_pointer(ctx);
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	__u32 trace_id = traced_id(id >> 32);
	if (!trace_id)
		return 0;
	struct ls_inflight *rec = bpf_map_lookup_elem(&inflight, &tid);
	/* No record: the call began before we attached. At or below the
	 * recorded entry sp: an inner call of the outer one is returning. */
	if (!rec || sp <= rec->entry_sp)
		return 0;
	struct ls_inflight call = *rec;
	bpf_map_delete_elem(&inflight, &tid);

	__u64 addr = ret;
	switch (call.shape) {
	case LS_SHAPE_POSIX_MEMALIGN:
		addr = 0;
		if (ret == 0 && call.out_ptr)
			bpf_probe_read_user(&addr, sizeof(addr), (void *)call.out_ptr);
		break;
	case LS_SHAPE_REALLOC:
	case LS_SHAPE_REALLOCARRAY:
		if (!call.old_ptr)
			break; /* realloc(NULL, n) is malloc(n) */
		if (addr) {
			/* Moved or resized: the old block is gone either way.
			 * Bounded by entry time, so a block another thread got
			 * at the old address meanwhile is left alone. */
			if (sampled(call.old_ptr))
				block_freed(trace_id, call.old_ptr, call.entry_ns);
		} else if (call.size == 0 && sampled(call.old_ptr)) {
			/* realloc(p, 0) frees p and returns NULL. */
			block_freed(trace_id, call.old_ptr, call.entry_ns);
		}
		/* Failed with size > 0: p is untouched. */
		break;
	default:
		break;
	}
	__u32 shift = sample_shift();
	if (!addr || call.size == SIZE_OVERFLOW || !sampled(addr) || !kept_at(addr, shift))
		return 0;

	/* At the return the registers are the caller's: pc is the return
	 * address, sp and rbp as the caller had them before the call. */
	int fp_walked = 0;
	__s32 stack_id = user_stack_id(ctx, PT_REGS_IP(ctx), sp, PT_REGS_FP(ctx), 1, &fp_walked);
	__u32 fn = call.fn | (fp_walked ? LS_FN_FP_WALKED : 0);
	object_born_weighted(trace_id, LS_KIND_HEAP, addr, call.size, stack_id, fn, bpf_ktime_get_ns(), shift);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(free_enter, __u64 ptr)
{
	__u64 sp = stack_pointer(ctx);
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	if (!ptr || !sampled(ptr))
		return 0;
	__u32 trace_id = traced_id(id >> 32);
	if (!trace_id || nested(sp, tid))
		return 0;
	__u32 zero = 0;
	struct ls_last_free *last = bpf_map_lookup_elem(&last_free, &zero);
	int handed_on = 0;
	if (last) {
		handed_on = last->tid == tid && last->ptr == ptr && sp <= last->sp;
		last->tid = tid;
		last->ptr = ptr;
		last->sp = sp;
	}
	object_died_seen(trace_id, LS_KIND_HEAP, ptr, 0, !handed_on && kept_at(ptr, sample_shift()));
	return 0;
}

/* Userspace attaches each allocator function to the entry program of its
 * shape (LS_ALLOC_SHAPES, leakscope.h): each must be one of the uprobe
 * programs here. (It checks again, by name, at load.) */
#define LS_CHECK_ENTRY_PROGRAM_(e, cxx, program)                                      \
	_Static_assert(__builtin_types_compatible_p(__typeof__(program), int(struct pt_regs *)), \
		       #program " is not an entry program");
LS_ALLOC_SHAPES(LS_CHECK_ENTRY_PROGRAM_)
#undef LS_CHECK_ENTRY_PROGRAM_

/*
 * The OpenTelemetry memory-probe contract: an allocator that samples itself
 * reports the blocks it kept, each standing for `weight` allocations of its
 * size (0 read as 1), with USDT otel_memory:alloc(ptr, size, weight), and
 * their frees with otel_memory:free(ptr). In a process that carries them
 * they replace the allocator uprobes (target/allocator.cpp). The stack is
 * walked from the probe site, inside the allocator, whose frame is dropped:
 * it starts at the return into the allocator's caller, as at a return probe.
 * --sample and the map-full sampling apply on top, as to any block.
 */
/* The allocations a reported block stands for: the allocator's weight (0
 * read as 1) times what --sample and the map-full sampling make of it; 0
 * when those leave it out. A global function, verified once on its own, as
 * is the booking below: the USDT program's argument reads and stack walk
 * times their branches were past the verifier's limit. */
__noinline __u64 otel_memory_weight(__u64 ptr, __u64 weight)
{
	if (!ptr || !sampled(ptr))
		return 0;
	__u32 shift = sample_shift();
	if (!kept_at(ptr, shift))
		return 0;
	if (weight < 1)
		weight = 1;
	/* Saturated, never shorn of the sampling's factor. */
	return weight > (LS_MAX_OBJ_WEIGHT >> shift) ? LS_MAX_OBJ_WEIGHT : weight << shift;
}

/* `site`: the stack id in the low half, the function id above (five
 * arguments at most). */
__noinline int otel_memory_book(__u32 trace_id, __u64 ptr, __u64 size, __u64 weight, __u64 site)
{
	object_born_counted(trace_id, LS_KIND_HEAP, ptr, size, (__s32)(__u32)site, (__u32)(site >> 32),
			    bpf_ktime_get_ns(), weight);
	return 0;
}

SEC("usdt")
int BPF_USDT(otel_memory_alloc, __u64 ptr, __u64 size, __u64 weight)
{
	__u32 trace_id = traced_id(bpf_get_current_pid_tgid() >> 32);
	if (!trace_id)
		return 0;
	weight = otel_memory_weight(ptr, weight);
	if (!weight)
		return 0;
	int fp_walked = 0;
	__s32 stack_id = user_stack_id(ctx, PT_REGS_IP(ctx), PT_REGS_SP(ctx), PT_REGS_FP(ctx), 0, &fp_walked);
	const __u32 fn = LS_FN_OTEL_MEMORY | (fp_walked ? LS_FN_FP_WALKED : 0);
	otel_memory_book(trace_id, ptr, size, weight, (__u64)fn << 32 | (__u32)stack_id);
	return 0;
}

SEC("usdt")
int BPF_USDT(otel_memory_free, __u64 ptr)
{
	__u32 trace_id = traced_id(bpf_get_current_pid_tgid() >> 32);
	if (!trace_id || !ptr || !sampled(ptr))
		return 0;
	/* The allocator frees blocks it did not report: never unknown. */
	object_died_seen(trace_id, LS_KIND_HEAP, ptr, 0, 0);
	return 0;
}
