// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Kind fault (see ls_fault_event in leakscope.h): a traced process's
 * not-present page faults on private anonymous memory, with the stack walked
 * by CFI here where the process has its unwind tables, else with the
 * registers and the top of the user stack, for userspace to unwind. A BTF tracepoint:
 * no tracefs, and unlike syscall tracepoints it puts no task on a slower
 * path; it runs only when a page fault happens. Loaded only when the kind
 * is on.
 */
#include "ledger.bpf.h"

#define PF_PROT 1       /* x86 error code: the page was present */
#define PF_INSTR 16     /* x86 error code: an instruction fetch */

/* Its own ring buffer: a burst of faults (a process warming up) must not
 * push out the syscall and lifecycle events. */
#define FAULT_RING_BYTES (1 << 24)
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, FAULT_RING_BYTES);
} fault_events SEC(".maps");

/* How many of the faulting pages to send (LS_FAULT_WEIGHT_SHIFT): all of
 * them while the ring is less than half full, then 1 in 4, 1 in 16 and 1
 * in 64 as it fills. A burst past what userspace drains in a tick is
 * estimated instead of lost, and the rate comes back down as it drains. */
static __always_inline __u32 fault_sample_shift(void)
{
	__u64 used = bpf_ringbuf_query(&fault_events, BPF_RB_AVAIL_DATA);
	if (used < FAULT_RING_BYTES / 2)
		return 0;
	if (used < FAULT_RING_BYTES / 4 * 3)
		return 2;
	if (used < FAULT_RING_BYTES / 8 * 7)
		return 4;
	return LS_FAULT_MAX_WEIGHT_SHIFT;
}

/* The shift this page is sent with (fault_sample_shift), or -1 when the
 * sample leaves it out. A global function, verified once on its own: the
 * shift's few values would otherwise split every path of the fault program
 * after it (past the verifier's limit). */
__noinline int fault_keep_shift(__u64 address)
{
	__u32 shift = fault_sample_shift();
	if (shift && ((__u32)(block_mix(address & ~4095ull) >> 40) & ((1u << shift) - 1)))
		return -1;
	return shift;
}

/* Where a thread was at its last full fault event. */
struct ls_fault_place {
	__u64 ip;
	__u64 sp;
	__u64 top_hash; /* of the top LS_FAULT_PLACE_WORDS words of its stack */
	__u32 trace_id;
	__u32 pad;
};
#define LS_FAULT_PLACE_WORDS 16

/* Full events (with a stack to unwind) an image may send per second. */
struct ls_fault_budget {
	__u64 second;  /* ktime / 1e9 of the current second */
	__u32 used;
	__u32 pad;
};

/* tid -> where the thread was at its last full event. An LRU is right
 * here: it is a cache of stacks already sent, never a ledger; an evicted
 * thread's next fault sends a full event again. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1 << 14);
	__type(key, __u32);
	__type(value, struct ls_fault_place);
} fault_places SEC(".maps");

/* Full events each image may send per second: unwinding is userspace's
 * work, and a process faulting in gigabytes must not make it unbounded. */
const volatile __u32 fault_stacks_per_sec = 256;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1 << 14);
	__type(key, __u32);
	__type(value, struct ls_fault_budget);
} fault_budgets SEC(".maps");

static __always_inline int within_budget(__u32 trace_id)
{
	__u64 second = bpf_ktime_get_ns() / 1000000000ull;
	struct ls_fault_budget *b = bpf_map_lookup_elem(&fault_budgets, &trace_id);
	if (!b || b->second != second) {
		struct ls_fault_budget fresh = { .second = second, .used = 1 };
		bpf_map_update_elem(&fault_budgets, &trace_id, &fresh, BPF_ANY);
		return 1;
	}
	return __sync_fetch_and_add(&b->used, 1) < fault_stacks_per_sec;
}

static __always_inline void fill_head(struct ls_fault_event *e, __u32 tgid, __u32 trace_id,
				      __u32 tid, __u32 flags, __u32 shift, __u64 address)
{
	e->tgid = tgid;
	e->trace_id = trace_id;
	e->tid = tid;
	e->flags = flags | (shift << LS_FAULT_WEIGHT_SHIFT);
	e->ts_ns = bpf_ktime_get_ns();
	e->address = address;
}


/* The CFI walk into out (the event's stack bytes), as a global function:
 * the verifier proves it once, on its own, instead of once for each path
 * of the fault program that reaches it. 0 when nothing was walked. */
__noinline int fault_walk(struct ls_stack *out, __u32 tgid, __u64 pc, __u64 sp, __u64 bp)
{
	if (!out)
		return 0;
	struct ls_walk *walk = unwind_walk_state();
	if (!walk)
		return 0;
	__u32 n = unwind_user_stack(walk, tgid, pc, sp, bp, 0, 0);
	__builtin_memcpy(out->frames, walk->stack.frames, sizeof(out->frames));
	return n;
}

