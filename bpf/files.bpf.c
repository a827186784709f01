// SPDX-License-Identifier: GPL-2.0
/*
 * files.bpf.c - bytes and operations per open file, split read/write.
 *
 * Hooks (classic syscall tracepoints, the only per-syscall hooks here: no
 * kprobes, no fentry):
 *   sys_enter_{read,write,pread64,pwrite64,readv,writev,preadv,pwritev,
 *              preadv2,pwritev2,sendfile64,copy_file_range}
 *                      stash (op, fd[, fd2]) for this thread;
 *   sys_exit_<same>    account the return value (bytes) to the stashed fd;
 *   sys_enter_{openat,openat2,open,creat} / sys_exit_<same>
 *                      stash the user's name pointer, and on success give
 *                      the returned fd a new generation and store the name;
 *   sys_enter_close, sys_enter_dup2, sys_enter_dup3
 *                      give the fd (newfd for dup*) a new generation, so an
 *                      fd number reused within one interval is a new row.
 * Maps:
 *   stats       per-CPU hash {tgid, fd, gen} -> {reads, writes, bytes, comm}:
 *               PER INTERVAL, emptied by user space with lookup-and-delete
 *               batch every read, so each read is an exact delta.
 *   fds         LRU hash {tgid, fd} -> {gen}: CUMULATIVE, the current
 *               generation of every fd seen opening or closing.
 *   paths       LRU hash {tgid, fd, gen} -> {dfd, name}: CUMULATIVE, the
 *               name each open was given; outlives the close so files opened,
 *               used and closed between two reads are still named.
 *   stash       LRU hash pid_tgid -> what this thread's syscall is doing;
 *               written at enter, consumed (op = NONE, no delete) at exit.
 *   scratch     per-CPU array[1]: room for one name (too big for the stack).
 *   lost        per-CPU array[FL_LOST_SLOTS]: CUMULATIVE events not counted
 *               or not named, by cause (see files.h).
 *   filter_on   array[1]: non-zero when the PID filter is active.
 *   filter_pids hash tgid -> 1: PIDs to keep while the filter is active.
 */
#include "files.h"

/*
 * preadv2/pwritev2's tracepoint format names the flags type rwf_t, which the
 * fallback header tree bcc compiles against does not define (it is an int).
 */
#ifndef rwf_t
#define rwf_t int
#endif

BPF_PERCPU_HASH(stats, struct fl_key, struct fl_val, FL_MAX_ENTRIES);
BPF_TABLE("lru_hash", struct fl_fd_key, struct fl_fd_val, fds, FL_MAX_FDS);
BPF_TABLE("lru_hash", struct fl_key, struct fl_path, paths, FL_MAX_PATHS);
BPF_TABLE("lru_hash", u64, struct fl_stash, stash, FL_MAX_THREADS);
BPF_PERCPU_ARRAY(scratch, struct fl_path, 1);
BPF_PERCPU_ARRAY(lost, u64, FL_LOST_SLOTS);
BPF_ARRAY(filter_on, u32, 1);
BPF_HASH(filter_pids, u32, u8, FILTER_MAX_PIDS);

static __always_inline int skip_tgid(u32 tgid)
{
	int zero = 0;
	u32 *on = filter_on.lookup(&zero);
	return on && *on && !filter_pids.lookup(&tgid);
}

static __always_inline void count_lost(int cause)
{
	u64 *n = lost.lookup(&cause);
	if (n)
		(*n)++;
}

static __always_inline void stash_op(u32 op, s32 fd, s32 fd2, u64 ptr)
{
	u64 id = bpf_get_current_pid_tgid();
	if (skip_tgid(id >> 32))
		return;
	/* Only this thread touches its entry, so it is rewritten in place. */
	struct fl_stash *s = stash.lookup(&id);
	if (s) {
		s->ptr = ptr;
		s->fd = fd;
		s->fd2 = fd2;
		s->op = op;
		return;
	}
	struct fl_stash init = { .ptr = ptr, .fd = fd, .fd2 = fd2, .op = op };
	stash.update(&id, &init);	/* LRU: makes room rather than fail */
}

