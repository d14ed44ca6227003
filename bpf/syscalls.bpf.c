// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Syscall kinds: mmap, brk, timerfd, epoll, and the descriptor calls that
 * end their objects (close, close_range, dup*, fcntl; exec is
 * lifecycle.bpf.c's).
 *
 * Two ways in, the same handlers: classic syscall tracepoints
 * (syscalls:sys_enter_X / sys_exit_X: they fire only for the calls we
 * want, but need tracefs), or, without tracefs, the raw sys_enter/sys_exit
 * tracepoints that fire for every syscall. Either way the traced-tgid
 * check comes first, so other processes pay one map lookup.
 */
#include "ledger.bpf.h"

/* Which kinds to account (LS_KIND_BIT); set by userspace before load. */
const volatile __u32 kinds_mask = ~0u;

struct sys_call {
	__u32 op;
	__u32 pad;
	__u64 args[5];
};

/* tid -> the syscall in flight, between its entry and its exit. A plain
 * hash: an entry is overwritten by the thread's next call, so it holds at
 * most one per traced thread. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 14);
	__type(key, __u32);
	__type(value, struct sys_call);
} sys_inflight SEC(".maps");

/* x86_64 syscall numbers of the calls in LS_SYSCALLS (leakscope.h): the
 * switch below is generated from that list, so a syscall added there
 * without its number here does not compile. */
enum {
	NR_close = 3, NR_mmap = 9, NR_munmap = 11, NR_brk = 12, NR_mremap = 25, NR_dup = 32,
	NR_dup2 = 33, NR_fcntl = 72, NR_epoll_create = 213, NR_epoll_ctl = 233,
	NR_timerfd_create = 283, NR_timerfd_settime = 286, NR_epoll_create1 = 291, NR_dup3 = 292,
	NR_close_range = 436,
};

#define EPOLL_CTL_ADD_OP 1
#define EPOLL_CTL_MOD_OP 3

/* The op for a syscall number, or 0 when it is not one we account (or
 * none of the kinds that need it is on). */
static __always_inline __u32 op_of(long nr)
{
	__u32 mask = kinds_mask;
	switch (nr) {
#define LS_SYSCALL_CASE_(name, op, kinds) \
	case NR_##name: return (mask & (kinds)) ? op : 0;
	LS_SYSCALLS(LS_SYSCALL_CASE_)
#undef LS_SYSCALL_CASE_
	}
	/* exec is reported by lifecycle.bpf.c, which also gives the new
	 * image its trace id. */
	return 0;
}

static __always_inline int on_enter(long nr, __u64 a0, __u64 a1, __u64 a2, __u64 a3, __u64 a4)
{
	__u32 op = op_of(nr);
	if (!op)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	if (!traced_id(id >> 32))
		return 0;
	struct sys_call call = { .op = op, .args = { a0, a1, a2, a3, a4 } };
	switch (nr) {
	case NR_epoll_create:
		call.args[0] = 0; /* epoll_create(size) has no flags */
		break;
	case NR_dup2:
		call.args[2] = 0; /* dup2 never sets O_CLOEXEC; dup3's flags are a2 */
		break;
	case NR_epoll_ctl:
		/* MOD changes no registration; event loops call it per request. */
		if (a1 == EPOLL_CTL_MOD_OP)
			return 0;
		break;
	case NR_timerfd_settime:
		/* args[2] stays the new value's address: it is read at exit,
		 * once the kernel has faulted its page in (at entry a value in
		 * a page not touched yet, say a child's .rodata, cannot be read
		 * from here). */
		break;
	}
	bpf_map_update_elem(&sys_inflight, &tid, &call, BPF_ANY);
	return 0;
}

/* The user stack of a call that creates an object: walked by CFI from the
 * thread's user registers where the process has an unwind space; else the
 * frame-pointer walk, plus the top of the user stack where the syscall
 * wrapper's return address into its caller lies (see ls_sys_event: the
 * walk skips that caller). */
static __always_inline void capture_stack(void *ctx, struct ls_sys_event *e)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	__u64 sp = BPF_CORE_READ(regs, sp);
	struct ls_walk *walk = unwind_walk_state();
	__u32 n = walk ? unwind_user_stack(walk, e->tgid, BPF_CORE_READ(regs, ip), sp,
					   BPF_CORE_READ(regs, bp), 0, 0)
		       : 0;
	if (n && walk) {
		__builtin_memcpy(e->frames, walk->stack.frames, sizeof(e->frames));
		__builtin_memset(e->stack_top, 0, sizeof(e->stack_top));
		e->nframes = n;
		e->stack_flags = LS_SYS_STACK_UNWOUND;
		return;
	}
	long len = bpf_get_stack(ctx, e->frames, sizeof(e->frames), BPF_F_USER_STACK);
	if (len <= 0) {
		count(LS_CNT_STACK_UNREADABLE);
		return;
	}
	e->nframes = len / sizeof(__u64);
	if (bpf_probe_read_user(e->stack_top, sizeof(e->stack_top), (void *)sp))
		__builtin_memset(e->stack_top, 0, sizeof(e->stack_top));
}

