// SPDX-License-Identifier: GPL-2.0
/*
 * files.bpf.c - bytes and operations per open file, split read/write.
 *
 * Hook: raw tracepoint sys_exit, one program for everything. At exit the
 * return value is in ctx->args[1] and the caller's registers (syscall number
 * and arguments, unchanged by the kernel) in the pt_regs at ctx->args[0], so
 * no enter hook and no per-thread stash is needed. Measured here: a 1-byte
 * read pays ~35 ns with this program against ~90 ns for classic
 * sys_enter_read + sys_exit_read tracepoints doing the same work; any other
 * syscall pays one 8-byte register read and a switch.
 *   read, pread64, readv, preadv, preadv2,
 *   recvfrom (recv), recvmsg                     bytes read from fd
 *   write, pwrite64, writev, pwritev, pwritev2,
 *   sendto (send), sendmsg                       bytes written to fd
 *   sendfile, copy_file_range, splice, tee       read from one fd, written to another
 *   open, openat, openat2, creat                 new generation + the name given
 *   close                                        new generation: named by /proc
 *   dup, dup2, dup3, fcntl(F_DUPFD*)             new generation named after the old fd
 *   socket, accept*, socketpair, pipe*, eventfd*, epoll_create*, timerfd_create,
 *   signalfd*, inotify_init*, memfd_create, pidfd_open, perf_event_open
 *                                                new generation typed by the call
 * so an fd number reused for another file (even within one interval) is
 * always another row.
 * Maps:
 *   stats,      two per-CPU hashes {tgid, fd, gen} -> {reads, writes, bytes,
 *   stats_b     comm}: PER INTERVAL, double-buffered. Programs count into the
 *               one active[0] names; each read user space flips active[0],
 *               waits for an RCU grace period (membarrier), so no program is
 *               still incrementing the other one in place, and only then
 *               empties it with lookup-and-delete batch. Draining the map
 *               being written lost increments that landed between the
 *               batch's copy and delete of a key (measured: ~10 of 13 M
 *               reads over 30 drains), uncounted and unreported.
 *   active      array[1]: 0 = stats, 1 = stats_b (set by user space).
 *   fds         LRU hash {tgid, fd} -> {gen, start}: CUMULATIVE, the current
 *               generation of every fd seen starting or ending, and the start
 *               time of the process that had it (checked once per key and
 *               interval, so a reused PID never inherits a dead process's fds).
 *   paths       LRU hash {tgid, fd, gen} -> {dfd, name}: CUMULATIVE until
 *               user space takes the record; it outlives the close, so files
 *               opened, used and closed between two reads are still named.
 *   dups        LRU hash {tgid, fd, gen} -> {oldfd, oldgen}: CUMULATIVE until
 *               user space takes it; what a dup'ed fd is a copy of, so a
 *               shell's `open; dup2(fd, 1); close(fd)` still names fd 1.
 *   seen        LRU hash {tgid, fd, gen} -> {ino, mode, name}: CUMULATIVE
 *               until user space takes it; for fds of unknown origin, what
 *               the task's fd table says (see files.h), taken when the key
 *               is created each interval.
 *   scratch     per-CPU array[1]: room for one name (too big for the stack).
 *   lost        per-CPU array[FL_LOST_SLOTS]: CUMULATIVE events not counted
 *               or not named, by cause (see files.h).
 *   filter_on   array[1]: FILTER_ON while the process filter is active,
 *               FILTER_NAMES too while a name filter is live (ebpftop.h).
 *   filter_pids hash tgid -> struct filter_proc (ebpftop.h): the processes
 *               to keep while the filter is active; task:task_rename adds
 *               those that take a filtered name, sched:sched_process_exit
 *               removes one that ended.
 *   filter_names hash comm -> 1: the live name filter.
 */
#include "files.h"

BPF_PERCPU_HASH(stats, struct fl_key, struct fl_val, FL_MAX_ENTRIES);
BPF_PERCPU_HASH(stats_b, struct fl_key, struct fl_val, FL_MAX_ENTRIES);
BPF_ARRAY(active, u32, 1);
BPF_TABLE("lru_hash", struct fl_fd_key, struct fl_fd_val, fds, FL_MAX_FDS);
BPF_TABLE("lru_hash", struct fl_key, struct fl_path, paths, FL_MAX_PATHS);
BPF_TABLE("lru_hash", struct fl_key, struct fl_dup, dups, FL_MAX_DUPS);
BPF_TABLE("lru_hash", struct fl_key, struct fl_seen, seen, FL_MAX_SEEN);
BPF_PERCPU_ARRAY(scratch, struct fl_path, 1);
BPF_PERCPU_ARRAY(lost, u64, FL_LOST_SLOTS);
BPF_ARRAY(filter_on, u32, 1);
BPF_F_TABLE("hash", u32, struct filter_proc, filter_pids, FILTER_MAX_PIDS, BPF_F_NO_PREALLOC);
BPF_F_TABLE("hash", struct filter_name, u8, filter_names, FILTER_MAX_NAMES, BPF_F_NO_PREALLOC);