static __always_inline void account(u32 tgid, s32 fd, u64 bytes, int write)
{
	struct fl_fd_key fk = { .tgid = tgid, .fd = fd };
	struct fl_fd_val *fv = fds.lookup(&fk);
	struct fl_key key = { .tgid = tgid, .fd = fd, .gen = fv ? fv->gen : 0 };

	/* Per-CPU value: plain increments are race-free on this CPU. */
	struct fl_val *v = stats.lookup(&key);
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
	if (stats.update(&key, &init) != 0)
		count_lost(FL_LOST_STATS);
}

static __always_inline void set_gen(u32 tgid, s32 fd, u64 gen)
{
	struct fl_fd_key fk = { .tgid = tgid, .fd = fd };
	struct fl_fd_val *fv = fds.lookup(&fk);
	if (fv) {
		fv->gen = gen;
		return;
	}
	struct fl_fd_val init = { .gen = gen };
	if (fds.update(&fk, &init) != 0)
		count_lost(FL_LOST_FDS);
}

static __always_inline void record_open(u32 tgid, s32 dfd, s32 fd, u64 ptr)
{
	u64 gen = (bpf_ktime_get_ns() << 1) | FL_GEN_OPEN;
	int zero = 0;

	set_gen(tgid, fd, gen);
	struct fl_path *p = scratch.lookup(&zero);
	if (!p)
		return;
	p->dfd = dfd;
	/* At exit the kernel has just read this string, so it is paged in. */
	if (bpf_probe_read_user_str(p->name, sizeof(p->name), (void *)ptr) < 0)
		p->name[0] = 0;
	struct fl_key pk = { .tgid = tgid, .fd = fd, .gen = gen };
	if (paths.update(&pk, p) != 0)
		count_lost(FL_LOST_PATH);
}

static __always_inline int on_exit(long ret)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tgid = id >> 32;
	struct fl_stash *s = stash.lookup(&id);

	if (!s) {
		if (!skip_tgid(tgid))
			count_lost(FL_LOST_STASH);
		return 0;
	}
	u32 op = s->op;
	s32 fd = s->fd, fd2 = s->fd2;
	u64 ptr = s->ptr;
	s->op = FL_OP_NONE;
	if (ret < 0)
		return 0;
	switch (op) {
	case FL_OP_READ:
		account(tgid, fd, ret, 0);
		break;
	case FL_OP_WRITE:
		account(tgid, fd, ret, 1);
		break;
	case FL_OP_COPY:
		account(tgid, fd2, ret, 0);
		account(tgid, fd, ret, 1);
		break;
	case FL_OP_OPEN:
		record_open(tgid, fd, (s32)ret, ptr);
		break;
	}
	return 0;
}

/* ---- read family ---------------------------------------------------- */
TRACEPOINT_PROBE(syscalls, sys_enter_read) { stash_op(FL_OP_READ, args->fd, 0, 0); return 0; }
TRACEPOINT_PROBE(syscalls, sys_exit_read) { return on_exit(args->ret); }
TRACEPOINT_PROBE(syscalls, sys_enter_pread64) { stash_op(FL_OP_READ, args->fd, 0, 0); return 0; }
TRACEPOINT_PROBE(syscalls, sys_exit_pread64) { return on_exit(args->ret); }
TRACEPOINT_PROBE(syscalls, sys_enter_readv) { stash_op(FL_OP_READ, args->fd, 0, 0); return 0; }
TRACEPOINT_PROBE(syscalls, sys_exit_readv) { return on_exit(args->ret); }
TRACEPOINT_PROBE(syscalls, sys_enter_preadv) { stash_op(FL_OP_READ, args->fd, 0, 0); return 0; }
TRACEPOINT_PROBE(syscalls, sys_exit_preadv) { return on_exit(args->ret); }
TRACEPOINT_PROBE(syscalls, sys_enter_preadv2) { stash_op(FL_OP_READ, args->fd, 0, 0); return 0; }
TRACEPOINT_PROBE(syscalls, sys_exit_preadv2) { return on_exit(args->ret); }