SEC("tp_btf/page_fault_user")
int BPF_PROG(fault_user, unsigned long address, struct pt_regs *regs, unsigned long error_code)
{
	if (error_code & PF_PROT)
		return 0; /* copy-on-write or a protection change: not a first touch */
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 trace_id = traced_id(tgid);
	if (!trace_id)
		return 0;
	if (error_code & PF_INSTR)
		return 0; /* code is never anonymous memory we count */
	/* Whether the page is private anonymous memory (not a file, not the
	 * stack) is left to userspace, which has the process's maps: asking
	 * here (bpf_find_vma) costs an irq_work per fault (IRQs are off at
	 * fault entry, so the mmap lock is released through one), a self-IPI
	 * that took a fault from ~3 us to ~20 us on this VM. */

	/* A ring filling faster than it drains: this page is sent only if the
	 * sample keeps it, and then stands for 2^shift pages. */
	int keep = fault_keep_shift(address);
	if (keep < 0) {
		count(LS_CNT_FAULTS_SAMPLED);
		return 0;
	}
	__u32 shift = (__u32)keep & 0xff;

	/* The same place as this thread's last full event: a short event. */
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	__u64 sp = regs->sp;
	__u64 hash = 14695981039346656037ull;
	for (int i = 0; i < LS_FAULT_PLACE_WORDS; i++) {
		__u64 word = 0;
		bpf_probe_read_user(&word, sizeof(word), (void *)(sp + i * 8));
		hash = (hash ^ word) * 1099511628211ull;
	}
	struct ls_fault_place here = {
		.ip = regs->ip, .sp = sp, .top_hash = hash, .trace_id = trace_id,
	};
	struct ls_fault_place *last = bpf_map_lookup_elem(&fault_places, &tid);
	__u32 flags = 0;
	if (last && last->ip == here.ip && last->sp == here.sp && last->top_hash == hash &&
	    last->trace_id == trace_id)
		flags = LS_FAULT_SAME_STACK;
	else if (!within_budget(trace_id))
		flags = LS_FAULT_NO_STACK;
	if (flags) {
		struct ls_fault_event *s = bpf_ringbuf_reserve(&fault_events, LS_FAULT_EVENT_SHORT, 0);
		if (!s) {
			count(LS_CNT_FAULTS_LOST);
			return 0;
		}
		fill_head(s, tgid, trace_id, tid, flags, shift, address);
		bpf_ringbuf_submit(s, 0);
		if (flags == LS_FAULT_NO_STACK)
			count(LS_CNT_FAULT_NO_STACK);
		return 0;
	}

	/* Walked here by CFI when the process has its unwind tables: a few
	 * hundred bytes to send instead of 12 KiB to unwind in userspace. */
	if (bpf_map_lookup_elem(&unwind_spaces, &tgid)) {
		struct ls_fault_event *u = bpf_ringbuf_reserve(&fault_events, LS_FAULT_EVENT_UNWOUND, 0);
		if (!u) {
			count(LS_CNT_FAULTS_LOST);
			return 0;
		}
		__u32 walked = fault_walk((struct ls_stack *)u->stack, tgid, regs->ip, sp, regs->bp);
		if (!walked) {
			bpf_ringbuf_discard(u, 0);
		} else {
			fill_head(u, tgid, trace_id, tid, LS_FAULT_UNWOUND, shift, address);
			__builtin_memset(u->regs, 0, sizeof(u->regs));
			__builtin_memset(u->hijacked, 0, sizeof(u->hijacked));
			u->stack_len = walked * 8;
			u->pad = 0;
			bpf_ringbuf_submit(u, 0);
			bpf_map_update_elem(&fault_places, &tid, &here, BPF_ANY);
			return 0;
		}
	}

	struct ls_fault_event *e = bpf_ringbuf_reserve(&fault_events, sizeof(*e), 0);
	if (!e) {
		count(LS_CNT_FAULTS_LOST);
		return 0;
	}
	fill_head(e, tgid, trace_id, tid, 0, shift, address);
	e->regs[0] = regs->ax;
	e->regs[1] = regs->dx;
	e->regs[2] = regs->cx;
	e->regs[3] = regs->bx;
	e->regs[4] = regs->si;
	e->regs[5] = regs->di;
	e->regs[6] = regs->bp;
	e->regs[7] = regs->sp;
	e->regs[8] = regs->r8;
	e->regs[9] = regs->r9;
	e->regs[10] = regs->r10;
	e->regs[11] = regs->r11;
	e->regs[12] = regs->r12;
	e->regs[13] = regs->r13;
	e->regs[14] = regs->r14;
	e->regs[15] = regs->r15;
	e->regs[16] = regs->ip;

	/* The kernel keeps the real return addresses of pending uretprobes;
	 * a chained instance shares its trampoline slot with the next. */
	struct task_struct *task = bpf_get_current_task_btf();
	struct return_instance *ri = BPF_CORE_READ(task, utask, return_instances);
	int n = 0;
	for (int i = 0; i < 2 * LS_FAULT_HIJACKED && ri && n < LS_FAULT_HIJACKED; i++) {
		if (!BPF_CORE_READ(ri, chained))
			e->hijacked[n++] = BPF_CORE_READ(ri, orig_ret_vaddr);
		ri = BPF_CORE_READ(ri, next);
	}
	for (int i = 0; i < LS_FAULT_HIJACKED; i++)
		if (i >= n)
			e->hijacked[i] = 0;
	e->pad = 0;

	/* The stack from sp up, a page at a time: a read that crosses the top
	 * of the stack's mapping would fail whole, so stop at the first page
	 * that cannot be read. */
	__u32 len = 4096 - (sp & 4095);
	if (bpf_probe_read_user(e->stack, len, (void *)sp)) {
		len = 0;
	} else {
		for (int i = 0; i < 2; i++) {
			if (len > LS_FAULT_STACK_BYTES - 4096)
				break;
			if (bpf_probe_read_user(e->stack + len, 4096, (void *)(sp + len)))
				break;
			len += 4096;
		}
	}
	e->stack_len = len;
	bpf_ringbuf_submit(e, 0);
	/* Only once the full event is on its way: a short one never refers to
	 * a stack userspace did not get. */
	bpf_map_update_elem(&fault_places, &tid, &here, BPF_ANY);
	return 0;
}