static __always_inline u64 reg(void *regs, int off)
{
	u64 v = 0;
	bpf_probe_read_kernel(&v, sizeof(v), regs + off);
	return v;
}

static __always_inline int skip_tgid(u32 tgid)
{
	int zero = 0;
	u32 *on = filter_on.lookup(&zero);
	return on && (*on & FILTER_ON) && !filter_keeps(*on, filter_pids.lookup(&tgid));
}

/* The live name filter: a process that takes a filtered name joins. */
TRACEPOINT_PROBE(task, task_rename)
{
	int zero = 0;
	u32 *ctl = filter_on.lookup(&zero);
	struct filter_name key = {};
	if (ctl && filter_rename_key(*ctl, args->pid, args->newcomm, &key) && filter_names.lookup(&key)) {
		u32 tgid = bpf_get_current_pid_tgid() >> 32;
		struct filter_proc me = { .start = ebpftop_task_start((void *)bpf_get_current_task()), .seen = 1 };
		filter_pids.update(&tgid, &me);
	}
	return 0;
}

/* The filtered process ended: its entry goes before its PID can be reused (see filter_keeps). */
TRACEPOINT_PROBE(sched, sched_process_exit)
{
#ifndef EBPFTOP_NO_GROUP_DEAD
	if (!args->group_dead)
		return 0;
	int zero = 0;
	u32 *ctl = filter_on.lookup(&zero);
	if (ctl && (*ctl & FILTER_ON)) {
		u32 tgid = bpf_get_current_pid_tgid() >> 32;
		filter_pids.delete(&tgid);
	}
#endif
	return 0;
}

static __always_inline void count_lost(int cause)
{
	u64 *n = lost.lookup(&cause);
	if (n)
		(*n)++;
}

static __always_inline void *kptr(void *p, int off)
{
	void *v = NULL;
	bpf_probe_read_kernel(&v, sizeof(v), p + off);
	return v;
}

/* current->group_leader->start_time: tells a reused PID from the process that had it. */
static __always_inline u64 process_start(void)
{
	u64 start = 0;
#ifndef FL_NO_WALK
	void *leader = kptr((void *)bpf_get_current_task(), FL_OFF_TASK_GROUP_LEADER);
	if (leader)
		bpf_probe_read_kernel(&start, sizeof(start), leader + FL_OFF_TASK_START_TIME);
#endif
	return start;
}

/* current->files->fdt->fd[fd]: its inode's mode and number, and its dentry's name. */
static __always_inline void remember_fd(struct fl_key *key)
{
#ifndef FL_NO_WALK
	if (seen.lookup(key))
		return;
	void *task = (void *)bpf_get_current_task();
	void *fdt = kptr(kptr(task, FL_OFF_TASK_FILES), FL_OFF_FILES_FDT);
	u32 max_fds = 0;
	if (!fdt || bpf_probe_read_kernel(&max_fds, sizeof(max_fds), fdt + FL_OFF_FDT_MAX_FDS) != 0)
		return;
	if ((u32)key->fd >= max_fds)
		return;
	void *file = kptr(kptr(fdt, FL_OFF_FDT_FD) + (u64)key->fd * sizeof(void *), 0);
	void *inode = file ? kptr(file, FL_OFF_FILE_INODE) : NULL;
	if (!inode)
		return;
	struct fl_seen rec = {};
	u16 mode = 0;
	bpf_probe_read_kernel(&mode, sizeof(mode), inode + FL_OFF_INODE_MODE);
	bpf_probe_read_kernel(&rec.ino, sizeof(rec.ino), inode + FL_OFF_INODE_INO);
	rec.mode = mode;
	void *dentry = kptr(file, FL_OFF_FILE_PATH + FL_OFF_PATH_DENTRY);
	if (dentry)
		bpf_probe_read_kernel_str(rec.name, sizeof(rec.name), kptr(dentry, FL_OFF_DENTRY_NAME + FL_OFF_QSTR_NAME));
	seen.update(key, &rec);
#endif
}

/* The stats buffer programs count into now (see active above). */
static __always_inline u32 active_buffer(void)
{
	int zero = 0;
	u32 *b = active.lookup(&zero);
	return b ? *b : 0;
}

static __always_inline struct fl_val *stats_lookup(u32 buf, struct fl_key *key)
{
	return buf ? stats_b.lookup(key) : stats.lookup(key);
}

static __always_inline int stats_insert(u32 buf, struct fl_key *key, struct fl_val *val)
{
	return buf ? stats_b.update(key, val) : stats.update(key, val);
}

