// SPDX-License-Identifier: GPL-2.0
/*
 * proctree.bpf.c - every process start, exec and end, for the fork/exec tree.
 *
 * Hooks (tracepoints only: no kprobes or fentry on this kernel):
 *   task:task_newtask            a new task; CLONE_THREAD ones are threads
 *                                and are skipped, the rest are processes.
 *   syscalls:sys_enter_execve    argv of the calling thread, stashed until
 *   syscalls:sys_enter_execveat  the exec succeeds (both entry points).
 *   sched:sched_process_exec     a successful exec: filename + stashed argv.
 *   sched:sched_process_exit     the end of a whole thread group (group_dead,
 *                                or pid == tgid on kernels without that arg)
 *                                with task_struct.exit_code.
 * Maps:
 *   events    ring buffer of pt_hdr / pt_exec records: drained by user space
 *             every interval (each record is delivered exactly once).
 *   lost      per-CPU array[1]: CUMULATIVE records that could not be put in
 *             the ring buffer (full).
 *   argvs     LRU hash tid -> pt_exec: argv between execve entry and the exec
 *             tracepoint; deleted on success, failed execs age out (LRU).
 *   scratch   per-CPU array[1]: a pt_exec too big for the 512-byte stack.
 *   attempts  per-CPU array[1] (only with -DPT_SELFCHECK): CUMULATIVE records
 *             tried, so tests can prove delivered + lost == attempts.
 *
 * Kernel struct fields (exit_code, real_parent, tgid of task_struct) are read
 * only at offsets taken from the running kernel's BTF by the loader and passed
 * as -DTASK_*_OFF, never through the (other-version) headers bcc sees.
 *
 * No PID filter here: the tree needs every event to stay consistent (a child
 * is not in the filter set when it is born); filtering to a subtree happens in
 * the model, see ebpftop/model/proctree.py.
 */
#include "proctree.h"

#ifndef TASK_EXIT_CODE_OFF
#error "TASK_EXIT_CODE_OFF (task_struct.exit_code from BTF) is required"
#endif
#ifndef TASK_REAL_PARENT_OFF
#error "TASK_REAL_PARENT_OFF (task_struct.real_parent from BTF) is required"
#endif
#ifndef TASK_TGID_OFF
#error "TASK_TGID_OFF (task_struct.tgid from BTF) is required"
#endif

#define PT_CLONE_PARENT 0x00008000ULL
#define PT_CLONE_THREAD 0x00010000ULL

BPF_RINGBUF_OUTPUT(events, PT_RINGBUF_PAGES);
BPF_PERCPU_ARRAY(lost, u64, 1);
BPF_TABLE("lru_hash", u32, struct pt_exec, argvs, PT_STASH_ENTRIES);
BPF_PERCPU_ARRAY(scratch, struct pt_exec, 1);
#ifdef PT_SELFCHECK
BPF_PERCPU_ARRAY(attempts, u64, 1);
#endif

static __always_inline void note_attempt(void)
{
#ifdef PT_SELFCHECK
	int zero = 0;
	u64 *n = attempts.lookup(&zero);
	if (n)
		(*n)++;
#endif
}

static __always_inline void note_lost(void)
{
	int zero = 0;
	u64 *n = lost.lookup(&zero);
	if (n)
		(*n)++;
}

/* tgid of a task's real parent: where wait() status goes, and where an orphan
 * was re-parented to (init or a subreaper). */
static __always_inline u32 parent_tgid(u64 task)
{
	u64 parent = 0;
	u32 tgid = 0;

	bpf_probe_read_kernel(&parent, sizeof(parent), (void *)(task + TASK_REAL_PARENT_OFF));
	if (parent)
		bpf_probe_read_kernel(&tgid, sizeof(tgid), (void *)(parent + TASK_TGID_OFF));
	return tgid;
}

TRACEPOINT_PROBE(task, task_newtask)
{
	u64 flags = args->clone_flags;

	if (flags & PT_CLONE_THREAD)
		return 0;	/* a thread of an existing process: not a node */

	note_attempt();
	struct pt_hdr *e = events.ringbuf_reserve(sizeof(struct pt_hdr));
	if (!e) {
		note_lost();
		return 0;
	}
	e->type = PT_FORK;
	e->pid = args->pid;
	/* CLONE_PARENT makes the child a sibling of the caller. */
	if (flags & PT_CLONE_PARENT)
		e->ppid = parent_tgid(bpf_get_current_task());
	else
		e->ppid = bpf_get_current_pid_tgid() >> 32;
	e->aux = 0;
	e->time_ns = bpf_ktime_get_boot_ns();
	e->flags = flags;
	__builtin_memcpy(e->comm, args->comm, sizeof(e->comm));
	events.ringbuf_submit(e, 0);
	return 0;
}

