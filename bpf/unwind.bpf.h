/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The user-stack walk by call-frame information (see leakscope.h, "Unwinding
 * by call-frame information in the kernel"), shared by every kind.
 *
 * A walk starts from a thread's registers (pc, sp, rbp) and, frame by frame:
 * finds the executable mapping holding pc in the process's unwind space (none:
 * pc is not code, the walk ends truncated, pc is not kept); keeps pc; finds
 * the rule of pc's module's table (or walks by frame pointer where no table
 * covers it: JIT code, anonymous executable memory); reads the return address
 * at CFA - 8 and the caller's %rbp where the rule says; and goes on from the
 * caller. It ends complete at an outermost frame (the return address is
 * undefined or 0), truncated at a frame it cannot trust (an invalid rule, a
 * read that fails, a CFA that does not move up the stack) or at the depth
 * limit. A truncated stack ends with LS_FRAME_TRUNCATED.
 *
 * A process without an unwind space (its tables are not loaded yet, or it is
 * seen only host-wide) is walked by the kernel's frame-pointer walk instead.
 */
#ifndef LEAKSCOPE_UNWIND_BPF_H
#define LEAKSCOPE_UNWIND_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "leakscope.h"

/* Every loaded unwind table, each a run of words from its handle (see
 * leakscope.h). One array the BPF side knows at load: its lookups are
 * inlined (an array per module, in a map of maps, costs a call through
 * the map's operations per word, most of a frame's cost). Sized and
 * written by userspace (mmapped), which hands out the runs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} unwind_words SEC(".maps") __weak;

/* tgid -> the executable mappings of a traced process whose tables are
 * loaded. Memory follows the processes (2 KiB each). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct ls_unwind_space);
} unwind_spaces SEC(".maps") __weak;

/* The state of one walk (kept in unwind_walks). */
struct ls_walk {
	__u64 pc;
	__u64 sp;
	__u64 bp;
	__u64 ri;        /* the next pending uretprobe return instance (kernel address) */
	__u64 trampoline; /* where uretprobes send returns in this process (0: none yet) */
	struct ls_unwind_mapping mapping; /* the last frame's (zero: none yet) */
	/* The header of the last table searched, read once per table. */
	__u64 table_base;
	__u32 table_pages;
	__u32 table;          /* whose header that is (0: none read yet) */
	__u32 tgid;
	__u32 n;         /* frames kept */
	__u32 pc_is_return; /* pc is a return address: its call is at pc - 1 */
	__u32 done;      /* LS_WALK_* once the walk has ended */
	__u32 skip;      /* the first frame is walked through, not kept */
	struct ls_stack stack;
};

/*
 * Where a thread's walk is kept: the thread's own storage, not the BPF
 * stack nor per-CPU scratch. On the stack, the walk (its frames are most of
 * it) and bpf_loop's callback frame together pass the 512 bytes the
 * verifier allows a call chain (it counts a callback's frame with its
 * caller's). Per-CPU scratch is not safe: uprobe programs run with
 * migration, not preemption, disabled, so another task on this CPU could
 * overwrite it between the walk and its use. A thread runs one of our
 * programs at a time, so its own storage is its alone. An entry lives as
 * long as its thread.
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ls_walk);
} unwind_walks SEC(".maps") __weak;

/* The current thread's walk state; NULL when it cannot be had (no memory,
 * or the storage busy on this CPU). */
static __always_inline struct ls_walk *unwind_walk_state(void)
{
	return bpf_task_storage_get(&unwind_walks, bpf_get_current_task_btf(), NULL,
				    BPF_LOCAL_STORAGE_GET_F_CREATE);
}

/* bpf_loop's context must lie on the stack: it carries the walk's place. */
struct ls_walk_ref {
	struct ls_walk *w;
};

enum {
	LS_WALK_GOING = 0,
	LS_WALK_COMPLETE = 1,
	LS_WALK_TRUNCATED = 2,
};

/*
 * Makes w->mapping the mapping of space holding addr; 0 when none does.
 * The last frame's mapping is tried first (a stack's frames mostly lie in a
 * few modules). The scan copies the mapping's fields out instead of keeping
 * an index into the mappings: an index would have to be tracked precisely
 * by the verifier, which then could not merge the walk's paths (a binary
 * search that way runs it past its million instructions).
 */
static __always_inline int unwind_find_mapping(struct ls_walk *w, __u64 addr)
{
	if (addr >= w->mapping.start && addr < w->mapping.end)
		return 1;
	struct ls_unwind_space *space = bpf_map_lookup_elem(&unwind_spaces, &w->tgid);
	if (!space)
		return 0;
	__u32 count = space->count;
	for (int i = 0; i < LS_MAX_UNWIND_MAPPINGS; i++) {
		if (i >= count || space->mappings[i].start > addr)
			break;
		if (addr < space->mappings[i].end) {
			w->mapping = space->mappings[i];
			return 1;
		}
	}
	return 0;
}

