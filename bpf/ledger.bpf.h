/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The maps every kind shares: traced tgids' images, live objects, the per-stack
 * ledger, user stacks and health counters; and the helpers that keep the
 * object map and the ledger in step, and that store user stacks. Sizes here are placeholders: userspace
 * sets them from options between open and load.
 */
#ifndef LEAKSCOPE_LEDGER_BPF_H
#define LEAKSCOPE_LEDGER_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "leakscope.h"
#include "unwind.bpf.h"

#define EEXIST 17

/* tgid -> the image (trace id) and flags of every process we trace. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct ls_image);
} images SEC(".maps") __weak;

/* Events to userspace: syscalls of the syscall kinds (ls_sys_event) and
 * the lifecycle of traced processes (ls_life_event: fork, exec, exit). */
#define SYS_RING_BYTES (1 << 22)
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SYS_RING_BYTES);
} sys_events SEC(".maps") __weak;

/* Live objects. A plain hash, never LRU: eviction would hide leaks. Not
 * preallocated: the kernel memory follows the live objects, not
 * --max-objects (a preallocated million entries is ~100 MiB). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1 << 20);
	__type(key, struct ls_obj_key);
	__type(value, struct ls_obj_val);
} objects SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1 << 16);
	__type(key, struct ls_ledger_key);
	__type(value, struct ls_ledger_val);
} ledger SEC(".maps") __weak;

/* Read by userspace through the skeleton's .bss. */
__u64 counters[LS_CNT__COUNT] __weak;
/* Entries in the objects map now: how near it is to full, without a walk
 * over a million entries. */
__s64 live_entries __weak;

static __always_inline void count(enum ls_counter c)
{
	__sync_fetch_and_add(&counters[c], 1);
}

/*
 * The user stack store. Not the kernel's stack-trace map: that one is a
 * hash without chaining, where a stack whose bucket another stack holds is
 * lost (15% of redis's stacks under load, 6% of an Express app's, among
 * them its leak). Here a stack's frames are hashed to 64 bits and
 * stack_ids, a chained hash map, gives the stack's id; stacks holds its
 * frames at that id. Distinct stacks share an id only when their 64-bit
 * hashes are equal (about 1 in 10^10 at 65,536 stacks). A stack is lost
 * only when a map is full or the stack cannot be read, each counted.
 *
 * Ids are handed out densely from 0 by next_stack_id, so stacks is an
 * array with one slot per --max-stack-traces and no id reaches the ids
 * userspace gives the stacks it composes (kUserStackBase, far above the
 * option's limit). Nothing is ever deleted: an id, once seen in a ledger
 * row, names the same frames for the whole session.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	/* Memory follows the stacks seen (an entry is ~100 bytes). Entries
	 * never outnumber the slots of stacks (an entry is added only for a
	 * slot just filled): the same size needs no headroom. */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1 << 16);
	__type(key, __u64);   /* stack_hash() of the frames */
	__type(value, __u32); /* the stack's id: its slot in stacks */
} stack_ids SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << 16);
	__type(key, __u32);
	__type(value, struct ls_stack);
} stacks SEC(".maps") __weak;

/* The next id to hand out; past the last slot of stacks the store is full. */
__u64 next_stack_id __weak;

/* 64-bit hash of a stack's first n frames: the depth seeds it, each frame
 * is mixed in by a multiply, a rotate and a multiply (xxh64's round and
 * primes), a final avalanche spreads the last frames' bits. Unrolled: ~8
 * instructions a frame, constant offsets into the frames for the verifier. */
static __always_inline __u64 stack_hash(const struct ls_stack *stack, __u32 n)
{
	__u64 h = 0x27D4EB2F165667C5ULL + n;
#pragma unroll
	for (__u32 i = 0; i < LS_MAX_STACK_DEPTH; i++) {
		if (i < n) {
			h ^= stack->frames[i] * 0xC2B2AE3D27D4EB4FULL;
			h = (h << 31) | (h >> 33);
			h *= 0x9E3779B185EBCA87ULL;
		}
	}
	h ^= h >> 33;
	h *= 0xC2B2AE3D27D4EB4FULL;
	h ^= h >> 29;
	return h;
}

