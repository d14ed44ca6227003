// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Reads which handler a process has installed for one signal: a task
 * iterator that userspace attaches for one query, restricted to the threads
 * of that process, and reads through its seq file. For the first thread of
 * the process with a signal table it writes one ls_sig_record. It only
 * reads the task; nothing is written to the target.
 *
 * Its own small object (leakscope_signals), loaded on the first query and
 * not with the tracer's programs.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "leakscope.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by userspace before each query. */
__u32 target_tgid = 0;
__u32 target_signo = 0;
/* Set once the record is written: a process's threads share one table. */
__u32 written = 0;

SEC("iter/task")
int sig_disposition(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct sighand_struct *sighand;
	struct k_sigaction *action;
	struct ls_sig_record rec = {};
	__u32 signo = target_signo;

	if (!task || written)
		return 0; /* the end of the walk, or a record written already */
	if (signo < 1 || signo > LS_SIG_MAX)
		return 0;
	if ((__u32)BPF_CORE_READ(task, tgid) != target_tgid)
		return 0;
	sighand = BPF_CORE_READ(task, sighand);
	if (!sighand)
		return 0; /* an exiting thread: the next may still have it */
	/* &sighand->action[signo - 1], computed without reading; only the
	 * handler word is read. */
	action = __builtin_preserve_access_index(&sighand->action[0]);
	action = (void *)action + (__u64)((signo - 1) & (LS_SIG_MAX - 1)) *
				     bpf_core_type_size(struct k_sigaction);
	if (bpf_core_read(&rec.handler, sizeof(rec.handler), &action->sa.sa_handler))
		return 0;
	rec.tgid = target_tgid;
	rec.signo = signo;
	if (bpf_seq_write(seq, &rec, sizeof(rec)) == 0)
		written = 1;
	return 0;
}