static __always_inline __u64 unwind_word(__u32 index, int *ok)
{
	__u64 *word = bpf_map_lookup_elem(&unwind_words, &index);
	if (!word) {
		*ok = 0;
		return 0;
	}
	return *word;
}

/* The rule covering ELF virtual address vaddr in the table from word
 * table, LS_CFA_NONE where it has none. The table's header is read once
 * per table a walk enters (into w). */
static __always_inline __u32 unwind_rule_at(struct ls_walk *w, __u32 table, __u64 vaddr)
{
	int ok = 1;
	if (w->table != table) {
		w->table_base = unwind_word(table, &ok);
		w->table_pages = unwind_word(table + 1, &ok) >> 32;
		w->table = ok ? table : 0;
		if (!ok)
			return LS_CFA_NONE;
	}
	__u64 base = w->table_base;
	__u64 npages = w->table_pages;
	if (vaddr < base)
		return LS_CFA_NONE;
	__u64 off = vaddr - base;
	if ((off >> LS_UNWIND_PAGE_SHIFT) >= npages)
		return LS_CFA_NONE;
	__u32 page = off >> LS_UNWIND_PAGE_SHIFT;
	__u32 index = table + LS_UNWIND_HEADER_WORDS + page;
	__u32 first = unwind_word(index, &ok);
	__u32 hi = unwind_word(index + 1, &ok);
	if (!ok)
		return LS_CFA_NONE;
	__u32 rows = table + LS_UNWIND_HEADER_WORDS + (__u32)npages + 1;
	/* The row before the page's first row holds at the page's start. */
	__u32 lo = first ? first - 1 : 0;
	if (lo >= hi)
		return LS_CFA_NONE;
	/* The last row in [lo, hi) whose offset <= off: 20 halvings cover a
	 * million rows in one page, far more than code can have. */
	for (int i = 0; i < 20 && lo + 1 < hi; i++) {
		__u32 mid = lo + (hi - lo) / 2;
		__u64 row = unwind_word(rows + mid, &ok);
		if ((row >> 32) <= off)
			lo = mid;
		else
			hi = mid;
	}
	__u64 row = unwind_word(rows + lo, &ok);
	if (!ok || (row >> 32) > off)
		return LS_CFA_NONE;
	return (__u32)row;
}

static __always_inline int read_word(__u64 addr, __u64 *out)
{
	return bpf_probe_read_user(out, sizeof(*out), (const void *)addr) == 0;
}

/* The return address a uretprobe hijacked in the stack slot at slot: the
 * kernel's pending return instances, innermost first, each record the
 * slot it replaced (its stack) and the address that was there (a chained
 * one, a tail call's, the original one already). Matched by slot: records
 * of frames the walk has passed (below slot) are skipped, and a record the
 * kernel is returning through now is never taken for a caller's. 0 when
 * none of the first three matches. */
static __always_inline __u64 hijacked_return(struct ls_walk *w, __u64 slot)
{
	struct return_instance *ri = (struct return_instance *)w->ri;
	for (int i = 0; i < 3 && ri; i++) {
		if (BPF_CORE_READ(ri, stack) == slot) {
			w->ri = (__u64)BPF_CORE_READ(ri, next);
			return BPF_CORE_READ(ri, orig_ret_vaddr);
		}
		ri = BPF_CORE_READ(ri, next);
	}
	return 0;
}