/* A stack not seen before: takes the next slot, writes the frames there,
 * then publishes the id under the hash, so that whoever finds the id finds
 * the frames. */
static __always_inline __s32 store_stack(const struct ls_stack *stack, __u64 hash)
{
	__u64 next = __sync_fetch_and_add(&next_stack_id, 1);
	__u32 id = (__u32)next;
	/* The array refuses a slot past its end; ids stay __s32 in every key. */
	if (next > 0x7fffffff || bpf_map_update_elem(&stacks, &id, stack, BPF_ANY)) {
		count(LS_CNT_STACKS_FULL);
		return LS_STACK_UNKNOWN;
	}
	long err = bpf_map_update_elem(&stack_ids, &hash, &id, BPF_NOEXIST);
	if (!err)
		return (__s32)id;
	if (err == -EEXIST) {
		/* Another CPU stored the same stack first: its id wins, our slot
		 * stays unused. (Ids are never deleted: the lookup finds it.) */
		__u32 *winner = bpf_map_lookup_elem(&stack_ids, &hash);
		if (winner)
			return (__s32)*winner;
	}
	count(LS_CNT_STACK_IDS_FULL);
	return LS_STACK_UNKNOWN;
}

/* The id of a walked stack of n words, storing it if it is new. A stack
 * seen before costs the hash and one lookup. */
static __always_inline __s32 stack_id_of(const struct ls_stack *stack, __u32 n)
{
	__u64 hash = stack_hash(stack, n);
	__u32 *known = bpf_map_lookup_elem(&stack_ids, &hash);
	if (known)
		return (__s32)*known;
	return store_stack(stack, hash);
}

/*
 * The id of the current user stack, or LS_STACK_UNKNOWN (counted under its
 * reason). The thread's user registers are pc, sp and bp; pc_is_return
 * when pc is a return address (at an allocator's return), else pc is a
 * probe site inside the allocator (a USDT probe), whose frame is dropped. The walk is by
 * CFI where the process has an unwind space (unwind.bpf.h), by the
 * kernel's frame-pointer walk where it has none (*fp_walked is then set).
 * The frames are taken in the thread's walk state (unwind_walks).
 */
static __always_inline __s32 user_stack_id(void *ctx, __u64 pc, __u64 sp, __u64 bp, int pc_is_return,
					   int *fp_walked)
{
	/* pc not a return address is a probe site inside the allocator: the
	 * stack starts at the return into its caller, as one taken at a
	 * return does. (Walked by frame pointer through an allocator built
	 * without one, rbp is still its caller's: the first word skipped is
	 * then the caller's return, and the stack starts one frame out.) */
	const int skip_site = !pc_is_return;
	struct ls_walk *walk = unwind_walk_state();
	if (!walk) {
		count(LS_CNT_STACK_UNREADABLE);
		return LS_STACK_UNKNOWN;
	}
	__u32 n = unwind_user_stack(walk, bpf_get_current_pid_tgid() >> 32, pc, sp, bp, pc_is_return,
				    skip_site);
	if (!n) {
		/* Fills the frames walked and zeroes the rest of the buffer. */
		long len = bpf_get_stack(ctx, walk->stack.frames, sizeof(walk->stack.frames),
					 BPF_F_USER_STACK | (skip_site ? 1 : 0));
		if (len <= 0) {
			count(LS_CNT_STACK_UNREADABLE);
			return LS_STACK_UNKNOWN;
		}
		n = len / sizeof(__u64);
		*fp_walked = 1;
	}
	return stack_id_of(&walk->stack, n);
}

