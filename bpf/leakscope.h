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

/* Checks of the layout both sides must agree on, in either language. */
#ifdef __cplusplus
#define LS_STATIC_ASSERT(cond, why) static_assert(cond, why)
#else
#define LS_STATIC_ASSERT(cond, why) _Static_assert(cond, why)
#endif

/* What kind of resource a ledger row counts. Numbers are part of the ABI
 * between the BPF object and userspace; append, never renumber. */
enum ls_kind {
	LS_KIND_HEAP = 0,
	LS_KIND_MMAP = 1,
	LS_KIND_BRK = 2,
	LS_KIND_TIMERFD = 3,
	LS_KIND_EPOLL = 4,
	/* Userspace's rss (sampled from /proc, never in a kernel map): named
	 * so that no kernel kind takes its number. */
	LS_KIND_RSS_USERSPACE = 5,
	LS_KIND_FAULT = 6,
	/* Userspace's js: live JS objects per JavaScript stack, from V8's
	 * sampling heap profiler over the DevTools protocol (never in a
	 * kernel map; the kernel side ignores its bit). */
	LS_KIND_JS_USERSPACE = 7,
	LS_KIND__COUNT,
};

/*
 * The allocator functions the heap kind probes are userspace's data: one
 * table per allocator family (core/alloc_families.h: the C malloc API,
 * operator new/delete, jemalloc, tcmalloc, mimalloc), each function with
 * its symbols and its *shape*, below: which argument is the size, which the
 * block, whether the result comes back or through a pointer. One BPF entry
 * program serves every function of a shape (heap.bpf.c), whatever the
 * family: mallocx(size, flags), mi_malloc(size) and operator new(size) are
 * malloc-shaped; sdallocx(ptr, size, flags) and mi_free(ptr) free-shaped.
 * heap.bpf.c checks at compile time, and userspace at load time, that each
 * program is there.
 *
 * Columns: enum ls_alloc_shape suffix, C++ enumerator (AllocShape), BPF
 * entry program. Arguments past those read are ignored.
 */
#define LS_ALLOC_SHAPES(X)                                                                 \
	X(MALLOC, Malloc, malloc_enter)                   /* (size, ...) -> block */         \
	X(CALLOC, Calloc, calloc_enter)                   /* (n, size, ...) -> block */      \
	X(REALLOC, Realloc, realloc_enter)                /* (block, size, ...) -> block */  \
	X(REALLOCARRAY, Reallocarray, reallocarray_enter) /* (block, n, size, ...) -> block */ \
	X(POSIX_MEMALIGN, PosixMemalign, posix_memalign_enter) /* (&block, align, size) -> 0 */ \
	X(ALIGNED_ALLOC, AlignedAlloc, aligned_alloc_enter) /* (align, size, ...) -> block */ \
	X(PVALLOC, Pvalloc, pvalloc_enter)                /* (size) -> whole pages */        \
	X(FREE, Free, free_enter)                         /* (block, ...): no return probe */

#define LS_SHAPE_ENUMERATOR_(e, cxx, program) LS_SHAPE_##e,
enum ls_alloc_shape {
	LS_ALLOC_SHAPES(LS_SHAPE_ENUMERATOR_)
	LS_SHAPE__COUNT,
};
#undef LS_SHAPE_ENUMERATOR_

/*
 * A heap row's fn (ledger key, live object) is the id of the function that
 * allocated: userspace gives each probe its function's id as the uprobe's
 * BPF cookie, and the entry program keeps it. family << 8 | index in the
 * family's table (core/alloc_families.h); below LS_FN_FP_WALKED.
 */
#define LS_FN_ID(family, index) (((family) << 8) | (index))
#define LS_FN_ID_LIMIT 0x10000u
/* The function id of blocks an allocator reported itself through the
 * OpenTelemetry memory-probe contract (USDT otel_memory:alloc): the last
 * family number, which no table has. */
#define LS_FN_OTEL_MEMORY LS_FN_ID(0xffu, 0)

