/* SPDX-License-Identifier: GPL-2.0 */
/*
 * files.h - structs and limits of files.bpf.c, mirrored field for field by
 * the struct formats in ebpftop/probes/files.py.
 */
#ifndef EBPFTOP_FILES_H
#define EBPFTOP_FILES_H

#include "ebpftop.h"

/*
 * Passed with -D by ebpftop/probes/files.py and fdnames.py, the one place
 * they are defined: FL_MAX_ENTRIES (stats keys, i.e. open files doing I/O,
 * per interval), FL_NAME_LEN (bytes of a composed path, NUL included, a
 * power of 2), FL_MAX_DEPTH (path components plus mount crossings walked
 * per name), FL_LOST_*, FL_KIND_* and FL_NAME_* (below).
 */
#if !defined(FL_MAX_ENTRIES) || !defined(FL_NAME_LEN) || !defined(FL_MAX_DEPTH)
#error "FL_MAX_ENTRIES, FL_NAME_LEN and FL_MAX_DEPTH must be passed with -D"
#endif
#ifndef FL_MAX_FDS
#define FL_MAX_FDS 65536	/* (tgid, fd) -> generation */
#endif
/*
 * Burst capacity, passed with -D by ebpftop/probes/files.py (see there how
 * they are sized): FL_MAX_NAMES keys whose name went to user space (LRU),
 * FL_RING_PAGES pages of the name ring, FL_FILL_MARK keys in a stats half
 * and FL_RING_MARK unread ring bytes past which a program wakes user space
 * to drain now rather than at the interval; FL_FILL_* the slots of fill[].
 */
#if !defined(FL_MAX_NAMES) || !defined(FL_RING_PAGES) || !defined(FL_FILL_MARK) || !defined(FL_RING_MARK) || \
	!defined(FL_FILL_PRODUCED) || !defined(FL_FILL_CONSUMED) || !defined(FL_FILL_SLOTS)
#error "FL_MAX_NAMES, FL_RING_PAGES, FL_FILL_MARK, FL_RING_MARK and FL_FILL_* must be passed with -D"
#endif
#ifndef FL_MAX_SPLIT
#define FL_MAX_SPLIT 1024	/* threads with an fd table of their own (unshare(CLONE_FILES)) */
#endif
#define FL_OWN_THREAD 0x80000000u	/* fds key of such a thread: tid | this (PIDs < 2^22) */
#define FL_CLONE_FILES 0x400
#if FL_NAME_LEN & (FL_NAME_LEN - 1)
#error "FL_NAME_LEN must be a power of 2"
#endif

/* Indexes of the lost[] counters. */
/* FL_LOST_STATS: stats map full, an I/O not counted; FL_LOST_PATH: name of
 * a key not stored (names update failed); FL_LOST_FDS: fds update failed,
 * I/O on that fd may land on an older generation. Slots < FL_LOST_SLOTS. */
#if !defined(FL_LOST_STATS) || !defined(FL_LOST_PATH) || !defined(FL_LOST_FDS) || !defined(FL_LOST_SLOTS)
#error "FL_LOST_* must be passed with -D (ebpftop/probes/files.py LOST)"
#endif

/*
 * Generations: bpf_ktime_get_ns() << FL_KIND_BITS | kind, set whenever an
 * fd number starts or stops meaning a file. The kind says what made it:
 * an open, a socket or pipe call, an anon-inode call, a close, a dup, or
 * (FL_KIND_OTHER) another fd-making call, or the fd table holding another
 * struct file than the one last seen there (close_range + an unhooked
 * install: SCM_RIGHTS, pidfd_getfd, seccomp addfd), or an fd first seen at
 * its I/O (open before ebpftop started). Names never depend on the kind:
 * every key is named from its struct file (see fl_name). Generation 0: the
 * fds map was full.
 */
#if !defined(FL_KIND_BITS) || !defined(FL_KIND_NONE) || !defined(FL_KIND_OPEN) || \
	!defined(FL_KIND_SOCKET) || !defined(FL_KIND_PIPE) || !defined(FL_KIND_ANON) || \
	!defined(FL_KIND_DUP) || !defined(FL_KIND_OTHER)
#error "FL_KIND_* must be passed with -D (ebpftop/probes/files.py KINDS)"
#endif

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
#define NR_unshare 272
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
#define NR_mq_open 240
#define NR_fanotify_init 300
#define NR_open_by_handle_at 304
#define NR_userfaultfd 323
#define NR_io_uring_setup 425
#define NR_open_tree 428
#define NR_fsopen 430
#define NR_fsmount 432
#define NR_fspick 433
#define NR_pidfd_getfd 438
#define NR_memfd_secret 447