static long unwind_step(__u64 index, void *ctx)
{
	struct ls_walk *w = ((struct ls_walk_ref *)ctx)->w;
	if (!w)
		return 1;
	__u64 pc = w->pc;
	if (pc == w->trampoline && pc) {
		/* A return a uretprobe hijacked: the slot it was read from lies
		 * just below this frame's sp (the caller's CFA). */
		pc = hijacked_return(w, w->sp - 8);
		w->pc = pc;
	}
	__u64 at = w->pc_is_return ? pc - 1 : pc;
	if (!unwind_find_mapping(w, at)) {
		/* Not code of the process: a data word taken for a return address. */
		w->done = LS_WALK_TRUNCATED;
		return 1;
	}
	if (w->mapping.table == LS_UNWIND_TRAMPOLINE || index >= LS_MAX_STACK_DEPTH - 1) {
		/* A trampoline other than the one we know of, or one slot left,
		 * for the mark: the stack goes deeper. */
		w->done = LS_WALK_TRUNCATED;
		return 1;
	}
	/* The frame's slot is the loop's index, not a count kept in *w: the
	 * verifier then sees one state for every iteration. */
	if (index >= w->skip) {
		w->stack.frames[(index - w->skip) & (LS_MAX_STACK_DEPTH - 1)] = pc;
		w->n = index + 1 - w->skip;
	}

	__u32 rule = LS_CFA_NONE;
	if (w->mapping.table != LS_UNWIND_NO_TABLE)
		rule = unwind_rule_at(w, w->mapping.table, at - w->mapping.bias);

	/* The caller's %rbp and return address. Where the rbp lies right
	 * below the return address (a frame-pointer frame, or CFI's saved rbp
	 * at CFA - 16) one read takes both. */
	__u64 cfa, ra, bp = w->bp;
	int pair = 0;
	switch (LS_RULE_CFA_KIND(rule)) {
	case LS_CFA_NONE:
		/* By frame pointer: the caller's rbp at [rbp], the return
		 * address above it. */
		if (!bp || bp < w->sp) {
			w->done = LS_WALK_TRUNCATED;
			return 1;
		}
		cfa = bp + 16;
		pair = 1;
		break;
	case LS_CFA_RSP:
		cfa = w->sp + LS_RULE_CFA_OFFSET(rule);
		break;
	case LS_CFA_RBP:
		cfa = bp + LS_RULE_CFA_OFFSET(rule);
		break;
	case LS_CFA_PLT:
		cfa = w->sp + 8 + ((at & 15) >= 11 ? 8 : 0);
		break;
	case LS_CFA_END:
		w->done = LS_WALK_COMPLETE;
		return 1;
	default:
		w->done = LS_WALK_TRUNCATED;
		return 1;
	}
	if (cfa < w->sp + 8) {
		w->done = LS_WALK_TRUNCATED;
		return 1;
	}
	__u32 rbp_kind = LS_RULE_RBP_KIND(rule);
	if (rbp_kind == LS_RBP_SAVED && LS_RULE_RBP_OFFSET(rule) == -16)
		pair = 1;
	if (pair) {
		__u64 words[2];
		if (bpf_probe_read_user(words, sizeof(words), (const void *)(cfa - 16))) {
			w->done = LS_WALK_TRUNCATED;
			return 1;
		}
		bp = words[0];
		ra = words[1];
	} else {
		if (!read_word(cfa - 8, &ra)) {
			w->done = LS_WALK_TRUNCATED;
			return 1;
		}
		if (rbp_kind == LS_RBP_SAVED && !read_word(cfa + LS_RULE_RBP_OFFSET(rule), &bp))
			bp = 0;
		else if (rbp_kind == LS_RBP_UNKNOWN)
			bp = 0;
	}
	if (!ra) {
		w->done = LS_WALK_COMPLETE; /* the outermost frame */
		return 1;
	}
	w->pc = ra;
	w->sp = cfa;
	w->bp = bp;
	w->pc_is_return = 1;
	return 0;
}

/*
 * Walks the user stack from (pc, sp, bp) into w->stack. Returns the number
 * of words written (frames, plus the truncation mark), 0 when the process
 * has no unwind space (the caller walks by frame pointer instead) or the
 * walk kept nothing. pc_is_return: pc is a return address (a uretprobe's),
 * not the instruction the thread stopped at. skip_first: pc's frame is
 * walked through but not kept (a probe site inside the allocator).
 */
static __always_inline __u32 unwind_user_stack(struct ls_walk *w, __u32 tgid, __u64 pc, __u64 sp,
					       __u64 bp, int pc_is_return, int skip_first)
{
	if (!bpf_map_lookup_elem(&unwind_spaces, &tgid))
		return 0;
	w->pc = pc;
	w->sp = sp;
	w->bp = bp;
	w->tgid = tgid;
	w->n = 0;
	w->pc_is_return = pc_is_return;
	w->skip = skip_first ? 1 : 0;
	w->done = LS_WALK_GOING;
	__builtin_memset(&w->mapping, 0, sizeof(w->mapping));
	w->table = 0;
	struct task_struct *task = bpf_get_current_task_btf();
	w->ri = (__u64)BPF_CORE_READ(task, utask, return_instances);
	w->trampoline = w->ri ? BPF_CORE_READ(task, mm, uprobes_state.xol_area, vaddr) : 0;
	struct ls_walk_ref ref = { .w = w };
	bpf_loop(LS_MAX_STACK_DEPTH, unwind_step, &ref, 0);
	__u32 n = w->n;
	if (n > LS_MAX_STACK_DEPTH - 1)
		n = LS_MAX_STACK_DEPTH - 1;
	if (w->done != LS_WALK_COMPLETE && n > 0) {
		w->stack.frames[n & (LS_MAX_STACK_DEPTH - 1)] = LS_FRAME_TRUNCATED;
		n++;
	}
	for (__u32 i = 0; i < LS_MAX_STACK_DEPTH; i++)
		if (i >= n)
			w->stack.frames[i] = 0;
	return n;
}

#endif /* LEAKSCOPE_UNWIND_BPF_H */