/* Set in a heap row's fn (ledger key and live object) when its stack was
 * walked by frame pointer, the process having no unwind space yet (a
 * command before its first tick, new code): userspace folds such a row
 * into the CFI-walked row whose stack it begins, if there is one. */
#define LS_FN_FP_WALKED 0x10000u

/* A live heap object's weight: it stands for 2^shift allocations like it
 * (1 in 2^shift new allocations kept, when the objects map nears full and
 * the heap kind samples). Kept in the top bits of the object's fn (never in
 * a ledger key's), so a free releases exactly what its allocation added. */
#define LS_FN_WEIGHT_SHIFT 24
#define LS_FN_KEY_MASK 0x00ffffffu
#define LS_MAX_SAMPLE_SHIFT 16

/* Set in a live object's fn (never a ledger key's) when the allocator gave
 * its weight (otel_memory:alloc's): the object's size field then holds its
 * size in the low LS_OBJ_SIZE_BITS and the number of allocations it stands
 * for above them, so that its free releases exactly what it added. */
#define LS_FN_WEIGHED 0x20000000u
#define LS_OBJ_SIZE_BITS 40
#define LS_MAX_OBJ_WEIGHT ((1ULL << (64 - LS_OBJ_SIZE_BITS)) - 1)

/* Frames kept per user stack. */
#define LS_MAX_STACK_DEPTH 32

/* One stored user stack (value of the stacks map): innermost frame first,
 * zeros after the last. */
struct ls_stack {
	__u64 frames[LS_MAX_STACK_DEPTH];
};

/* stack_id value for an allocation whose stack could not be captured. */
#define LS_STACK_UNKNOWN (-1)

/*
 * Unwinding by call-frame information in the kernel (unwind.bpf.h).
 *
 * Userspace compiles each mapped module's CFI (.eh_frame, or .debug_frame
 * where that is all there is) into an unwind table: for each range of the
 * module's code, how to find the frame's CFA (canonical frame address: the
 * caller's stack pointer), the return address (always at CFA - 8 on x86_64)
 * and the caller's %rbp. A table is shared by every process that maps the
 * module (one per file) and is a run of 64-bit words in the array
 * unwind_words, from the word its mappings name (the table's handle):
 *
 *   [0]                      the ELF virtual address table offsets count from
 *   [1]                      (npages << 32) | nrows
 *   [2 .. 2 + npages]        page index, npages + 1 words: word p is the index
 *                            (among the rows) of the first row whose offset
 *                            is >= p << LS_UNWIND_PAGE_SHIFT; the last is nrows
 *   [3 + npages ..]          rows, sorted by offset: (offset << 32) | rule;
 *                            a row holds from its offset to the next row's
 *
 * The row for an address is the last one whose offset is <= the address's
 * offset: the row before the address's page's first row, or one inside it
 * (a search over that page's rows only). Code not covered by any FDE gets a
 * row of kind LS_CFA_NONE, and the table ends with one.
 *
 * A rule (the low 32 bits of a row):
 *   bits 0-2    enum ls_cfa_kind
 *   bits 3-4    enum ls_rbp_kind
 *   bits 5-12   the caller's %rbp is saved at CFA + 8 * (this, signed)
 *   bits 13-31  the CFA's offset from its register (unsigned, bytes)
 * A rule outside that shape (a CFA expression other than the PLT's, a return
 * address not at CFA - 8, an offset out of range) is LS_CFA_INVALID.
 */
#define LS_UNWIND_PAGE_SHIFT 10 /* 1 KiB "pages": ~20 rows each in libc */
#define LS_UNWIND_HEADER_WORDS 2

enum ls_cfa_kind {
	LS_CFA_NONE = 0,    /* no CFI covers this code: walk by frame pointer */
	LS_CFA_RSP = 1,     /* CFA = %rsp + offset */
	LS_CFA_RBP = 2,     /* CFA = %rbp + offset */
	LS_CFA_PLT = 3,     /* a PLT entry: CFA = %rsp + 8, + 8 more once past its push
			     * ((%rip & 15) >= 11), as glibc's and binutils' PLT CFI says */
	LS_CFA_END = 4,     /* the return address is undefined: the outermost frame
			     * (_start, a thread's start): the stack is complete */
	LS_CFA_INVALID = 5, /* a rule the kernel side cannot follow: the walk stops,
			     * the stack is truncated */
};