/* ---- write family --------------------------------------------------- */
TRACEPOINT_PROBE(syscalls, sys_enter_write) { stash_op(FL_OP_WRITE, args->fd, 0, 0); return 0; }
TRACEPOINT_PROBE(syscalls, sys_exit_write) { return on_exit(args->ret); }
TRACEPOINT_PROBE(syscalls, sys_enter_pwrite64) { stash_op(FL_OP_WRITE, args->fd, 0, 0); return 0; }
TRACEPOINT_PROBE(syscalls, sys_exit_pwrite64) { return on_exit(args->ret); }
TRACEPOINT_PROBE(syscalls, sys_enter_writev) { stash_op(FL_OP_WRITE, args->fd, 0, 0); return 0; }
TRACEPOINT_PROBE(syscalls, sys_exit_writev) { return on_exit(args->ret); }
TRACEPOINT_PROBE(syscalls, sys_enter_pwritev) { stash_op(FL_OP_WRITE, args->fd, 0, 0); return 0; }
TRACEPOINT_PROBE(syscalls, sys_exit_pwritev) { return on_exit(args->ret); }
TRACEPOINT_PROBE(syscalls, sys_enter_pwritev2) { stash_op(FL_OP_WRITE, args->fd, 0, 0); return 0; }
TRACEPOINT_PROBE(syscalls, sys_exit_pwritev2) { return on_exit(args->ret); }

/* ---- in-kernel copies: bytes read from one fd and written to another -- */
TRACEPOINT_PROBE(syscalls, sys_enter_sendfile64) { stash_op(FL_OP_COPY, args->out_fd, args->in_fd, 0); return 0; }
TRACEPOINT_PROBE(syscalls, sys_exit_sendfile64) { return on_exit(args->ret); }
TRACEPOINT_PROBE(syscalls, sys_enter_copy_file_range) { stash_op(FL_OP_COPY, args->fd_out, args->fd_in, 0); return 0; }
TRACEPOINT_PROBE(syscalls, sys_exit_copy_file_range) { return on_exit(args->ret); }

/* ---- opens: the name at enter, the fd at exit ------------------------- */
TRACEPOINT_PROBE(syscalls, sys_enter_openat) { stash_op(FL_OP_OPEN, args->dfd, 0, (u64)args->filename); return 0; }
TRACEPOINT_PROBE(syscalls, sys_exit_openat) { return on_exit(args->ret); }
TRACEPOINT_PROBE(syscalls, sys_enter_openat2) { stash_op(FL_OP_OPEN, args->dfd, 0, (u64)args->filename); return 0; }
TRACEPOINT_PROBE(syscalls, sys_exit_openat2) { return on_exit(args->ret); }
TRACEPOINT_PROBE(syscalls, sys_enter_open) { stash_op(FL_OP_OPEN, -100 /* AT_FDCWD */, 0, (u64)args->filename); return 0; }
TRACEPOINT_PROBE(syscalls, sys_exit_open) { return on_exit(args->ret); }
TRACEPOINT_PROBE(syscalls, sys_enter_creat) { stash_op(FL_OP_OPEN, -100 /* AT_FDCWD */, 0, (u64)args->pathname); return 0; }
TRACEPOINT_PROBE(syscalls, sys_exit_creat) { return on_exit(args->ret); }

/* ---- the fd number stops meaning the file it meant -------------------- */
static __always_inline int retire(s32 fd)
{
	u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (skip_tgid(tgid))
		return 0;
	set_gen(tgid, fd, bpf_ktime_get_ns() << 1);
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_close) { return retire(args->fd); }
TRACEPOINT_PROBE(syscalls, sys_enter_dup2) { return retire(args->newfd); }
TRACEPOINT_PROBE(syscalls, sys_enter_dup3) { return retire(args->newfd); }