static __always_inline void fill_event(struct ls_sys_event *e, const struct sys_call *c,
				       __u32 tgid, __u32 trace_id, long ret)
{
	e->op = c->op;
	e->tgid = tgid;
	e->trace_id = trace_id;
	e->nframes = 0;
	e->stack_flags = 0;
	e->ts_ns = bpf_ktime_get_ns();
	e->ret = ret;
	for (int i = 0; i < 5; i++)
		e->args[i] = c->args[i];
}

static __always_inline int on_exit(void *ctx, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	struct sys_call *call = bpf_map_lookup_elem(&sys_inflight, &tid);
	if (!call)
		return 0;
	struct sys_call c = *call;
	bpf_map_delete_elem(&sys_inflight, &tid);
	if (c.op == LS_SYS_TIMERFD_SETTIME && ret == 0) {
		/* Armed when the new it_value is nonzero. */
		struct __kernel_itimerspec its = {};
		bpf_probe_read_user(&its, sizeof(its), (void *)c.args[2]);
		c.args[2] = its.it_value.tv_sec || its.it_value.tv_nsec;
	}
	if (ret < 0 && c.op != LS_SYS_MMAP && c.op != LS_SYS_MREMAP)
		return 0; /* a failed call changes nothing */
	if ((c.op == LS_SYS_MMAP || c.op == LS_SYS_MREMAP) && (unsigned long)ret >= (unsigned long)-4095)
		return 0; /* MAP_FAILED and friends */
	__u32 trace_id = traced_id(tgid);
	if (!trace_id)
		return 0; /* exited or untraced meanwhile */
	/* Only calls that create objects need their stack; the others send
	 * a short event. */
	int creates = c.op == LS_SYS_MMAP || c.op == LS_SYS_MREMAP || c.op == LS_SYS_BRK ||
		      c.op == LS_SYS_TIMERFD_CREATE ||
		      (c.op == LS_SYS_EPOLL_CTL && c.args[1] == EPOLL_CTL_ADD_OP);
	/* A ring more than half full (a flood of mmaps): creating calls go
	 * without their stack, 30 times smaller, so that every object is still
	 * on the books (under an unknown stack) and the ring keeps room for
	 * the lifecycle events. */
	if (creates && bpf_ringbuf_query(&sys_events, BPF_RB_AVAIL_DATA) > SYS_RING_BYTES / 2) {
		count(LS_CNT_SYS_STACKS_SHED);
		creates = 0;
	}
	if (!creates) {
		struct ls_sys_event *s = bpf_ringbuf_reserve(&sys_events, LS_SYS_EVENT_SHORT, 0);
		if (!s) {
			count(LS_CNT_EVENTS_LOST);
			return 0;
		}
		fill_event(s, &c, tgid, trace_id, ret);
		bpf_ringbuf_submit(s, 0);
		return 0;
	}
	struct ls_sys_event *e = bpf_ringbuf_reserve(&sys_events, sizeof(*e), 0);
	if (!e) {
		count(LS_CNT_EVENTS_LOST);
		return 0;
	}
	fill_event(e, &c, tgid, trace_id, ret);
	capture_stack(ctx, e);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* Classic tracepoints: attached to syscalls:sys_enter_X / sys_exit_X. */
SEC("tracepoint")
int sys_enter_tp(struct trace_event_raw_sys_enter *ctx)
{
	/* Read the arguments with a helper, not as context loads: the kernel
	 * refuses to attach a program whose context reads reach past a
	 * tracepoint's record, and munmap's record holds two arguments while
	 * mmap's holds six. Words past the record are never used. */
	unsigned long args[5] = {};
	bpf_probe_read_kernel(args, sizeof(args), ctx->args);
	/* syscalls:sys_enter_X records hold an int __syscall_nr where the raw
	 * sys_enter layout has a long id: only the low 32 bits are the number. */
	return on_enter((int)ctx->id, args[0], args[1], args[2], args[3], args[4]);
}

SEC("tracepoint")
int sys_exit_tp(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx, ctx->ret);
}

/* Without tracefs: every syscall of the host comes through here. */
SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter_raw, struct pt_regs *regs, long nr)
{
	if (!op_of(nr))
		return 0;
	return on_enter(nr, BPF_CORE_READ(regs, di), BPF_CORE_READ(regs, si), BPF_CORE_READ(regs, dx),
			BPF_CORE_READ(regs, r10), BPF_CORE_READ(regs, r8));
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit_raw, struct pt_regs *regs, long ret)
{
	/* The number first, as at the entry: a call we do not account costs
	 * no map lookup on its way out. */
	if (!op_of(BPF_CORE_READ(regs, orig_ax)))
		return 0;
	return on_exit(ctx, ret);
}
