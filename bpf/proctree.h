/* SPDX-License-Identifier: GPL-2.0 */
/*
 * proctree.h - events and limits of proctree.bpf.c, mirrored field for field
 * by the struct formats in ebpftop/probes/proctree.py.
 *
 * Every record in the ring buffer starts with struct pt_hdr; fork and exit
 * records are the header alone, an exec record is struct pt_exec cut after
 * its last used argv byte (variable length).
 */
#ifndef PROCTREE_H
#define PROCTREE_H

#include "ebpftop.h"

/* Documented argv limit: the first PT_MAX_ARGS arguments, each up to
 * PT_ARG_LEN bytes; anything beyond sets a PT_ARGV_* truncation flag. */
#ifndef PT_MAX_ARGS
#define PT_MAX_ARGS 16
#endif
#ifndef PT_ARG_LEN
#define PT_ARG_LEN 128
#endif
/* Executable path as the exec tracepoint gives it (longer paths are cut). */
#ifndef PT_FILENAME_LEN
#define PT_FILENAME_LEN 256
#endif
/* Ring buffer size in pages (power of two): the events of one interval. */
#ifndef PT_RINGBUF_PAGES
#define PT_RINGBUF_PAGES 1024
#endif
/* Threads between execve() entry and the exec tracepoint (LRU). */
#ifndef PT_STASH_ENTRIES
#define PT_STASH_ENTRIES 1024
#endif

/* Each stored argument with its NUL: PT_ARG_LEN + 1 bytes at most. */
#define PT_ARGS_SIZE (PT_MAX_ARGS * (PT_ARG_LEN + 1))
/* A power of two minus one >= PT_ARGS_SIZE: offsets into args are masked with
 * it so the verifier sees a bound it can prove (the loader computes it). */
#ifndef PT_ARGS_MASK
#define PT_ARGS_MASK 4095
#endif

#define PT_FORK 1
#define PT_EXEC 2
#define PT_EXIT 3

/* pt_hdr.flags of an exec record */
#define PT_ARGV_MORE_ARGS 1	/* more than PT_MAX_ARGS arguments */
#define PT_ARGV_LONG_ARG 2	/* an argument longer than PT_ARG_LEN */
#define PT_ARGV_MISSING 4	/* no execve/execveat entry seen (kernel exec, evicted) */
#define PT_ARGV_FAULT 8		/* the argv array could not be read */

struct pt_hdr {
	u32 type;	/* PT_FORK, PT_EXEC, PT_EXIT */
	u32 pid;	/* tgid of the process the event is about */
	u32 ppid;	/* tgid of its parent (real_parent) at the event */
	s32 aux;	/* exec: thread id that called exec; exit: task exit_code */
	u64 time_ns;	/* CLOCK_BOOTTIME */
	u64 flags;	/* fork: clone_flags; exec: PT_ARGV_*; exit: 0 */
	char comm[EBPFTOP_COMM_LEN];
};

struct pt_exec {
	struct pt_hdr hdr;
	char filename[PT_FILENAME_LEN];
	u32 argc;	/* arguments stored in args */
	u32 args_len;	/* bytes used in args: argc NUL-terminated strings */
	/* Room for one over-long read (PT_ARG_LEN + 2) at any masked offset. */
	char args[PT_ARGS_MASK + 1 + PT_ARG_LEN + 2];
};

#endif /* PROCTREE_H */