static __always_inline void account(u32 tgid, s32 fd, u64 bytes, int write)
{
	struct fl_fd_key fk = { .tgid = tgid, .fd = fd };
	struct fl_fd_val *fv = fds.lookup(&fk);
	struct fl_key key = { .tgid = tgid, .fd = fd, .gen = fv ? fv->gen : 0 };
	u32 buf = active_buffer();

	/* Per-CPU value: plain increments are race-free on this CPU. */
	struct fl_val *v = stats_lookup(buf, &key);
	if (!v && fv && fv->start != process_start()) {
		/*
		 * A new key: first check the generation is this process's and
		 * not that of a dead one whose PID it got. If not, forget it.
		 */
		fds.delete(&fk);
		key.gen = 0;
		v = stats_lookup(buf, &key);
	}
	if (v) {
		if (write) {
			v->writes++;
			v->write_bytes += bytes;
		} else {
			v->reads++;
			v->read_bytes += bytes;
		}
		return;
	}
	/*
	 * First I/O of this key this interval: take comm now so a process
	 * that exits before the read is still named. A program's update only
	 * writes this CPU's slot, so a racing insert elsewhere loses nothing.
	 * (bcc's .increment() never creates per-CPU keys on this kernel.)
	 */
	struct fl_val init = {};
	if (write) {
		init.writes = 1;
		init.write_bytes = bytes;
	} else {
		init.reads = 1;
		init.read_bytes = bytes;
	}
	bpf_get_current_comm(&init.comm, sizeof(init.comm));
	if (stats_insert(buf, &key, &init) != 0) {
		count_lost(FL_LOST_STATS);
		return;
	}
	u64 kind = key.gen & ((1 << FL_KIND_BITS) - 1);
	if (kind == FL_KIND_NONE || kind == FL_KIND_DUP)
		remember_fd(&key);
}

static __always_inline u64 set_gen(u32 tgid, s32 fd, u64 kind)
{
	u64 gen = (bpf_ktime_get_ns() << FL_KIND_BITS) | kind;
	u64 start = process_start();
	struct fl_fd_key fk = { .tgid = tgid, .fd = fd };
	struct fl_fd_val *fv = fds.lookup(&fk);
	if (fv) {
		fv->gen = gen;
		fv->start = start;
		return gen;
	}
	struct fl_fd_val init = { .gen = gen, .start = start };
	if (fds.update(&fk, &init) != 0)
		count_lost(FL_LOST_FDS);
	return gen;
}

static __always_inline void record_open(u32 tgid, s32 dfd, s32 fd, u64 name)
{
	u64 gen = set_gen(tgid, fd, FL_KIND_OPEN);
	int zero = 0;
	struct fl_path *p = scratch.lookup(&zero);
	if (!p)
		return;
	p->dfd = dfd;
	/* At exit the kernel has just copied this string, so it is paged in. */
	if (bpf_probe_read_user_str(p->name, sizeof(p->name), (void *)name) < 0)
		p->name[0] = 0;
	struct fl_key pk = { .tgid = tgid, .fd = fd, .gen = gen };
	if (paths.update(&pk, p) != 0)
		count_lost(FL_LOST_PATH);
}

static __always_inline void record_dup(u32 tgid, s32 oldfd, s32 newfd)
{
	struct fl_fd_key ok = { .tgid = tgid, .fd = oldfd };
	struct fl_fd_val *ov = fds.lookup(&ok);
	struct fl_dup d = { .oldfd = oldfd, .oldgen = ov ? ov->gen : 0 };
	u64 gen = set_gen(tgid, newfd, FL_KIND_DUP);
	struct fl_key dk = { .tgid = tgid, .fd = newfd, .gen = gen };
	if (dups.update(&dk, &d) != 0)
		count_lost(FL_LOST_PATH);
}

/* pipe/pipe2/socketpair return their two fds through user memory. */
static __always_inline void new_pair(u32 tgid, u64 uptr, u64 kind)
{
	int pair[2] = {};
	if (bpf_probe_read_user(pair, sizeof(pair), (void *)uptr) != 0)
		return;
	set_gen(tgid, pair[0], kind);
	set_gen(tgid, pair[1], kind);
}