/* The trace id of a traced tgid's image, or 0 when it is not traced. */
static __always_inline __u32 traced_id(__u32 tgid)
{
	struct ls_image *image = bpf_map_lookup_elem(&images, &tgid);
	return image ? image->id : 0;
}

static __always_inline struct ls_ledger_val *ledger_row(__u32 trace_id, __u32 kind,
							__s32 stack_id, __u32 fn, __u64 now)
{
	struct ls_ledger_key key = { .trace_id = trace_id, .kind = kind, .stack_id = stack_id, .fn = fn };
	struct ls_ledger_val *row = bpf_map_lookup_elem(&ledger, &key);
	if (row)
		return row;
	struct ls_ledger_val zero = { .first_ns = now };
	long err = bpf_map_update_elem(&ledger, &key, &zero, BPF_NOEXIST);
	if (err && err != -EEXIST) {
		count(LS_CNT_LEDGER_FULL);
		return NULL;
	}
	return bpf_map_lookup_elem(&ledger, &key);
}

/* What a live object adds to its ledger row: the allocations it stands for
 * and their bytes (LS_FN_WEIGHT_SHIFT, LS_FN_WEIGHED). */
struct ls_obj_weight {
	__u64 objects;
	__u64 bytes;
};

static __always_inline struct ls_obj_weight obj_weight(const struct ls_obj_val *obj)
{
	struct ls_obj_weight w;
	if (obj->fn & LS_FN_WEIGHED) {
		w.objects = obj->size >> LS_OBJ_SIZE_BITS;
		w.bytes = (obj->size & ((1ULL << LS_OBJ_SIZE_BITS) - 1)) * w.objects;
	} else {
		__u32 shift = (obj->fn >> LS_FN_WEIGHT_SHIFT) & 0x1f;
		w.objects = 1ULL << shift;
		w.bytes = obj->size << shift;
	}
	return w;
}

static __always_inline void ledger_release(__u32 trace_id, __u32 kind,
					   const struct ls_obj_val *obj)
{
	struct ls_ledger_key key = {
		.trace_id = trace_id, .kind = kind, .stack_id = obj->stack_id,
		.fn = obj->fn & LS_FN_KEY_MASK,
	};
	__sync_fetch_and_add(&live_entries, -1);
	struct ls_ledger_val *row = bpf_map_lookup_elem(&ledger, &key);
	if (!row)
		return;
	struct ls_obj_weight w = obj_weight(obj);
	__sync_fetch_and_add(&row->live_bytes, -(__s64)w.bytes);
	__sync_fetch_and_add(&row->live_objects, -(__s64)w.objects);
	__sync_fetch_and_add(&row->frees, w.objects);
	__sync_fetch_and_add(&row->kept_objects, -1);
}

/* Records live object `val` under `id` and charges it to its stack (its
 * fn's key bits name the row). An id that is still live (its release was
 * never seen) is released first, so the ledger never counts one object
 * twice. */
static __always_inline void object_born_as(__u32 trace_id, __u32 kind, __u64 id,
					   const struct ls_obj_val *val)
{
	struct ls_obj_key key = { .trace_id = trace_id, .kind = kind, .id = id };
	struct ls_obj_val *old = bpf_map_lookup_elem(&objects, &key);
	if (old) {
		struct ls_obj_val stale = *old;
		if (bpf_map_delete_elem(&objects, &key) == 0) {
			ledger_release(trace_id, kind, &stale);
			count(LS_CNT_STALE_REPLACED);
		}
	}
	struct ls_ledger_val *row = ledger_row(trace_id, kind, val->stack_id, val->fn & LS_FN_KEY_MASK,
					       val->birth_ns);
	if (!row)
		return;
	if (bpf_map_update_elem(&objects, &key, val, BPF_NOEXIST)) {
		count(LS_CNT_OBJ_MAP_FULL);
		return;
	}
	struct ls_obj_weight w = obj_weight(val);
	__sync_fetch_and_add(&live_entries, 1);
	__sync_fetch_and_add(&row->live_bytes, (__s64)w.bytes);
	__sync_fetch_and_add(&row->live_objects, (__s64)w.objects);
	__sync_fetch_and_add(&row->allocs, w.objects);
	__sync_fetch_and_add(&row->bytes_allocated, w.bytes);
	__sync_fetch_and_add(&row->kept_objects, 1);
	count(LS_CNT_ALLOCS);
}