enum ls_rbp_kind {
	LS_RBP_SAME = 0,    /* the caller's %rbp is this frame's */
	LS_RBP_SAVED = 1,   /* saved at CFA + 8 * (bits 5-12) */
	LS_RBP_UNKNOWN = 2, /* undefined or not expressible: unknown in the caller */
};

#define LS_RULE_CFA_KIND(r) ((r) & 7u)
#define LS_RULE_RBP_KIND(r) (((r) >> 3) & 3u)
#define LS_RULE_RBP_OFFSET(r) ((__s32)(__s8)(((r) >> 5) & 0xffu) * 8)
#define LS_RULE_CFA_OFFSET(r) ((r) >> 13)
#define LS_RULE_MAX_CFA_OFFSET ((1u << 19) - 1)

/*
 * What the unwinder knows of one traced process's executable memory: its
 * executable mappings sorted by start, each with the table of its module
 * (LS_UNWIND_NO_TABLE: none: JIT code, anonymous executable memory, the vDSO,
 * where the walk follows frame pointers). A return address outside every
 * one of them is not code: the walk ends there, truncated.
 */
#define LS_MAX_UNWIND_MAPPINGS 64

/* table values besides a table's first word (never 0: word 0 of
 * unwind_words is left unused). */
#define LS_UNWIND_NO_TABLE 0u
#define LS_UNWIND_TRAMPOLINE 0xffffffffu /* [uprobes]: a hijacked return address */

struct ls_unwind_mapping {
	__u64 start;
	__u64 end;
	__u64 bias;   /* ELF virtual address = address - bias */
	__u32 table;  /* its table's first word in unwind_words, or LS_UNWIND_* */
	__u32 pad;
};

struct ls_unwind_space {
	__u32 count; /* mappings used, sorted by start */
	__u32 pad;
	struct ls_unwind_mapping mappings[LS_MAX_UNWIND_MAPPINGS];
};

LS_STATIC_ASSERT(sizeof(struct ls_unwind_mapping) == 4 * 8, "ls_unwind_mapping has padding");
LS_STATIC_ASSERT(sizeof(struct ls_unwind_space) == 8 + LS_MAX_UNWIND_MAPPINGS * 4 * 8,
		 "ls_unwind_space has padding");

/* A stack whose walk stopped at a frame it could not trust ends with this
 * word after its last frame (the walk by frame pointers, which cannot tell,
 * never writes it). */
#define LS_FRAME_TRUNCATED 0xfffffffffffffffeULL

/*
 * Every traced process image has a trace id: a PID names a process, which
 * can exec into another image and whose number can be reused after it
 * exits, so ledgers are keyed by trace id, never by PID. The images map
 * says which image (trace id) a traced tgid currently runs. Userspace hands
 * out ids from 1 up; the kernel side hands out ids from LS_FIRST_KERNEL_ID
 * up when a traced process forks a child or execs.
 */
#define LS_FIRST_KERNEL_ID 0x40000000u

/* Image flags. */
#define LS_IMAGE_FOLLOW 1u /* children forked by this process are traced too */

/* Value of the images map, whose key is a tgid. */
struct ls_image {
	__u32 id;    /* trace id of the process's current image */
	__u32 flags; /* LS_IMAGE_* */
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
	__u32 fn; /* the heap: the allocating function's id (LS_FN_ID); 0 for other kinds */
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
	/* Weighted: each object counts for its weight (1 unless sampled). */
	__s64 live_bytes;
	__s64 live_objects;
	__u64 allocs;
	__u64 frees;
	__u64 bytes_allocated;
	__u64 first_ns; /* when this stack first allocated */
	__s64 kept_objects; /* live objects actually held in the objects map (unweighted) */
};

/* Map keys are hashed byte by byte: a hole the compiler pads is bytes
 * nobody set, and a lookup would miss. Values are read by both compilers:
 * no hole leaves their layouts to chance. */