RAW_TRACEPOINT_PROBE(sys_exit)
{
	void *regs = (void *)ctx->args[0];
	long ret = (long)ctx->args[1];
	/*
	 * One read for the number, the arguments and cs: the loader checked
	 * that orig_ax, dx, si, di and cs lie in the FL_PT_ARGS_LEN bytes
	 * from FL_PT_ARGS. (Reading 48 bytes costs the same as reading 8.)
	 */
	u64 a[FL_PT_ARGS_LEN / 8] = {};
	bpf_probe_read_kernel(a, sizeof(a), regs + FL_PT_ARGS);
	u64 nr = a[(FL_PT_ORIG_AX - FL_PT_ARGS) / 8];
	u64 kind = FL_KIND_NONE;
	int write = 0;

	switch (nr) {
	case NR_write: case NR_pwrite64: case NR_writev: case NR_pwritev: case NR_pwritev2:
	case NR_sendto: case NR_sendmsg:
		write = 1;
		/* fallthrough */
	case NR_read: case NR_pread64: case NR_readv: case NR_preadv: case NR_preadv2:
	case NR_recvfrom: case NR_recvmsg:
	case NR_sendfile: case NR_copy_file_range: case NR_splice: case NR_tee:
	case NR_open: case NR_openat: case NR_openat2: case NR_creat:
	case NR_close: case NR_dup: case NR_dup2: case NR_dup3: case NR_fcntl:
		break;
	case NR_socket: case NR_accept: case NR_accept4: case NR_socketpair:
		kind = FL_KIND_SOCKET;
		break;
	case NR_pipe: case NR_pipe2:
		kind = FL_KIND_PIPE;
		break;
	case NR_eventfd: case NR_eventfd2: case NR_epoll_create: case NR_epoll_create1:
	case NR_timerfd_create: case NR_signalfd: case NR_signalfd4: case NR_inotify_init:
	case NR_inotify_init1: case NR_memfd_create: case NR_pidfd_open: case NR_perf_event_open:
		kind = FL_KIND_ANON;
		break;
	default:
		return 0;
	}
	if (ret < 0)
		return 0;
	/* orig_ax holds an ia32 number for a 32-bit syscall: not ours to read. */
	if (a[(FL_PT_CS - FL_PT_ARGS) / 8] != FL_USER_CS)
		return 0;
	u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (skip_tgid(tgid))
		return 0;

	switch (nr) {
	case NR_read: case NR_pread64: case NR_readv: case NR_preadv: case NR_preadv2:
	case NR_recvfrom: case NR_recvmsg:
	case NR_write: case NR_pwrite64: case NR_writev: case NR_pwritev: case NR_pwritev2:
	case NR_sendto: case NR_sendmsg:
		account(tgid, (s32)a[(FL_PT_DI - FL_PT_ARGS) / 8], ret, write);
		break;
	case NR_sendfile:	/* (out_fd, in_fd, ...) */
		account(tgid, (s32)a[(FL_PT_SI - FL_PT_ARGS) / 8], ret, 0);
		account(tgid, (s32)a[(FL_PT_DI - FL_PT_ARGS) / 8], ret, 1);
		break;
	case NR_tee:	/* (fd_in, fd_out, len, flags) */
		account(tgid, (s32)a[(FL_PT_DI - FL_PT_ARGS) / 8], ret, 0);
		account(tgid, (s32)a[(FL_PT_SI - FL_PT_ARGS) / 8], ret, 1);
		break;
	case NR_copy_file_range:	/* (fd_in, off_in, fd_out, ...) */
	case NR_splice:		/* (fd_in, off_in, fd_out, ...) */
		account(tgid, (s32)a[(FL_PT_DI - FL_PT_ARGS) / 8], ret, 0);
		account(tgid, (s32)a[(FL_PT_DX - FL_PT_ARGS) / 8], ret, 1);
		break;
	case NR_open: case NR_creat:
		record_open(tgid, -100 /* AT_FDCWD */, ret, a[(FL_PT_DI - FL_PT_ARGS) / 8]);
		break;
	case NR_openat: case NR_openat2:
		record_open(tgid, (s32)a[(FL_PT_DI - FL_PT_ARGS) / 8], ret, a[(FL_PT_SI - FL_PT_ARGS) / 8]);
		break;
	case NR_close:
		set_gen(tgid, (s32)a[(FL_PT_DI - FL_PT_ARGS) / 8], FL_KIND_NONE);
		break;
	case NR_fcntl: {
		u64 cmd = a[(FL_PT_SI - FL_PT_ARGS) / 8];
		if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
			record_dup(tgid, (s32)a[(FL_PT_DI - FL_PT_ARGS) / 8], ret);
		break;
	}
	case NR_dup: case NR_dup2: case NR_dup3:
		record_dup(tgid, (s32)a[(FL_PT_DI - FL_PT_ARGS) / 8], ret);
		break;
	case NR_pipe: case NR_pipe2:
		new_pair(tgid, a[(FL_PT_DI - FL_PT_ARGS) / 8], kind);
		break;
	case NR_socketpair:	/* (domain, type, protocol, sv) */
		new_pair(tgid, reg(regs, FL_PT_R10), kind);
		break;
	default:	/* every other call returns the new fd */
		set_gen(tgid, ret, kind);
		break;
	}
	return 0;
}
