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
	/* 5 is userspace's rss (sampled from /proc, never in a kernel map) */
	LS_KIND_FAULT = 6,
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

/*
 * Every traced process image has a trace id: a PID names a process, which
 * can exec into another image and whose number can be reused after it
 * exits, so ledgers are keyed by trace id, never by PID. The targets map
 * says which id a traced tgid currently has. Userspace hands out ids from
 * 1 up; the kernel side hands out ids from LS_FIRST_KERNEL_ID up when a
 * traced process forks a child or execs.
 */
#define LS_FIRST_KERNEL_ID 0x40000000u

/* Target flags. */
#define LS_TARGET_FOLLOW 1u /* children forked by this process are traced too */

struct ls_target {
	__u32 id;    /* trace id of the current image */
	__u32 flags; /* LS_TARGET_* */
};

/* One live object: {trace id, kind, object} -> {size, stack, birth}. For
 * the heap the object is the address. */
struct ls_obj_key {
	__u32 trace_id;
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
	__u32 trace_id;
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
	LS_CNT_EVENTS_LOST,       /* syscall events dropped: ring buffer full */
	LS_CNT_TARGETS_FULL,      /* a traced process's child not followed: targets map full */
	LS_CNT_FAULTS_LOST,       /* page-fault events dropped: their ring buffer full */
	LS_CNT_FAULT_NO_STACK,    /* page faults sent without a stack: over the budget */
	LS_CNT__COUNT,
};

/*
 * Syscall kinds (mmap, brk, timerfd, epoll). Their bookkeeping needs
 * interval arithmetic (partial munmap, mremap, MAP_FIXED) and a model of
 * the process's descriptor table (dup, close_range, exec of CLOEXEC
 * descriptors), which belongs in userspace. The kernel side filters by
 * tgid, pairs each syscall's entry with its exit, captures the user stack,
 * and sends one event per *successful* call of a traced process. These
 * calls are rare next to malloc, so an event stream costs little here.
 */
/* User stack words sent with a syscall event (see ls_sys_event). */
#define LS_STACK_TOP_WORDS 16

/* Bits of the kinds_mask knob: which kinds the kernel side accounts. */
#define LS_KIND_BIT(kind) (1u << (kind))

enum ls_sys_op {
	LS_SYS_MMAP = 1,          /* a0 addr, a1 len, a2 prot, a3 flags, a4 fd; ret = address */
	LS_SYS_MUNMAP,            /* a0 addr, a1 len */
	LS_SYS_MREMAP,            /* a0 old addr, a1 old len, a2 new len, a3 flags, a4 new addr; ret = address */
	LS_SYS_BRK,               /* a0 requested; ret = new break */
	LS_SYS_TIMERFD_CREATE,    /* a0 clockid, a1 flags; ret = fd */
	LS_SYS_TIMERFD_SETTIME,   /* a0 fd, a1 flags; a2 = 1 when armed (it_value != 0, read at exit) */
	LS_SYS_EPOLL_CREATE,      /* a0 flags (EPOLL_CLOEXEC); ret = fd */
	LS_SYS_EPOLL_CTL,         /* a0 epfd, a1 op, a2 fd */
	LS_SYS_CLOSE,             /* a0 fd */
	LS_SYS_CLOSE_RANGE,       /* a0 first, a1 last, a2 flags */
	LS_SYS_DUP,               /* a0 old fd; ret = new fd */
	LS_SYS_DUP2,              /* a0 old fd, a1 new fd, a2 flags (dup3's O_CLOEXEC); ret = new fd */
	LS_SYS_FCNTL,             /* a0 fd, a1 cmd, a2 arg; ret (new fd for F_DUPFD*) */
	LS_SYS_EXEC,              /* the process exec'd: CLOEXEC descriptors are gone; a0 new trace id */
	LS_SYS_EXIT,              /* the whole process exited */
	LS_SYS_FORK,              /* a0 child tgid (a process, not a thread), a1 its trace id */
};

struct ls_sys_event {
	__u32 op;       /* enum ls_sys_op */
	__u32 tgid;
	__u32 trace_id; /* of the image that made the call */
	__u32 nframes;
	__u64 ts_ns;    /* bpf_ktime_get_ns at exit */
	__s64 ret;
	__u64 args[5];
	/* User stack of the calls that create objects, innermost first, as
	 * the frame-pointer walk gives it: frames[0] is inside the libc
	 * syscall wrapper, frames[1] the wrapper's caller's caller (wrappers
	 * keep no frame pointer). The wrapper's caller itself is a return
	 * address among the top words of the user stack (at [sp], or above
	 * the wrapper's locals): userspace picks it out of stack_top, where
	 * it knows which words point into code. nframes 0 for other calls,
	 * whose events end before frames[] (LS_SYS_EVENT_SHORT bytes). */
	__u64 frames[LS_MAX_STACK_DEPTH];
	__u64 stack_top[LS_STACK_TOP_WORDS];
};

/* Size of an event without stack: everything before frames[]. */
#define LS_SYS_EVENT_SHORT (4 * 4 + 8 + 8 + 5 * 8)

/*
 * Kind fault: growth seen without allocator probes. A traced process's
 * first touch of a page of private anonymous memory (a not-present fault:
 * heap, anonymous mmap, never the main stack) sends the faulting thread's
 * registers and the top of its user stack. Userspace unwinds that copy with
 * the modules' CFI (the fault lands inside allocators built without frame
 * pointers) and keeps the page -> stack books; it learns that a page is
 * gone again from /proc/PID/pagemap. A process that does not grow faults
 * on no new pages, so it costs nothing.
 */
#define LS_FAULT_STACK_BYTES (3 * 4096)

/* Registers in DWARF numbering for x86_64 (0 rax, 1 rdx, 2 rcx, 3 rbx,
 * 4 rsi, 5 rdi, 6 rbp, 7 rsp, 8..15 r8..r15, 16 the return address/ip). */
#define LS_DWARF_REGS 17
#define LS_FAULT_HIJACKED 4

/* A fault whose thread is at the same place as at its last full event
 * (same pc, same sp, same top of stack: one memset filling many pages)
 * sends only the head of the event: userspace reuses that thread's stack. */
#define LS_FAULT_SAME_STACK 1u
/* Over the image's budget of stacks a second (a process warming up, a
 * whole host under --all): the page is counted, its stack is unknown. */
#define LS_FAULT_NO_STACK 2u

struct ls_fault_event {
	__u32 tgid;
	__u32 trace_id;
	__u32 tid;
	__u32 flags;      /* LS_FAULT_SAME_STACK, LS_FAULT_NO_STACK */
	__u64 ts_ns;
	__u64 address;    /* the faulting address */
	/* The rest only without LS_FAULT_SAME_STACK and LS_FAULT_NO_STACK. */
	__u64 regs[LS_DWARF_REGS];
	/* Return addresses a uretprobe (ours, in a drill-down, or another
	 * tool's) replaced with its trampoline on this thread's stack,
	 * innermost first, 0 after the last: each trampoline address the
	 * unwinder meets stands for the next of these. */
	__u64 hijacked[LS_FAULT_HIJACKED];
	__u32 stack_len;  /* bytes of stack[] read from regs[7] (sp) up */
	__u32 pad;
	__u8 stack[LS_FAULT_STACK_BYTES];
};

/* Size of an event with LS_FAULT_SAME_STACK or LS_FAULT_NO_STACK:
 * everything before regs[]. */
#define LS_FAULT_EVENT_SHORT (4 * 4 + 2 * 8)

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

#endif /* LEAKSCOPE_SHARED_H */