LS_STATIC_ASSERT(sizeof(struct ls_image) == 2 * 4, "ls_image has padding");
LS_STATIC_ASSERT(sizeof(struct ls_obj_key) == 2 * 4 + 8, "ls_obj_key has padding");
LS_STATIC_ASSERT(sizeof(struct ls_obj_val) == 2 * 8 + 2 * 4, "ls_obj_val has padding");
LS_STATIC_ASSERT((LS_FN_WEIGHED & LS_FN_KEY_MASK) == 0 && (LS_FN_WEIGHED & (0x1fu << LS_FN_WEIGHT_SHIFT)) == 0,
		 "LS_FN_WEIGHED is neither a key bit nor a weight-shift bit");
LS_STATIC_ASSERT(LS_FN_OTEL_MEMORY < LS_FN_FP_WALKED, "LS_FN_OTEL_MEMORY is a function id");
LS_STATIC_ASSERT(sizeof(struct ls_ledger_key) == 4 * 4, "ls_ledger_key has padding");
LS_STATIC_ASSERT(sizeof(struct ls_ledger_val) == 7 * 8, "ls_ledger_val has padding");
LS_STATIC_ASSERT(sizeof(struct ls_stack) == LS_MAX_STACK_DEPTH * 8, "ls_stack has padding");

/* Health counters: what the kernel side could not account for. Userspace
 * reports every one of them; a nonzero value lowers a report's confidence. */
enum ls_counter {
	LS_CNT_ALLOCS = 0,        /* allocations recorded */
	LS_CNT_FREES,             /* frees matched to a recorded allocation */
	LS_CNT_FREES_UNKNOWN,     /* frees of blocks not seen (allocated before attach) */
	LS_CNT_OBJ_MAP_FULL,      /* allocations dropped: per-object map full */
	LS_CNT_LEDGER_FULL,       /* allocations dropped: ledger map full */
	/* Slot 5 was "stack missed" (any reason) until the stack store of
	 * ledger.bpf.h; the one reason left of it keeps its number. */
	LS_CNT_STACK_UNREADABLE,  /* user stack not read (bpf_get_stack failed or gave 0 frames) */
	LS_CNT_INFLIGHT_FULL,     /* entry state could not be saved */
	LS_CNT_STALE_REPLACED,    /* an address came back live with no free seen */
	LS_CNT_EVENTS_LOST,       /* syscall or lifecycle events dropped: ring buffer full */
	LS_CNT_IMAGES_FULL,       /* a traced process's child not followed: images map full */
	LS_CNT_FAULTS_LOST,       /* page-fault events dropped: their ring buffer full */
	LS_CNT_FAULT_NO_STACK,    /* page faults sent without a stack: over the budget */
	LS_CNT_STACK_IDS_FULL,    /* stack not stored: the stack id map refused it (full, no memory) */
	LS_CNT_STACKS_FULL,       /* stack not stored: every stack slot handed out (--max-stack-traces) */
	LS_CNT_FAULTS_SAMPLED,    /* page faults not sent: their ring was filling; a sampled one stands for them */
	LS_CNT_SYS_STACKS_SHED,   /* syscall events sent without their stack: the event ring was filling */
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

/* What a syscall event reports; its arguments as ls_sys_event carries them. */
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
	LS_SYS__END,              /* one past the last op */
};

/* The descriptor kinds: the calls that end or copy descriptors matter to both. */
#define LS_FD_KINDS (LS_KIND_BIT(LS_KIND_TIMERFD) | LS_KIND_BIT(LS_KIND_EPOLL))

/*
 * The traced syscalls: the one list of them. It gives the tracepoints
 * userspace attaches (syscalls:sys_enter_NAME and sys_exit_NAME, see
 * core/bpf_contract.h) and the cases of the kernel side's syscall number
 * -> op switch (syscalls.bpf.c, where each NAME's number for the
 * architecture is NR_NAME). Columns: syscall name, the op its events carry
 * (several syscalls may share one), the kinds that need it (LS_KIND_BIT):
 * with none of them on, the call is not followed.
 */
