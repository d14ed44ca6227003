/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The maps every kind shares: traced tgids' images, live objects, the per-stack
 * ledger, user stacks and health counters; and the helpers that keep the
 * object map and the ledger in step. Sizes here are placeholders: userspace
 * sets them from options between open and load.
 */
#ifndef LEAKSCOPE_LEDGER_BPF_H
#define LEAKSCOPE_LEDGER_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "leakscope.h"

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
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
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

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 1 << 15);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, LS_MAX_STACK_DEPTH * sizeof(__u64));
} stacks SEC(".maps") __weak;

/* Read by userspace through the skeleton's .bss. */
__u64 counters[LS_CNT__COUNT] __weak;

static __always_inline void count(enum ls_counter c)
{
	__sync_fetch_and_add(&counters[c], 1);
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

static __always_inline void ledger_release(__u32 trace_id, __u32 kind,
					   const struct ls_obj_val *obj)
{
	struct ls_ledger_key key = {
		.trace_id = trace_id, .kind = kind, .stack_id = obj->stack_id, .fn = obj->fn,
	};
	struct ls_ledger_val *row = bpf_map_lookup_elem(&ledger, &key);
	if (!row)
		return;
	__sync_fetch_and_add(&row->live_bytes, -(__s64)obj->size);
	__sync_fetch_and_add(&row->live_objects, -1);
	__sync_fetch_and_add(&row->frees, 1);
}

/* Records a live object and charges it to its stack. An id that is still
 * live (its release was never seen) is released first, so the ledger never
 * counts one object twice. */
static __always_inline void object_born(__u32 trace_id, __u32 kind, __u64 id, __u64 size,
					__s32 stack_id, __u32 fn, __u64 now)
{
	struct ls_obj_key key = { .trace_id = trace_id, .kind = kind, .id = id };
	struct ls_obj_val *old = bpf_map_lookup_elem(&objects, &key);
	if (old) {
		ledger_release(trace_id, kind, old);
		bpf_map_delete_elem(&objects, &key);
		count(LS_CNT_STALE_REPLACED);
	}
	struct ls_ledger_val *row = ledger_row(trace_id, kind, stack_id, fn, now);
	if (!row)
		return;
	struct ls_obj_val val = { .size = size, .birth_ns = now, .stack_id = stack_id, .fn = fn };
	if (bpf_map_update_elem(&objects, &key, &val, BPF_NOEXIST)) {
		count(LS_CNT_OBJ_MAP_FULL);
		return;
	}
	__sync_fetch_and_add(&row->live_bytes, (__s64)size);
	__sync_fetch_and_add(&row->live_objects, 1);
	__sync_fetch_and_add(&row->allocs, 1);
	__sync_fetch_and_add(&row->bytes_allocated, size);
	count(LS_CNT_ALLOCS);
}

/* Releases a live object if we saw it born; born_before, when nonzero,
 * guards against releasing a newer object that reuses the id. */
static __always_inline void object_died(__u32 trace_id, __u32 kind, __u64 id, __u64 born_before)
{
	struct ls_obj_key key = { .trace_id = trace_id, .kind = kind, .id = id };
	struct ls_obj_val *obj = bpf_map_lookup_elem(&objects, &key);
	if (!obj) {
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

#endif /* LEAKSCOPE_LEDGER_BPF_H */
