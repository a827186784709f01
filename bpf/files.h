/* SPDX-License-Identifier: GPL-2.0 */
/*
 * files.h - structs and limits of files.bpf.c, mirrored field for field by
 * the struct formats in ebpftop/probes/files.py.
 */
#ifndef EBPFTOP_FILES_H
#define EBPFTOP_FILES_H

#include "ebpftop.h"

#ifndef FL_MAX_ENTRIES
#define FL_MAX_ENTRIES 16384	/* stats keys (open files doing I/O) per interval */
#endif
#ifndef FL_MAX_FDS
#define FL_MAX_FDS 65536	/* (tgid, fd) -> generation */
#endif
#ifndef FL_MAX_PATHS
#define FL_MAX_PATHS 8192	/* open records not yet read by user space, and recent ones */
#endif
#ifndef FL_MAX_THREADS
#define FL_MAX_THREADS 16384	/* threads with a syscall in flight */
#endif
#ifndef FL_PATH_LEN
#define FL_PATH_LEN 512		/* bytes of the name given to open(), NUL included */
#endif

/* What a thread's in-flight syscall is (fl_stash.op). */
#define FL_OP_NONE 0		/* consumed: the exit already accounted it */
#define FL_OP_READ 1
#define FL_OP_WRITE 2
#define FL_OP_COPY 3		/* sendfile64 / copy_file_range: read fd2, write fd */
#define FL_OP_OPEN 4

/* Indexes of the lost[] counters. */
#define FL_LOST_STATS 0		/* stats map full: an I/O not counted */
#define FL_LOST_STASH 1		/* exit without its enter (stash evicted / attach race) */
#define FL_LOST_PATH 2		/* path of an open not stored (paths update or user read failed) */
#define FL_LOST_FDS 3		/* fds update failed: I/O on that fd may land on an older generation */
#define FL_LOST_SLOTS 4

/*
 * Generations: bpf_ktime_get_ns() << 1, low bit 1 when an open created it
 * (its name is in paths) and 0 when a close (or dup2/dup3 onto the fd) did.
 * Generation 0 means the fd was never seen opening or closing: it was open
 * before ebpftop started, or its fds entry was evicted.
 */
#define FL_GEN_OPEN 1ULL

struct fl_stash {
	u64 ptr;	/* FL_OP_OPEN: user pointer to the file name */
	s32 fd;		/* the fd (write side for FL_OP_COPY; dfd for FL_OP_OPEN) */
	s32 fd2;	/* FL_OP_COPY: the fd read from */
	u32 op;
	u32 _pad;
};

struct fl_fd_key {
	u32 tgid;
	s32 fd;
};

struct fl_fd_val {
	u64 gen;
};

struct fl_key {
	u32 tgid;
	s32 fd;
	u64 gen;
};

struct fl_val {
	u64 reads;
	u64 writes;
	u64 read_bytes;
	u64 write_bytes;
	char comm[EBPFTOP_COMM_LEN];	/* comm when the key was created */
};

struct fl_path {
	s32 dfd;	/* directory fd a relative name is relative to (AT_FDCWD: cwd) */
	u32 _pad;
	char name[FL_PATH_LEN];
};

#endif /* EBPFTOP_FILES_H */