#define F_DUPFD 0
#define F_DUPFD_CLOEXEC 1030

struct fl_fd_key {
	u32 tgid;	/* or FL_OWN_THREAD | tid: a thread with an fd table of its own */
	s32 fd;
};

struct fl_fd_val {
	u64 gen;
	u64 start;	/* the process's start time then: a reused PID is another process */
	u64 file;	/* the struct file and its dentry the fd held when gen was set */
	u64 dentry;	/* (bit 0: unlinked then): another one, or the file unlinked since,
			   at a key's first I/O starts a new generation */
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
	u64 cgroup;	/* cgroup v2 id of the task that created the key */
};

/*
 * What the kernel says an fd is, read from its struct file when a key first
 * does I/O in an interval (and kept while the key lives, so once per key):
 * the path composed like d_path() but up to the root of the process's mount
 * namespace (a chroot does not hide where the file is), the inode's
 * identity and type, and for sockets their endpoints. Offsets come from BTF
 * as -D defines (FL_OFF_*); the socket ones are optional (FL_NO_SOCK).
 */
/*
 * fl_name.flags (ebpftop/probes/fdnames.py NAME_FLAGS passes them):
 *   FL_NAME_TRUNCATED  a cap was hit: name holds the last components
 *   FL_NAME_DELETED    the dentry is unlinked (d_path's " (deleted)")
 *   FL_NAME_PSEUDO     not in any mount tree (pipe, socket, anon inode,
 *                      memfd): name is the dentry's own name
 *   FL_NAME_SOCK       sk_* fields below are set
 *   FL_NAME_NO_DEV, FL_NAME_NO_INO: the filesystem's stat() reports another
 *   identity than the inode and its superblock hold, so dev/ino would not be
 *   the file's st_dev/st_ino: overlayfs (st_dev of the layer, or its own,
 *   and a mapped st_ino with xino), btrfs (st_dev of the subvolume). Said
 *   unknown rather than given wrong.
 */
#if !defined(FL_NAME_TRUNCATED) || !defined(FL_NAME_DELETED) || !defined(FL_NAME_PSEUDO) || \
	!defined(FL_NAME_SOCK) || !defined(FL_NAME_NO_DEV) || !defined(FL_NAME_NO_INO)
#error "FL_NAME_* flags must be passed with -D (ebpftop/probes/fdnames.py NAME_FLAGS)"
#endif
#define FL_OVERLAYFS_MAGIC 0x794c7630UL
#define FL_BTRFS_MAGIC 0x9123683eUL

struct fl_name {
	u64 ino;
	u32 dev;	/* sb->s_dev, kernel encoding: major << 20 | minor */
	u32 mode;	/* i_mode (0 type bits: anon inode) */
	u16 flags;	/* FL_NAME_* */
	u16 len;	/* bytes in name, NUL not counted */
	u16 sk_family;
	u16 sk_type;
	u16 sk_protocol;
	u16 sk_sport;	/* local port, host order */
	u16 sk_dport;	/* remote port, network order (as the kernel keeps it) */
	u16 _pad;
	u8 sk_saddr[16];	/* local address (4 bytes for AF_INET) */
	u8 sk_daddr[16];	/* remote address */
	char name[FL_NAME_LEN];	/* path, or a unix socket's bound path */
};

/*
 * Per-CPU scratch: the name_ring record being built (the key, then its
 * name record cut after the name's NUL: bytes [0, FL_EVENT_HEAD + len + 1)
 * are sent) and room to compose a path backwards. A record of the key
 * alone (FL_EVENT_WAKE bytes) carries no name: it only wakes user space.
 */
struct fl_scratch {
	struct fl_key key;
	struct fl_name rec;
	u32 pos;	/* bytes composed so far (kept here, not in a register: see name_file) */
	u32 _pad;
	char buf[2 * FL_NAME_LEN];
};

#define FL_EVENT_WAKE sizeof(struct fl_key)
#define FL_EVENT_HEAD (sizeof(struct fl_key) + sizeof(struct fl_name) - FL_NAME_LEN)
_Static_assert(__builtin_offsetof(struct fl_scratch, rec) == sizeof(struct fl_key), "key and name record adjoin");

#endif /* EBPFTOP_FILES_H */
