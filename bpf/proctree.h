/* SPDX-License-Identifier: GPL-2.0 */
/*
 * proctree.h - events and limits of proctree.bpf.c, mirrored field for field
 * by the struct formats in ebpftop/probes/proctree.py.
 *
 * Every record in the ring buffer starts with struct pt_hdr; fork, exit and
 * rename records are the header alone, an exec record is struct pt_exec cut after
 * its last used argv byte (variable length).
 */
#ifndef PROCTREE_H
#define PROCTREE_H

#include "ebpftop.h"

/*
 * Documented argv limit: the kernel side copies the first PT_ARGV_AREA bytes
 * of the new program's argument strings (NUL-separated, as the kernel laid
 * them out); user space then keeps the first 16 arguments of up to 128 bytes
 * each (ebpftop/probes/proctree.py) and marks anything beyond as truncated.
 * PT_ARGV_AREA must be a power of two.
 */
/*
 * Passed with -D by ebpftop/probes/proctree.py, the one place they are
 * defined: PT_ARGV_AREA; PT_FILENAME_LEN, the executable path as the exec
 * tracepoint gives it (longer paths are cut); PT_RINGBUF_PAGES, the ring
 * buffer size in pages (power of two), the events of one interval; the
 * record types PT_FORK, PT_EXEC, PT_EXIT, PT_RENAME (a process's name
 * changed: exec, prctl PR_SET_NAME, /proc/PID/comm); PT_ARGV_FAULT, the
 * pt_hdr.flags bit of an exec record whose argument strings could not be
 * read; PT_HDR_SIZE and PT_EXEC_ARGS_OFF, the record layout the probe
 * decodes (checked below).
 */
#if !defined(PT_ARGV_AREA) || !defined(PT_FILENAME_LEN) || !defined(PT_RINGBUF_PAGES) || \
	!defined(PT_FORK) || !defined(PT_EXEC) || !defined(PT_EXIT) || !defined(PT_RENAME) || \
	!defined(PT_ARGV_FAULT) || !defined(PT_HDR_SIZE) || !defined(PT_EXEC_ARGS_OFF)
#error "PT_* limits, record types and layout sizes must be passed with -D (ebpftop/probes/proctree.py)"
#endif

struct pt_hdr {
	u32 type;	/* PT_FORK, PT_EXEC, PT_EXIT */
	u32 pid;	/* tgid of the process the event is about */
	u32 ppid;	/* tgid of its parent (real_parent) at the event */
	s32 aux;	/* exec: thread id that called exec; exit: task exit_code */
	u64 time_ns;	/* CLOCK_BOOTTIME */
	u64 flags;	/* fork: clone_flags; exec: PT_ARGV_*; exit, rename: 0 */
	u64 start;	/* the process's start in clock ticks (ebpftop_task_start) */
	char comm[EBPFTOP_COMM_LEN];	/* rename: the new name */
	u64 cgroup;	/* cgroup v2 id of the process at the event (fork: the child's) */
	s32 ns_pid;	/* its PID in its own PID namespace (0: unknown) */
	u32 ns_level;	/* that namespace's depth: 0 is the initial one */
};

struct pt_exec {
	struct pt_hdr hdr;
	char filename[PT_FILENAME_LEN];
	u32 args_total;	/* length of the whole argument area (mm arg_end - arg_start) */
	u32 args_len;	/* bytes of it copied into args */
	char args[PT_ARGV_AREA];
};

_Static_assert(sizeof(struct pt_hdr) == PT_HDR_SIZE,
	       "struct pt_hdr differs from ebpftop/probes/proctree.py's _HDR");
_Static_assert(__builtin_offsetof(struct pt_exec, args) == PT_EXEC_ARGS_OFF,
	       "struct pt_exec differs from ebpftop/probes/proctree.py's _HDR + _EXEC_TAIL");

#endif /* PROCTREE_H */
