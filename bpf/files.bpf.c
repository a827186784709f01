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
 *   open, openat, openat2, creat                 new generation
 *   close                                        new generation (no file)
 *   dup, dup2, dup3, fcntl(F_DUPFD*)             new generation
 *   socket, accept*, socketpair, pipe*, eventfd*, epoll_create*, timerfd_create,
 *   signalfd*, inotify_init*, memfd_create, pidfd_open, perf_event_open,
 *   pidfd_getfd, open_by_handle_at, open_tree, fsopen, fsmount, fspick,
 *   userfaultfd, io_uring_setup, fanotify_init, memfd_secret, mq_open
 *                                                new generation typed by the call
 * so an fd number reused for another file (even within one interval) is
 * always another row. Each generation remembers the struct file the fd held;
 * when a key is created (its first I/O in an interval) and the fd table
 * holds another one (filled by a call not hooked here: close_range then
 * SCM_RIGHTS, seccomp addfd...), that starts a new generation too.
 *
 * Names: at a key's creation the program reads the fd's struct file and
 * composes its path from the dentry chain and the mount tree, up to the root
 * of the mount namespace (see name_file), with the inode's dev, ino and
 * mode, and a socket's endpoints. So a name is what the kernel opened, at
 * the event: never the string given to open() joined later to a cwd, and
 * user space makes no filesystem call to name or type anything. The per-I/O
 * path (the key exists) is unchanged: naming costs once per key.
 * Maps:
 *   stats,      two per-CPU hashes {tgid, fd, gen} -> {reads, writes, bytes,
 *   stats_b     comm}: PER INTERVAL, double-buffered by ebpftop.h's epoch
 *               (EBPFTOP_CTL_EPOCH of filter_on[0]: 0 = stats, 1 = stats_b);
 *               user space empties the half no program writes any more
 *               with lookup-and-delete batch.
 *   fds         LRU hash {tgid, fd} -> {gen, start, file, dentry}: CUMULATIVE,
 *               the current generation of every fd seen, the start time of
 *               the process that had it (checked once per key and interval,
 *               so a reused PID never inherits a dead process's fds) and the
 *               struct file it held (checked likewise).
 *   name_ring   ring buffer of {key, struct fl_name cut after the name}:
 *               a key's name, sent at its first I/O, so files opened, used
 *               and closed between two reads are named; user space reads it
 *               continuously (no wakeup per record: see fill).
 *   named       LRU hash {tgid, fd, gen} -> 1: CUMULATIVE, keys whose name
 *               went out (user space keeps them): a key is named once, not
 *               once per interval.
 *   fill        array[FL_FILL_SLOTS]: [0], [1] keys created in each stats
 *               half since user space last emptied it; FL_FILL_PRODUCED
 *               bytes sent on name_ring, FL_FILL_CONSUMED bytes user space
 *               read (written by user space). Past FL_FILL_MARK keys or
 *               FL_RING_MARK unread bytes a record wakes user space, which
 *               drains then instead of at the interval: a burst of files
 *               is read before the maps fill.
 *   scratch     per-CPU array[1]: a record and a path being composed.
 *   lost        per-CPU array[FL_LOST_SLOTS]: CUMULATIVE events not counted
 *               or not named, by cause (see files.h).
 *   filter_on   array[1]: the control word (ebpftop.h): the epoch, and
 *               FILTER_ON while the process filter is active,
 *               FILTER_NAMES too while a name filter is live (ebpftop.h).
 *   filter_pids hash tgid -> struct filter_proc (ebpftop.h): the processes
 *               to keep while the filter is active; task:task_rename adds
 *               those that take a filtered name, sched:sched_process_exit
 *               removes one that ended.
 *   filter_names hash comm -> 1: the live name filter.
 *   filter_cgroups hash cgroup id -> 1: the cgroup filter (FILTER_CGROUP,
 *               see ebpftop.h), descendants included.
 *   split_on,   array[1] and hash tid -> 1: threads that unshare(CLONE_FILES)d
 *   split_tids  (CUMULATIVE until the thread exits); their fds keys are
 *               FL_OWN_THREAD | tid, since their fd N is not their process's.
 */
#include "files.h"

BPF_PERCPU_HASH(stats, struct fl_key, struct fl_val, FL_MAX_ENTRIES);
BPF_PERCPU_HASH(stats_b, struct fl_key, struct fl_val, FL_MAX_ENTRIES);
BPF_TABLE("lru_hash", struct fl_fd_key, struct fl_fd_val, fds, FL_MAX_FDS);
BPF_TABLE("lru_hash", struct fl_key, u8, named, FL_MAX_NAMES);
BPF_RINGBUF_OUTPUT(name_ring, FL_RING_PAGES);
BPF_ARRAY(fill, u64, FL_FILL_SLOTS);
BPF_PERCPU_ARRAY(scratch, struct fl_scratch, 1);
BPF_PERCPU_ARRAY(lost, u64, FL_LOST_SLOTS);
BPF_ARRAY(filter_on, u32, 1);
BPF_F_TABLE("hash", u32, struct filter_proc, filter_pids, FILTER_MAX_PIDS, BPF_F_NO_PREALLOC);
BPF_F_TABLE("hash", u64, u8, filter_cgroups, FILTER_MAX_CGROUPS, BPF_F_NO_PREALLOC);
BPF_F_TABLE("hash", struct filter_name, u8, filter_names, FILTER_MAX_NAMES, BPF_F_NO_PREALLOC);
/*
 * Threads with an fd table of their own (unshare(CLONE_FILES)): their fd N is
 * not their process's fd N, so their generations live under their thread id
 * (FL_OWN_THREAD | tid) in fds. split_on[0] is set once any thread did it,
 * so every other I/O pays one inlined array load to know it need not look.
 */
BPF_ARRAY(split_on, u32, 1);
BPF_HASH(split_tids, u32, u8, FL_MAX_SPLIT);

static __always_inline u64 reg(void *regs, int off)
{
	u64 v = 0;
	bpf_probe_read_kernel(&v, sizeof(v), regs + off);
	return v;
}

/* The owner of the calling thread's fd table in fds keys: its process, or itself (see split_on). */
static __always_inline u32 fd_owner(u32 tgid)
{
	int zero = 0;
	u32 *on = split_on.lookup(&zero);
	if (!on || !*on)
		return tgid;
	u32 tid = bpf_get_current_pid_tgid();
	return split_tids.lookup(&tid) ? (tid | FL_OWN_THREAD) : tgid;
}

/* The cgroup filter (see ebpftop.h): the task's cgroup or an ancestor is in filter_cgroups. */
static __always_inline int fl_cgroup_keeps(void)
{
	for (int lvl = 1; lvl <= FILTER_CGROUP_DEPTH; lvl++) {
		u64 cg = bpf_get_current_ancestor_cgroup_id(lvl);
		if (!cg)
			return 0;
		if (filter_cgroups.lookup(&cg))
			return 1;
	}
	return 0;
}

/* Not in the filter: neither its cgroup (checked first) nor its process keeps it. */
static __always_inline int skip_tgid(u32 tgid)
{
	int zero = 0;
	u32 *on = filter_on.lookup(&zero);
	if (!on || !(*on & (FILTER_ON | FILTER_CGROUP)))
		return 0;
	if ((*on & FILTER_CGROUP) && fl_cgroup_keeps())
		return 0;
	return !((*on & FILTER_ON) && filter_keeps(*on, filter_pids.lookup(&tgid)));
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
	int z = 0;
	u32 *split = split_on.lookup(&z);
	if (split && *split) {
		u32 tid = bpf_get_current_pid_tgid();
		split_tids.delete(&tid);
	}
	u32 tgid = 0;
	if (EBPFTOP_GROUP_DEAD(args) && filter_forget(filter_on.lookup(&z), &tgid))
		filter_pids.delete(&tgid);
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
	void *leader = kptr((void *)bpf_get_current_task(), FL_OFF_TASK_GROUP_LEADER);
	if (leader)
		bpf_probe_read_kernel(&start, sizeof(start), leader + FL_OFF_TASK_START_TIME);
	return start;
}

/* current->files->fdt->fd[fd]: the struct file an fd number holds now (NULL: none). */
static __always_inline void *fd_file(s32 fd)
{
	void *task = (void *)bpf_get_current_task();
	void *fdt = kptr(kptr(task, FL_OFF_TASK_FILES), FL_OFF_FILES_FDT);
	u32 max_fds = 0;
	if (!fdt || bpf_probe_read_kernel(&max_fds, sizeof(max_fds), fdt + FL_OFF_FDT_MAX_FDS) != 0)
		return NULL;
	if (fd < 0 || (u32)fd >= max_fds)
		return NULL;
	return kptr(kptr(fdt, FL_OFF_FDT_FD) + (u64)fd * sizeof(void *), 0);
}

#define FL_NAME_MASK (FL_NAME_LEN - 1)

/*
 * A socket's endpoints: file->private_data is its struct socket, ->sk its
 * struct sock (struct sock_common first). AF_UNIX: the bound path of this
 * end, else of its peer (unix_sock->addr).
 */
static __always_inline void name_socket(struct fl_name *rec, void *file)
{
#ifndef FL_NO_SOCK
	void *sk = kptr(kptr(file, FL_OFF_FILE_PRIVATE), FL_OFF_SOCKET_SK);
	if (!sk)
		return;
	bpf_probe_read_kernel(&rec->sk_family, 2, sk + FL_OFF_SK_FAMILY);
	bpf_probe_read_kernel(&rec->sk_type, 2, sk + FL_OFF_SK_TYPE);
	bpf_probe_read_kernel(&rec->sk_protocol, 2, sk + FL_OFF_SK_PROTOCOL);
	rec->flags |= FL_NAME_SOCK;
	if (rec->sk_family == 2 /* AF_INET */) {
		bpf_probe_read_kernel(rec->sk_saddr, 4, sk + FL_OFF_SK_RCV_SADDR);
		bpf_probe_read_kernel(rec->sk_daddr, 4, sk + FL_OFF_SK_DADDR);
	} else if (rec->sk_family == 10 /* AF_INET6 */) {
		bpf_probe_read_kernel(rec->sk_saddr, 16, sk + FL_OFF_SK_V6_RCV_SADDR);
		bpf_probe_read_kernel(rec->sk_daddr, 16, sk + FL_OFF_SK_V6_DADDR);
	} else if (rec->sk_family == 1 /* AF_UNIX */) {
		void *addr = kptr(sk, FL_OFF_UNIX_ADDR);
		if (!addr) {
			void *peer = kptr(sk, FL_OFF_UNIX_PEER);
			addr = peer ? kptr(peer, FL_OFF_UNIX_ADDR) : NULL;
			if (addr)
				rec->sk_type |= 0x8000;	/* the peer's address, not ours */
		}
		int len = 0;
		if (addr)
			bpf_probe_read_kernel(&len, sizeof(len), addr + FL_OFF_UNIX_ADDR_LEN);
		len -= 2;	/* sizeof(sun_family) */
		if (len > 0 && len <= 108) {
			bpf_probe_read_kernel(rec->name, len & 127, addr + FL_OFF_UNIX_ADDR_NAME + 2);
			rec->len = len;
		}
		return;
	} else {
		return;
	}
	bpf_probe_read_kernel(&rec->sk_sport, 2, sk + FL_OFF_SK_NUM);
	bpf_probe_read_kernel(&rec->sk_dport, 2, sk + FL_OFF_SK_DPORT);
#endif
}

/*
 * The struct file's path as d_path() composes it, but up to the root mount
 * of the mount namespace rather than the task's root: dentry by dentry up
 * d_parent to its mount's root, then across to the mountpoint in the parent
 * mount (struct mount: mnt_parent, mnt_mountpoint, the embedded vfsmount
 * `mnt` and its mnt_root), until a mount is its own parent. Components are
 * written backwards into scratch->buf, the path ending at FL_NAME_LEN.
 */
static __always_inline void name_file(struct fl_scratch *s, void *file)
{
	struct fl_name *rec = &s->rec;
	void *inode = kptr(file, FL_OFF_FILE_INODE);
	if (inode) {
		u16 mode = 0;
		u32 dev = 0;
		bpf_probe_read_kernel(&mode, sizeof(mode), inode + FL_OFF_INODE_MODE);
		bpf_probe_read_kernel(&rec->ino, sizeof(rec->ino), inode + FL_OFF_INODE_INO);
		void *sb = kptr(inode, FL_OFF_INODE_SB);
		unsigned long magic = 0;
		bpf_probe_read_kernel(&dev, sizeof(dev), sb + FL_OFF_SB_DEV);
		bpf_probe_read_kernel(&magic, sizeof(magic), sb + FL_OFF_SB_MAGIC);
		rec->mode = mode;
		rec->dev = dev;
		if (magic == FL_OVERLAYFS_MAGIC)
			rec->flags |= FL_NAME_NO_DEV | FL_NAME_NO_INO;
		else if (magic == FL_BTRFS_MAGIC)
			rec->flags |= FL_NAME_NO_DEV;
		if ((mode & 0170000) == 0140000 /* S_IFSOCK */)
			name_socket(rec, file);
	}
	void *dentry = kptr(file, FL_OFF_FILE_PATH + FL_OFF_PATH_DENTRY);
	void *vfsmnt = kptr(file, FL_OFF_FILE_PATH + FL_OFF_PATH_MNT);
	if (!dentry || !vfsmnt)
		return;
	void *mnt = vfsmnt - FL_OFF_MOUNT_MNT;	/* container_of(vfsmnt, struct mount, mnt) */
	void *mnt_parent = kptr(mnt, FL_OFF_MOUNT_PARENT);
	void *mnt_root = kptr(vfsmnt, FL_OFF_VFSMOUNT_ROOT);
	void *parent = kptr(dentry, FL_OFF_DENTRY_PARENT);

	if (dentry == parent && dentry != mnt_root) {
		/* Not reachable from any mount's root: a pseudo file; its own name. */
		rec->flags |= FL_NAME_PSEUDO;
		if (rec->len == 0 && !(rec->flags & FL_NAME_SOCK)) {
			int n = bpf_probe_read_kernel_str(rec->name, sizeof(rec->name),
							  kptr(dentry, FL_OFF_DENTRY_NAME + FL_OFF_QSTR_NAME));
			rec->len = n > 0 ? n - 1 : 0;
		}
		return;
	}
	rec->len = 0;	/* a unix socket file bound in a directory is named by its path */
	/* d_unlinked(): unhashed and not a root. */
	void *pprev = kptr(dentry, FL_OFF_DENTRY_HASH + FL_OFF_HLIST_PPREV);
	if (!pprev && dentry != parent)
		rec->flags |= FL_NAME_DELETED;

	/*
	 * s->pos bytes are written, ending at buf[FL_NAME_LEN]: the path is
	 * buf[FL_NAME_LEN - pos, FL_NAME_LEN). pos lives in the map value, so
	 * every iteration starts with the same verifier state whichever branch
	 * the last one took (a register would carry a different range from
	 * each, and the paths would multiply past the complexity limit).
	 */
	s->pos = 0;
	int done = 0;
	#pragma clang loop unroll(disable)
	for (int i = 0; i < FL_MAX_DEPTH; i++) {
		if (dentry == mnt_root || dentry == parent) {
			if (dentry != mnt_root || mnt == mnt_parent || !mnt_parent) {
				done = 1;	/* the namespace's root (or a detached tree) */
				break;
			}
			dentry = kptr(mnt, FL_OFF_MOUNT_MOUNTPOINT);
			mnt = mnt_parent;
			mnt_parent = kptr(mnt, FL_OFF_MOUNT_PARENT);
			mnt_root = kptr(mnt + FL_OFF_MOUNT_MNT, FL_OFF_VFSMOUNT_ROOT);
			parent = kptr(dentry, FL_OFF_DENTRY_PARENT);
			continue;
		}
		u32 len = 0;
		bpf_probe_read_kernel(&len, sizeof(len), dentry + FL_OFF_DENTRY_NAME + FL_OFF_QSTR_LEN);
		u32 pos = s->pos;
		if (pos + len + 1 >= FL_NAME_LEN)
			break;	/* no room: truncated, the leaf side kept */
		pos = (pos + len + 1) & FL_NAME_MASK;
		s->pos = pos;
		u32 off = FL_NAME_LEN - pos;
		s->buf[off & FL_NAME_MASK] = '/';
		bpf_probe_read_kernel(&s->buf[(off + 1) & FL_NAME_MASK], len & FL_NAME_MASK,
				      kptr(dentry, FL_OFF_DENTRY_NAME + FL_OFF_QSTR_NAME));
		dentry = parent;
		parent = kptr(dentry, FL_OFF_DENTRY_PARENT);
	}
	u32 pos = s->pos;
	if (!done)
		rec->flags |= FL_NAME_TRUNCATED;
	if (pos == 0) {	/* the root itself */
		rec->name[0] = '/';
		rec->len = 1;
		return;
	}
	bpf_probe_read_kernel(rec->name, pos & FL_NAME_MASK, &s->buf[(FL_NAME_LEN - pos) & FL_NAME_MASK]);
	rec->len = pos;
}

/*
 * Send a key's name on name_ring, read from the struct file its fd holds,
 * once per key (named remembers it). wake: a stats half passed its fill
 * mark, so user space must drain now; the record wakes it (a key already
 * named sends a key-only record for that). Otherwise records wake nobody
 * until FL_RING_MARK bytes wait unread.
 */
static __always_inline void name_key(struct fl_key *key, void *file, int wake)
{
	int zero = 0;
	struct fl_scratch *s = scratch.lookup(&zero);
	if (!s)
		return;
	s->key = *key;
	u32 size = FL_EVENT_WAKE;
	if (file && !(key->gen && named.lookup(key))) {
		__builtin_memset(&s->rec, 0, sizeof(s->rec) - FL_NAME_LEN);
		s->rec.name[0] = 0;
		name_file(s, file);
		if (s->rec.len < FL_NAME_LEN)
			s->rec.name[s->rec.len & FL_NAME_MASK] = 0;
		size = FL_EVENT_HEAD + (s->rec.len & FL_NAME_MASK) + 1;
	} else if (!wake) {
		return;	/* named already, or no file (closed under the I/O: user space says unknown) */
	}
	int pr = FL_FILL_PRODUCED, co = FL_FILL_CONSUMED;
	u64 *produced = fill.lookup(&pr), *consumed = fill.lookup(&co);
	/* Signed: user space may count a record before its producer adds it. */
	if (produced && consumed && (s64)(*produced - *consumed) + size > FL_RING_MARK)
		wake = 1;
	if (name_ring.ringbuf_output(s, size, wake ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP) != 0) {
		if (size > FL_EVENT_WAKE)
			count_lost(FL_LOST_PATH);
		return;
	}
	if (produced)
		__sync_fetch_and_add(produced, size);
	if (size > FL_EVENT_WAKE && key->gen) {
		u8 one = 1;
		named.update(key, &one);
	}
}

/* The stats buffer programs count into now: ebpftop.h's epoch. */
static __always_inline u32 active_buffer(void)
{
	int zero = 0;
	return ebpftop_epoch(filter_on.lookup(&zero));
}

static __always_inline struct fl_val *stats_lookup(u32 buf, struct fl_key *key)
{
	return buf ? stats_b.lookup(key) : stats.lookup(key);
}

static __always_inline int stats_insert(u32 buf, struct fl_key *key, struct fl_val *val)
{
	return buf ? stats_b.update(key, val) : stats.update(key, val);
}

/*
 * The file's dentry, with bit 0 set when it is unlinked (d_unlinked():
 * unhashed and not a root; dentries are 8-byte aligned). Kept with each
 * generation: a file unlinked since then starts a new one at its next key,
 * so it is named again, " (deleted)".
 */
static __always_inline u64 file_dentry(void *file)
{
	if (!file)
		return 0;
	void *dentry = kptr(file, FL_OFF_FILE_PATH + FL_OFF_PATH_DENTRY);
	if (!dentry)
		return 0;
	void *pprev = kptr(dentry, FL_OFF_DENTRY_HASH + FL_OFF_HLIST_PPREV);
	int unlinked = !pprev && kptr(dentry, FL_OFF_DENTRY_PARENT) != dentry;
	return (u64)dentry | unlinked;
}

static __always_inline u64 new_gen(u64 kind)
{
	return (bpf_ktime_get_ns() << FL_KIND_BITS) | kind;
}

/* Start a generation of (tgid, fd) that holds file (NULL: closed). */
static __always_inline u64 set_gen_file(u32 tgid, s32 fd, u64 kind, void *file)
{
	u64 gen = new_gen(kind);
	u64 start = process_start();
	u64 dentry = file_dentry(file);
	struct fl_fd_key fk = { .tgid = tgid, .fd = fd };
	struct fl_fd_val *fv = fds.lookup(&fk);
	if (fv) {
		fv->gen = gen;
		fv->start = start;
		fv->file = (u64)file;
		fv->dentry = dentry;
		return gen;
	}
	struct fl_fd_val init = { .gen = gen, .start = start, .file = (u64)file, .dentry = dentry };
	if (fds.update(&fk, &init) != 0) {
		count_lost(FL_LOST_FDS);
		return 0;
	}
	return gen;
}

static __always_inline u64 set_gen(u32 tgid, s32 fd, u64 kind)
{
	return set_gen_file(tgid, fd, kind, fd_file(fd));
}

/* Per-CPU value: plain increments are race-free on this CPU. */
static __always_inline void count_io(struct fl_val *v, u64 bytes, int write)
{
	if (write) {
		v->writes++;
		v->write_bytes += bytes;
	} else {
		v->reads++;
		v->read_bytes += bytes;
	}
}

/*
 * The per-I/O path: count into the key's value when the key exists this
 * interval (the common case). Returns 1 when it does not: account_new()
 * then creates it, after the sys_exit switch, in the one place the program
 * has that code (so the naming walk is verified once, not per call site).
 */
static __always_inline int account(u32 tgid, u32 own, s32 fd, u64 bytes, int write, u32 buf)
{
	struct fl_fd_key fk = { .tgid = own, .fd = fd };
	struct fl_fd_val *fv = fds.lookup(&fk);
	struct fl_key key = { .tgid = tgid, .fd = fd, .gen = fv ? fv->gen : 0 };

	struct fl_val *v = stats_lookup(buf, &key);
	if (!v)
		return 1;
	count_io(v, bytes, write);
	return 0;
}

/*
 * First I/O of a key this interval. Check the generation still describes
 * the fd: made by this process (not a dead one whose PID it got) and
 * holding the struct file it held when the generation began (not one
 * installed since by a call not hooked here). If not, start a new one; an
 * fd never seen gets one now. Then create the key and name it.
 */
static __always_inline void account_new(u32 tgid, u32 own, s32 fd, u64 bytes, int write, u32 buf)
{
	struct fl_fd_key fk = { .tgid = own, .fd = fd };
	struct fl_fd_val *fv = fds.lookup(&fk);
	struct fl_key key = { .tgid = tgid, .fd = fd, .gen = fv ? fv->gen : 0 };
	struct fl_val *v = NULL;
	void *file = fd_file(fd);
	u64 dentry = file_dentry(file);

	if (!fv || fv->start != process_start() || fv->file != (u64)file || fv->dentry != dentry) {
		key.gen = set_gen_file(own, fd, FL_KIND_OTHER, file);
		if (key.gen == 0)	/* fds full: counted under generation 0 */
			v = stats_lookup(buf, &key);
	} else {
		v = stats_lookup(buf, &key);	/* another CPU or the other fd of this call made it */
	}
	if (v) {
		count_io(v, bytes, write);
		return;
	}
	/*
	 * Take comm now so a process that exits before the read is still
	 * named. A program's update only writes this CPU's slot, so a racing
	 * insert elsewhere loses nothing. (bcc's .increment() never creates
	 * per-CPU keys on this kernel.)
	 */
	struct fl_val init = {};
	if (write) {
		init.writes = 1;
		init.write_bytes = bytes;
	} else {
		init.reads = 1;
		init.read_bytes = bytes;
	}
	ebpftop_process_comm(init.comm);
	init.cgroup = EBPFTOP_CGROUP_ID();
	if (stats_insert(buf, &key, &init) != 0) {
		count_lost(FL_LOST_STATS);
		return;
	}
	/* A key more in this half; past the mark, user space is woken to drain it. */
	int half = buf;
	u64 *keys = fill.lookup(&half);
	int wake = 0;
	if (keys) {
		__sync_fetch_and_add(keys, 1);
		wake = *keys >= FL_FILL_MARK;
	}
	name_key(&key, file, wake);
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
	case NR_pidfd_getfd: case NR_open_by_handle_at: case NR_open_tree: case NR_fsopen:
	case NR_fsmount: case NR_fspick: case NR_userfaultfd: case NR_io_uring_setup:
	case NR_fanotify_init: case NR_memfd_secret: case NR_mq_open:
		kind = FL_KIND_OTHER;
		break;
	case NR_unshare:
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
	if (nr == NR_unshare) {
		/* This thread's fd table is its own from here (see split_on). */
		if (a[(FL_PT_DI - FL_PT_ARGS) / 8] & FL_CLONE_FILES) {
			u32 tid = bpf_get_current_pid_tgid();
			u8 one = 1;
			int zero = 0;
			split_tids.update(&tid, &one);
			u32 *on = split_on.lookup(&zero);
			if (on)
				*on = 1;
		}
		return 0;
	}
	u32 own = fd_owner(tgid);

	/* Up to two fds of this call whose key does not exist yet: see account(). */
	s32 new0 = -1, new1 = -1;
	int w0 = 0;
	u32 buf;

	switch (nr) {
	case NR_read: case NR_pread64: case NR_readv: case NR_preadv: case NR_preadv2:
	case NR_recvfrom: case NR_recvmsg:
	case NR_write: case NR_pwrite64: case NR_writev: case NR_pwritev: case NR_pwritev2:
	case NR_sendto: case NR_sendmsg: {
		s32 fd = (s32)a[(FL_PT_DI - FL_PT_ARGS) / 8];
		buf = active_buffer();
		if (account(tgid, own, fd, ret, write, buf)) {
			new0 = fd;
			w0 = write;
		}
		break;
	}
	case NR_sendfile:	/* (out_fd, in_fd, ...) */
	case NR_tee:		/* (fd_in, fd_out, len, flags) */
	case NR_copy_file_range:	/* (fd_in, off_in, fd_out, ...) */
	case NR_splice: {	/* (fd_in, off_in, fd_out, ...) */
		s32 in = (s32)a[(FL_PT_DI - FL_PT_ARGS) / 8];
		s32 out = (s32)a[(FL_PT_DX - FL_PT_ARGS) / 8];
		if (nr == NR_sendfile) {
			out = in;
			in = (s32)a[(FL_PT_SI - FL_PT_ARGS) / 8];
		} else if (nr == NR_tee) {
			out = (s32)a[(FL_PT_SI - FL_PT_ARGS) / 8];
		}
		buf = active_buffer();
		if (account(tgid, own, in, ret, 0, buf))
			new0 = in;
		if (account(tgid, own, out, ret, 1, buf))
			new1 = out;
		break;
	}
	case NR_open: case NR_creat: case NR_openat: case NR_openat2:
		set_gen(own, ret, FL_KIND_OPEN);
		break;
	case NR_close:
		set_gen_file(own, (s32)a[(FL_PT_DI - FL_PT_ARGS) / 8], FL_KIND_NONE, NULL);
		break;
	case NR_fcntl: {
		u64 cmd = a[(FL_PT_SI - FL_PT_ARGS) / 8];
		if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
			set_gen(own, ret, FL_KIND_DUP);
		break;
	}
	case NR_dup: case NR_dup2: case NR_dup3:
		set_gen(own, ret, FL_KIND_DUP);
		break;
	case NR_pipe: case NR_pipe2:
		new_pair(own, a[(FL_PT_DI - FL_PT_ARGS) / 8], kind);
		break;
	case NR_socketpair:	/* (domain, type, protocol, sv) */
		new_pair(own, reg(regs, FL_PT_R10), kind);
		break;
	default:	/* every other call returns the new fd */
		set_gen(own, ret, kind);
		break;
	}
	if (new0 < 0 && new1 < 0)
		return 0;
	buf = active_buffer();
	#pragma clang loop unroll(disable)
	for (int k = 0; k < 2; k++) {
		s32 fd = k ? new1 : new0;
		if (fd >= 0)
			account_new(tgid, own, fd, ret, k ? 1 : w0, buf);
	}
	return 0;
}