#define LS_SYSCALLS(X)                                                        \
	X(mmap, LS_SYS_MMAP, LS_KIND_BIT(LS_KIND_MMAP))                       \
	X(munmap, LS_SYS_MUNMAP, LS_KIND_BIT(LS_KIND_MMAP))                   \
	X(mremap, LS_SYS_MREMAP, LS_KIND_BIT(LS_KIND_MMAP))                   \
	X(brk, LS_SYS_BRK, LS_KIND_BIT(LS_KIND_BRK))                          \
	X(timerfd_create, LS_SYS_TIMERFD_CREATE, LS_KIND_BIT(LS_KIND_TIMERFD)) \
	X(timerfd_settime, LS_SYS_TIMERFD_SETTIME, LS_KIND_BIT(LS_KIND_TIMERFD)) \
	X(epoll_create, LS_SYS_EPOLL_CREATE, LS_KIND_BIT(LS_KIND_EPOLL))      \
	X(epoll_create1, LS_SYS_EPOLL_CREATE, LS_KIND_BIT(LS_KIND_EPOLL))     \
	X(epoll_ctl, LS_SYS_EPOLL_CTL, LS_KIND_BIT(LS_KIND_EPOLL))            \
	X(close, LS_SYS_CLOSE, LS_FD_KINDS)                                   \
	X(close_range, LS_SYS_CLOSE_RANGE, LS_FD_KINDS)                       \
	X(dup, LS_SYS_DUP, LS_FD_KINDS)                                       \
	X(dup2, LS_SYS_DUP2, LS_FD_KINDS)                                     \
	X(dup3, LS_SYS_DUP2, LS_FD_KINDS)                                     \
	X(fcntl, LS_SYS_FCNTL, LS_FD_KINDS)

struct ls_sys_event {
	__u32 op;       /* enum ls_sys_op */
	__u32 tgid;
	__u32 trace_id; /* of the image that made the call */
	__u16 nframes;
	__u16 stack_flags; /* LS_SYS_STACK_* */
	__u64 ts_ns;    /* bpf_ktime_get_ns at exit */
	__s64 ret;
	__u64 args[5];
	/* User stack of the calls that create objects, innermost first:
	 * frames[0] is the pc in the syscall wrapper. With LS_SYS_STACK_UNWOUND
	 * the frames are the CFI walk's (unwind.bpf.h), exact, ending with
	 * LS_FRAME_TRUNCATED when the walk was cut, and stack_top is zero.
	 * Without it they are the frame-pointer walk's: frames[1] is the
	 * wrapper's caller's caller (wrappers keep no frame pointer), and the
	 * wrapper's caller itself is a return address among the top words of
	 * the user stack (at [sp], or above the wrapper's locals): userspace
	 * picks it out of stack_top, where it knows which words point into
	 * code. nframes 0 for other calls, whose events end before frames[]
	 * (LS_SYS_EVENT_SHORT bytes). */
	__u64 frames[LS_MAX_STACK_DEPTH];
	__u64 stack_top[LS_STACK_TOP_WORDS];
};

/* stack_flags: the frames were walked by CFI (see frames[]). */
#define LS_SYS_STACK_UNWOUND 1u

/* Size of an event without stack: everything before frames[]. */
#define LS_SYS_EVENT_SHORT __builtin_offsetof(struct ls_sys_event, frames)

/* No hole in the head (a short event is sent whole, so every byte of it is
 * set), none before or after the stack words. */
LS_STATIC_ASSERT(LS_SYS_EVENT_SHORT == 3 * 4 + 2 * 2 + 8 + 8 + 5 * 8, "ls_sys_event's head has padding");
LS_STATIC_ASSERT(sizeof(struct ls_sys_event) ==
			 LS_SYS_EVENT_SHORT + (LS_MAX_STACK_DEPTH + LS_STACK_TOP_WORDS) * 8,
		 "ls_sys_event has padding");

