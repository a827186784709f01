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
#ifndef FL_PATH_LEN
#define FL_PATH_LEN 512		/* bytes of the name given to open(), NUL included */
#endif

/* Indexes of the lost[] counters. */
#define FL_LOST_STATS 0		/* stats map full: an I/O not counted */
#define FL_LOST_PATH 1		/* name of an open not stored (paths update failed) */
#define FL_LOST_FDS 2		/* fds update failed: I/O on that fd may land on an older generation */
#define FL_LOST_SLOTS 3

/*
 * Generations: bpf_ktime_get_ns() << FL_KIND_BITS | kind, set whenever an
 * fd number starts or stops meaning a file. The kind says what made it:
 * an open (its name is in paths), a socket or pipe call, an anon-inode
 * call, or a close/dup (FL_KIND_NONE: ask /proc). Generation 0: the fd was
 * never seen starting (open before ebpftop started, or its fds entry was
 * evicted).
 */
#define FL_KIND_BITS 3
#define FL_KIND_NONE 0
#define FL_KIND_OPEN 1
#define FL_KIND_SOCKET 2
#define FL_KIND_PIPE 3
#define FL_KIND_ANON 4
#define FL_KIND_DUP 5		/* a copy of another fd: dups says which */

/*
 * pt_regs member offsets, from the running kernel's BTF (the loader passes
 * them; nothing here trusts a header's layout). No defaults: a missing one
 * is a compile error, not a silent wrong read.
 *   FL_PT_ORIG_AX  syscall number     FL_PT_CS  code segment (ABI check)
 *   FL_PT_DI, FL_PT_SI, FL_PT_DX, FL_PT_R10   arguments 1-4
 *   FL_PT_ARGS, FL_PT_ARGS_LEN  one span covering orig_ax, di, si, dx and cs
 */
#define FL_USER_CS 0x33	/* x86-64 __USER_CS: a 64-bit syscall (not ia32) */

/* x86-64 syscall numbers (the loader refuses other architectures). */
#define NR_read 0
#define NR_write 1
#define NR_open 2
#define NR_close 3
#define NR_pread64 17
#define NR_pwrite64 18
#define NR_readv 19
#define NR_writev 20
#define NR_pipe 22
#define NR_dup 32
#define NR_dup2 33
#define NR_sendfile 40
#define NR_socket 41
#define NR_sendto 44
#define NR_recvfrom 45
#define NR_sendmsg 46
#define NR_recvmsg 47
#define NR_accept 43
#define NR_socketpair 53
#define NR_fcntl 72
#define NR_creat 85
#define NR_epoll_create 213
#define NR_inotify_init 253
#define NR_openat 257
#define NR_signalfd 282
#define NR_timerfd_create 283
#define NR_eventfd 284
#define NR_accept4 288
#define NR_signalfd4 289
#define NR_eventfd2 290
#define NR_epoll_create1 291
#define NR_dup3 292
#define NR_pipe2 293
#define NR_inotify_init1 294
#define NR_preadv 295
#define NR_pwritev 296
#define NR_splice 275
#define NR_tee 276
#define NR_perf_event_open 298
#define NR_memfd_create 319
#define NR_copy_file_range 326
#define NR_preadv2 327
#define NR_pwritev2 328
#define NR_pidfd_open 434
#define NR_openat2 437

#define F_DUPFD 0
#define F_DUPFD_CLOEXEC 1030

struct fl_fd_key {
	u32 tgid;
	s32 fd;
};

struct fl_fd_val {
	u64 gen;
	u64 start;	/* the process's start time then: a reused PID is another process */
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

#ifndef FL_MAX_DUPS
#define FL_MAX_DUPS 4096	/* dup records not yet read by user space */
#endif

struct fl_dup {
	s32 oldfd;	/* the fd this one was copied from... */
	u32 _pad;
	u64 oldgen;	/* ...in the generation it had then */
};

/*
 * What the kernel itself says about an fd nobody saw being made (open before
 * ebpftop started, inherited across fork, or made by a call not hooked here),
 * read through the task's fd table when such a key first does I/O in an
 * interval: user space falls back on it when /proc no longer has the fd
 * (short-lived processes). Offsets come from BTF as -D defines
 * (FL_OFF_*); without them (FL_NO_WALK) nothing is recorded.
 */
#ifndef FL_MAX_SEEN
#define FL_MAX_SEEN 4096
#endif
#define FL_SEEN_NAME_LEN 64

struct fl_seen {
	u64 ino;
	u32 mode;	/* inode i_mode: S_IFMT bits give the type (0: anon inode) */
	u32 _pad;
	char name[FL_SEEN_NAME_LEN];	/* the dentry's own name (last component) */
};

struct fl_path {
	s32 dfd;	/* directory fd a relative name is relative to (AT_FDCWD: cwd) */
	u32 _pad;
	char name[FL_PATH_LEN];
};

#endif /* EBPFTOP_FILES_H */
