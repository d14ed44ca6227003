/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one header shared by the BPF programs and the C++ userspace: map keys,
 * values, enums and limits. Plain C, fixed-width types, explicit padding, so
 * both sides agree on every byte.
 */
#ifndef LEAKSCOPE_SHARED_H
#define LEAKSCOPE_SHARED_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/* What kind of resource a ledger row counts. Numbers are part of the ABI
 * between the BPF object and userspace; append, never renumber. */
enum ls_kind {
	LS_KIND_HEAP = 0,
	LS_KIND_MMAP = 1,
	LS_KIND_BRK = 2,
	LS_KIND_TIMERFD = 3,
	LS_KIND_EPOLL = 4,
	LS_KIND__COUNT,
};

/* Which allocator entry point a call came through (kept per thread between
 * the entry probe and the return probe). */
enum ls_alloc_fn {
	LS_FN_MALLOC = 0,
	LS_FN_CALLOC,
	LS_FN_REALLOC,
	LS_FN_REALLOCARRAY,
	LS_FN_POSIX_MEMALIGN,
	LS_FN_ALIGNED_ALLOC,
	LS_FN_MEMALIGN,
	LS_FN_VALLOC,
	LS_FN_PVALLOC,
	LS_FN_OPERATOR_NEW,
	LS_FN__COUNT,
};

/* Frames kept per user stack. */
#define LS_MAX_STACK_DEPTH 32

/* stack_id value for an allocation whose stack could not be captured. */
#define LS_STACK_UNKNOWN (-1)

/* One live object: {tgid, kind, id} -> {size, stack, birth}. For the heap
 * the id is the address. */
struct ls_obj_key {
	__u32 tgid;
	__u32 kind;
	__u64 id;
};

struct ls_obj_val {
	__u64 size;
	__u64 birth_ns;
	__s32 stack_id;
	__u32 fn; /* enum ls_alloc_fn for the heap; 0 for other kinds */
};

/* One row of the per-stack ledger. */
struct ls_ledger_key {
	__u32 tgid;
	__u32 kind;
	__s32 stack_id;
	__u32 fn; /* which entry point allocated: one call site uses one */
};

/* Updated with atomic adds from every CPU; userspace only reads. */
struct ls_ledger_val {
	__s64 live_bytes;
	__s64 live_objects;
	__u64 allocs;
	__u64 frees;
	__u64 bytes_allocated;
	__u64 first_ns; /* when this stack first allocated */
};

/* Per-thread state between an allocator's entry and its return. */
struct ls_inflight {
	__u64 size;      /* bytes asked for */
	__u64 old_ptr;   /* realloc: the block being resized */
	__u64 out_ptr;   /* posix_memalign: where the result is written */
	__u64 entry_sp;  /* stack pointer at entry: tells nested calls apart */
	__u64 entry_ns;
	__u32 fn;        /* enum ls_alloc_fn */
	__u32 pad;
};

/* Health counters: what the kernel side could not account for. Userspace
 * reports every one of them; a nonzero value lowers a report's confidence. */
enum ls_counter {
	LS_CNT_ALLOCS = 0,        /* allocations recorded */
	LS_CNT_FREES,             /* frees matched to a recorded allocation */
	LS_CNT_FREES_UNKNOWN,     /* frees of blocks not seen (allocated before attach) */
	LS_CNT_OBJ_MAP_FULL,      /* allocations dropped: per-object map full */
	LS_CNT_LEDGER_FULL,       /* allocations dropped: ledger map full */
	LS_CNT_STACK_MISS,        /* stack not captured (collision, map full, fault) */
	LS_CNT_INFLIGHT_FULL,     /* entry state could not be saved */
	LS_CNT_STALE_REPLACED,    /* an address came back live with no free seen */
	LS_CNT__COUNT,
};

#endif /* LEAKSCOPE_SHARED_H */
