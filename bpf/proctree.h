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
#ifndef PT_ARGV_AREA
#define PT_ARGV_AREA 4096
#endif
/* Executable path as the exec tracepoint gives it (longer paths are cut). */
#ifndef PT_FILENAME_LEN
#define PT_FILENAME_LEN 256
#endif
/* Ring buffer size in pages (power of two): the events of one interval. */
#ifndef PT_RINGBUF_PAGES
#define PT_RINGBUF_PAGES 1024
#endif
#define PT_FORK 1
#define PT_EXEC 2
#define PT_EXIT 3
#define PT_RENAME 4	/* a process's name changed (exec, prctl PR_SET_NAME, /proc/PID/comm) */

/* pt_hdr.flags of an exec record */
#define PT_ARGV_FAULT 1		/* the argument strings could not be read */

struct pt_hdr {
	u32 type;	/* PT_FORK, PT_EXEC, PT_EXIT */
	u32 pid;	/* tgid of the process the event is about */
	u32 ppid;	/* tgid of its parent (real_parent) at the event */
	s32 aux;	/* exec: thread id that called exec; exit: task exit_code */
	u64 time_ns;	/* CLOCK_BOOTTIME */
	u64 flags;	/* fork: clone_flags; exec: PT_ARGV_*; exit, rename: 0 */
	u64 start;	/* the process's start in clock ticks (ebpftop_task_start) */
	char comm[EBPFTOP_COMM_LEN];	/* rename: the new name */
};

struct pt_exec {
	struct pt_hdr hdr;
	char filename[PT_FILENAME_LEN];
	u32 args_total;	/* length of the whole argument area (mm arg_end - arg_start) */
	u32 args_len;	/* bytes of it copied into args */
	char args[PT_ARGV_AREA];
};

#endif /* PROCTREE_H */