/*
 * Copy up to PT_MAX_ARGS user strings into a pt_exec and park it under the
 * calling thread's id. Each string is read with room for one byte more than
 * PT_ARG_LEN so a string of exactly PT_ARG_LEN bytes is not mistaken for a
 * longer, cut one.
 */
static __always_inline void stash_argv(u64 argv)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	int zero = 0;
	struct pt_exec *e = scratch.lookup(&zero);
	if (!e)
		return;

	u32 off = 0, argc = 0;
	u64 flags = 0;
	int more = 1;
#pragma unroll
	for (int i = 0; i < PT_MAX_ARGS; i++) {
		u64 p = 0;
		if (!more)
			break;
		if (bpf_probe_read_user(&p, sizeof(p), (void *)(argv + i * sizeof(u64)))) {
			flags |= PT_ARGV_FAULT;
			more = 0;
			break;
		}
		if (!p) {
			more = 0;
			break;
		}
		if (off > PT_ARGS_SIZE - (PT_ARG_LEN + 1))
			break;	/* cannot happen: each slot is <= PT_ARG_LEN + 1 */
		/* at == off; the mask is for the verifier, and the empty asm keeps
		 * clang from dropping it as redundant after the check above. */
		u64 at = off;
		asm volatile("" : "+r"(at));
		at &= PT_ARGS_MASK;
		int n = bpf_probe_read_user_str(&e->args[at], PT_ARG_LEN + 2, (void *)p);
		if (n <= 0) {
			flags |= PT_ARGV_FAULT;
			more = 0;
			break;
		}
		if (n > PT_ARG_LEN + 1) {
			flags |= PT_ARGV_LONG_ARG;
			e->args[at + PT_ARG_LEN] = 0;
			n = PT_ARG_LEN + 1;
		}
		off += n;
		argc++;
	}
	if (more) {
		u64 p = 0;
		if (bpf_probe_read_user(&p, sizeof(p), (void *)(argv + PT_MAX_ARGS * sizeof(u64))) == 0 && p)
			flags |= PT_ARGV_MORE_ARGS;
	}
	e->hdr.flags = flags;
	e->argc = argc;
	e->args_len = off;
	argvs.update(&tid, e);
}

TRACEPOINT_PROBE(syscalls, sys_enter_execve)
{
	stash_argv((u64)args->argv);
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_execveat)
{
	stash_argv((u64)args->argv);
	return 0;
}

TRACEPOINT_PROBE(sched, sched_process_exec)
{
	/* old_pid is the thread that called exec; by now it has become the
	 * group leader and current's pid is args->pid. */
	u32 old = args->old_pid;
	int zero = 0;
	struct pt_exec *e = argvs.lookup(&old);
	int stashed = e != 0;

	if (!e) {
		e = scratch.lookup(&zero);
		if (!e)
			return 0;
		e->hdr.flags = PT_ARGV_MISSING;
		e->argc = 0;
		e->args_len = 0;
	}
	e->hdr.type = PT_EXEC;
	e->hdr.pid = args->pid;
	e->hdr.ppid = parent_tgid(bpf_get_current_task());
	e->hdr.aux = old;
	e->hdr.time_ns = bpf_ktime_get_boot_ns();
	bpf_get_current_comm(&e->hdr.comm, sizeof(e->hdr.comm));
	unsigned short loc = args->data_loc_filename & 0xFFFF;
	bpf_probe_read_kernel_str(&e->filename, sizeof(e->filename), (char *)args + loc);

	u32 len = e->args_len;
	if (len > PT_ARGS_SIZE)
		len = PT_ARGS_SIZE;
	note_attempt();
	/* Only the used part of args goes out: most records are ~330 bytes. */
	if (events.ringbuf_output(e, __builtin_offsetof(struct pt_exec, args) + len, 0) != 0)
		note_lost();
	if (stashed)
		argvs.delete(&old);
	return 0;
}

TRACEPOINT_PROBE(sched, sched_process_exit)
{
	u64 id = bpf_get_current_pid_tgid();
#ifdef PT_HAS_GROUP_DEAD
	/* The last thread of the group, whichever it is: the process ended. */
	if (!args->group_dead)
		return 0;
#else
	if ((u32)id != (u32)(id >> 32))
		return 0;
#endif
	u64 task = bpf_get_current_task();
	note_attempt();
	struct pt_hdr *e = events.ringbuf_reserve(sizeof(struct pt_hdr));
	if (!e) {
		note_lost();
		return 0;
	}
	int code = 0;
	/* do_exit() stores the wait status (code << 8 | signal) before this
	 * tracepoint; for a group exit it is the group's status. */
	bpf_probe_read_kernel(&code, sizeof(code), (void *)(task + TASK_EXIT_CODE_OFF));
	e->type = PT_EXIT;
	e->pid = id >> 32;
	e->ppid = parent_tgid(task);
	e->aux = code;
	e->time_ns = bpf_ktime_get_boot_ns();
	e->flags = 0;
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	events.ringbuf_submit(e, 0);
	return 0;
}