/* An object weighted 2^shift: it stands for that many allocations (see
 * LS_FN_WEIGHT_SHIFT). */
static __always_inline void object_born_weighted(__u32 trace_id, __u32 kind, __u64 id, __u64 size,
						 __s32 stack_id, __u32 fn, __u64 now, __u32 shift)
{
	struct ls_obj_val val = {
		.size = size, .birth_ns = now, .stack_id = stack_id,
		.fn = (fn & LS_FN_KEY_MASK) | ((shift & 0x1f) << LS_FN_WEIGHT_SHIFT),
	};
	object_born_as(trace_id, kind, id, &val);
}

/* An object standing for `weight` allocations of its size, as the allocator
 * that sampled it says (LS_FN_WEIGHED). */
static __always_inline void object_born_counted(__u32 trace_id, __u32 kind, __u64 id, __u64 size,
						__s32 stack_id, __u32 fn, __u64 now, __u64 weight)
{
	const __u64 size_mask = (1ULL << LS_OBJ_SIZE_BITS) - 1;
	if (size > size_mask)
		size = size_mask;
	if (weight < 1)
		weight = 1;
	if (weight > LS_MAX_OBJ_WEIGHT)
		weight = LS_MAX_OBJ_WEIGHT;
	/* Bytes stay a positive __s64 in the ledger. */
	if (size && weight > (1ULL << 62) / size)
		weight = (1ULL << 62) / size;
	struct ls_obj_val val = {
		.size = size | (weight << LS_OBJ_SIZE_BITS), .birth_ns = now, .stack_id = stack_id,
		.fn = (fn & LS_FN_KEY_MASK) | LS_FN_WEIGHED,
	};
	object_born_as(trace_id, kind, id, &val);
}

static __always_inline void object_born(__u32 trace_id, __u32 kind, __u64 id, __u64 size,
					__s32 stack_id, __u32 fn, __u64 now)
{
	object_born_weighted(trace_id, kind, id, size, stack_id, fn, now, 0);
}

/* Releases a live object if we saw it born; born_before, when nonzero,
 * guards against releasing a newer object that reuses the id. */
static __always_inline void object_died_seen(__u32 trace_id, __u32 kind, __u64 id, __u64 born_before,
					     int could_be_known)
{
	struct ls_obj_key key = { .trace_id = trace_id, .kind = kind, .id = id };
	struct ls_obj_val *obj = bpf_map_lookup_elem(&objects, &key);
	if (!obj) {
		if (could_be_known)
			count(LS_CNT_FREES_UNKNOWN);
		return;
	}
	if (born_before && obj->birth_ns > born_before)
		return;
	struct ls_obj_val copy = *obj;
	if (bpf_map_delete_elem(&objects, &key))
		return; /* another CPU released it first */
	ledger_release(trace_id, kind, &copy);
	count(LS_CNT_FREES);
}

static __always_inline void object_died(__u32 trace_id, __u32 kind, __u64 id, __u64 born_before)
{
	object_died_seen(trace_id, kind, id, born_before, 1);
}

/* A finalizer that mixes every bit of an address into every bit of the
 * result (splitmix64's), for the sampling choices (heap blocks, faulting
 * pages): blocks on a power-of-two stride (aligned extents, 1 MiB chunks,
 * pages) share their low bits, and a plain multiply keeps a low bit of the
 * product a function of low bits of the address only. */
static __always_inline __u64 block_mix(__u64 addr)
{
	__u64 z = addr >> 4;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

#endif /* LEAKSCOPE_LEDGER_BPF_H */