/*
 * The lifecycle of a traced process: not syscalls but the scheduler's
 * fork, exec and exit (lifecycle.bpf.c). Sent on the syscall events' ring,
 * so a process's syscalls and its exec or exit reach userspace in the
 * order they happened (descriptors closed before an exec are closed in the
 * image that closed them). Both events begin with their op, and the two
 * ranges of ops are apart: the first word of an event tells its struct.
 */
enum ls_life_op {
	LS_LIFE_FORK = 0x100,     /* a process (not a thread) was forked and is traced */
	LS_LIFE_EXEC,             /* exec'd into a new image: CLOEXEC descriptors are gone */
	LS_LIFE_EXIT,             /* the whole process exited */
	LS_LIFE__END,             /* one past the last op */
};
LS_STATIC_ASSERT((unsigned)LS_SYS__END <= (unsigned)LS_LIFE_FORK, "syscall and lifecycle ops overlap");

struct ls_life_event {
	__u32 op;         /* enum ls_life_op */
	__u32 tgid;
	__u32 trace_id;   /* the image the event happened to */
	__u32 child_tgid; /* LS_LIFE_FORK: the child process */
	__u32 next_id;    /* LS_LIFE_FORK: the child's image; LS_LIFE_EXEC: the new image */
	__u32 pad;
};
LS_STATIC_ASSERT(__builtin_offsetof(struct ls_life_event, op) ==
			 __builtin_offsetof(struct ls_sys_event, op),
		 "the op of both events on the ring must be at one place");
LS_STATIC_ASSERT(sizeof(struct ls_life_event) == 6 * 4, "ls_life_event has padding");

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
/* The process has an unwind space: the kernel walked the stack by CFI
 * (unwind.bpf.h). stack[] holds the frames (u64, innermost first, the
 * faulting pc first, LS_FRAME_TRUNCATED last when the walk was cut),
 * stack_len their bytes, and the event ends after them
 * (LS_FAULT_EVENT_UNWOUND bytes); regs and hijacked are zero. */
#define LS_FAULT_UNWOUND 4u
/* When the fault ring fills faster than userspace drains it, 1 in 2^shift
 * faulting pages is sent (chosen by a hash of the page's address) and
 * stands for 2^shift pages: the shift is in these top bits of flags (0: an
 * event for every page). From half the ring in use the shift is 2, then
 * 4 and 6 as it fills on (faults.bpf.c). */
#define LS_FAULT_WEIGHT_SHIFT 24
#define LS_FAULT_MAX_WEIGHT_SHIFT 6

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
#define LS_FAULT_EVENT_SHORT __builtin_offsetof(struct ls_fault_event, regs)

/* Size of an event with LS_FAULT_UNWOUND: up to the frames' end. */
#define LS_FAULT_EVENT_UNWOUND (__builtin_offsetof(struct ls_fault_event, stack) + LS_MAX_STACK_DEPTH * 8)

LS_STATIC_ASSERT(LS_FAULT_EVENT_SHORT == 4 * 4 + 2 * 8, "ls_fault_event's head has padding");
LS_STATIC_ASSERT(__builtin_offsetof(struct ls_fault_event, stack) ==
			 LS_FAULT_EVENT_SHORT + (LS_DWARF_REGS + LS_FAULT_HIJACKED) * 8 + 2 * 4,
		 "ls_fault_event has padding before its stack");
LS_STATIC_ASSERT(sizeof(struct ls_fault_event) ==
			 __builtin_offsetof(struct ls_fault_event, stack) + LS_FAULT_STACK_BYTES,
		 "ls_fault_event has padding after its stack");

/* ---- signal dispositions (signals.bpf.c) ---- */

#define LS_SIG_MAX 64 /* _NSIG: signals 1..64 */

/* What the signals iterator writes for the process asked about. */
struct ls_sig_record {
	__u32 tgid;
	__u32 signo;
	__u64 handler; /* sa_handler: 0 SIG_DFL, 1 SIG_IGN, else a user address */
};

LS_STATIC_ASSERT(sizeof(struct ls_sig_record) == 16, "ls_sig_record has padding");

#endif /* LEAKSCOPE_SHARED_H */
