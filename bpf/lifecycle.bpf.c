// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The lifecycle of traced processes, from the scheduler's tracepoints (BTF
 * tracepoints: no tracefs needed):
 * - fork: a child of a process traced with LS_IMAGE_FOLLOW is traced from
 *   its first instruction, under a trace id of its own;
 * - exec: the new image gets a new trace id, so its ledger never mixes with
 *   the old image's;
 * - exit: the process leaves the images map at once, so a PID reused
 *   later is not taken for it.
 * Each sends an ls_life_event; userspace also reconciles with the images map
 * every tick, so a lost event delays bookkeeping but never corrupts it.
 */
#include "ledger.bpf.h"

/* Trace ids the kernel side hands out (userspace's stay below). */
__u32 next_trace_id = LS_FIRST_KERNEL_ID;

static __always_inline __u32 new_trace_id(void)
{
	return __sync_fetch_and_add(&next_trace_id, 1);
}

static __always_inline void emit(__u32 op, __u32 tgid, __u32 trace_id, __u32 child_tgid,
				 __u32 next_id)
{
	struct ls_life_event *e = bpf_ringbuf_reserve(&sys_events, sizeof(*e), 0);
	if (!e) {
		count(LS_CNT_EVENTS_LOST);
		return;
	}
	e->op = op;
	e->tgid = tgid;
	e->trace_id = trace_id;
	e->child_tgid = child_tgid;
	e->next_id = next_id;
	e->pad = 0;
	bpf_ringbuf_submit(e, 0);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(lifecycle_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 parent_tgid = parent->tgid, child_tgid = child->tgid;
	if (child_tgid == parent_tgid)
		return 0; /* a new thread: the process's uprobes cover it */
	struct ls_image *p = bpf_map_lookup_elem(&images, &parent_tgid);
	if (!p || !(p->flags & LS_IMAGE_FOLLOW))
		return 0;
	struct ls_image c = { .id = new_trace_id(), .flags = p->flags };
	__u32 parent_id = p->id;
	if (bpf_map_update_elem(&images, &child_tgid, &c, BPF_NOEXIST)) {
		count(LS_CNT_IMAGES_FULL);
		return 0;
	}
	emit(LS_LIFE_FORK, parent_tgid, parent_id, child_tgid, c.id);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(lifecycle_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = task->tgid;
	/* The old image's code is gone: until userspace gives the new one its
	 * unwind space, its stacks are walked by frame pointer. */
	bpf_map_delete_elem(&unwind_spaces, &tgid);
	struct ls_image *image = bpf_map_lookup_elem(&images, &tgid);
	if (!image)
		return 0;
	__u32 old_id = image->id, new_id = new_trace_id();
	/* In place: the program runs in the exec'ing task, nobody races us
	 * for this entry but the exit below, which cannot run meanwhile. */
	image->id = new_id;
	emit(LS_LIFE_EXEC, tgid, old_id, 0, new_id);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(lifecycle_exit, struct task_struct *task, bool group_dead)
{
	if (!group_dead)
		return 0; /* one thread of many */
	__u32 tgid = task->tgid;
	__u32 id = traced_id(tgid);
	if (!id)
		return 0;
	bpf_map_delete_elem(&images, &tgid);
	bpf_map_delete_elem(&unwind_spaces, &tgid); /* its number may come back */
	emit(LS_LIFE_EXIT, tgid, id, 0, 0);
	return 0;
}
