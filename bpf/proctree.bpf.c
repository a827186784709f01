// SPDX-License-Identifier: GPL-2.0
/*
 * proctree.bpf.c - every process start, exec and end, for the fork/exec tree.
 *
 * Hooks (tracepoints only: no kprobes or fentry on this kernel):
 *   task_newtask (raw)           a new task; CLONE_THREAD ones are threads
 *                                and are skipped, the rest are processes.
 *                                Raw, for the new task itself: its start
 *                                (the process's identity with its PID).
 *   task:task_rename             a process's leader took a new name (exec,
 *                                prctl PR_SET_NAME, /proc/PID/comm), so the
 *                                tree names a process as it is now.
 *   sched:sched_process_exec     a successful exec (execve and execveat
 *                                alike): filename, and argv read from the new
 *                                program's argument area (mm->arg_start..end),
 *                                which nothing in user space has run over yet.
 *   sched:sched_process_exit     the end of a whole thread group (group_dead,
 *                                or pid == tgid on kernels without that arg)
 *                                with task_struct.exit_code.
 *
 * Why not syscalls:sys_enter_execve/execveat for argv: enabling any syscall
 * tracepoint puts every task's every syscall on the slow tracing path;
 * measured here it made a fork+exec loop ~9% slower (target: 2%). The
 * argument area at sched_process_exec holds the same strings, exact, read
 * with one bpf_probe_read_user and no per-thread stash.
 *
 * Maps:
 *   events    ring buffer of pt_hdr / pt_exec records: drained by user space
 *             every interval (each record is delivered exactly once).
 *   lost      per-CPU array[1]: CUMULATIVE records that could not be put in
 *             the ring buffer (full).
 *   scratch   per-CPU array[1]: a pt_exec, too big for the 512-byte stack.
 *   attempts  per-CPU array[1] (only with -DPT_SELFCHECK): CUMULATIVE records
 *             tried, so tests can prove delivered + lost == attempts.
 *
 * Kernel struct fields (task_struct exit_code, real_parent, tgid, comm, mm,
 * group_leader, start_boottime, cgroups, thread_pid; mm_struct arg_start,
 * arg_end; css_set dfl_cgrp; cgroup kn; kernfs_node id; pid level, numbers;
 * upid nr and its size) are read only at offsets taken from the
 * running kernel's BTF by the loader and passed as -DTASK_*_OFF / -DMM_*_OFF,
 * never through the (other-version) headers bcc sees.
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
#ifndef TASK_COMM_OFF
#error "TASK_COMM_OFF (task_struct.comm from BTF) is required"
#endif
#if !defined(TASK_MM_OFF) || !defined(MM_ARG_START_OFF) || !defined(MM_ARG_END_OFF)
#error "TASK_MM_OFF, MM_ARG_START_OFF and MM_ARG_END_OFF (from BTF) are required"
#endif
/* Where a process lives (where()): offsets from BTF, or PT_NO_CGROUP_CHAIN / PT_NO_NS_PID when BTF lacks them. */
#if !defined(PT_NO_CGROUP_CHAIN) && (!defined(TASK_CGROUPS_OFF) || !defined(CSS_SET_DFL_CGRP_OFF) || \
	!defined(CGROUP_KN_OFF) || !defined(KERNFS_NODE_ID_OFF))
#error "TASK_CGROUPS_OFF, CSS_SET_DFL_CGRP_OFF, CGROUP_KN_OFF and KERNFS_NODE_ID_OFF, or PT_NO_CGROUP_CHAIN, are required"
#endif
#if !defined(PT_NO_NS_PID) && (!defined(TASK_GROUP_LEADER_OFF) || !defined(TASK_THREAD_PID_OFF) || \
	!defined(PID_LEVEL_OFF) || !defined(PID_NUMBERS_OFF) || !defined(UPID_SIZE) || !defined(UPID_NR_OFF))
#error "TASK_GROUP_LEADER_OFF, TASK_THREAD_PID_OFF, PID_LEVEL_OFF, PID_NUMBERS_OFF, UPID_SIZE and UPID_NR_OFF, or PT_NO_NS_PID, are required"
#endif

#define PT_CLONE_PARENT 0x00008000ULL
#define PT_CLONE_THREAD 0x00010000ULL

BPF_RINGBUF_OUTPUT(events, PT_RINGBUF_PAGES);
BPF_PERCPU_ARRAY(lost, u64, 1);
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

/*
 * Where a process lives: its cgroup v2 id and its PID in its own PID
 * namespace, read from its group leader (the process, whichever thread the
 * event came from): leader->thread_pid->numbers[level].nr. For the current
 * task the cgroup is bpf_get_current_cgroup_id(); for a new child (fork) it
 * is read through task->cgroups->dfl_cgrp->kn->id, since clone3
 * CLONE_INTO_CGROUP can start it in another group than its parent's.
 */
static __always_inline void where(u64 task, struct pt_hdr *e, int child)
{
	u64 leader = 0, pid = 0;
	u32 level = 0;
	s32 nr = 0;

	e->cgroup = child ? 0 : EBPFTOP_CGROUP_ID();
#if !defined(PT_NO_CGROUP_CHAIN) && !defined(EBPFTOP_NO_CGROUP)
	if (child) {
		u64 cset = 0, cgrp = 0, kn = 0, id = 0;
		bpf_probe_read_kernel(&cset, sizeof(cset), (void *)(task + TASK_CGROUPS_OFF));
		if (cset)
			bpf_probe_read_kernel(&cgrp, sizeof(cgrp), (void *)(cset + CSS_SET_DFL_CGRP_OFF));
		if (cgrp)
			bpf_probe_read_kernel(&kn, sizeof(kn), (void *)(cgrp + CGROUP_KN_OFF));
		if (kn)
			bpf_probe_read_kernel(&id, sizeof(id), (void *)(kn + KERNFS_NODE_ID_OFF));
		e->cgroup = id;
	}
#endif
#ifndef PT_NO_NS_PID
	bpf_probe_read_kernel(&leader, sizeof(leader), (void *)(task + TASK_GROUP_LEADER_OFF));
	if (leader)
		bpf_probe_read_kernel(&pid, sizeof(pid), (void *)(leader + TASK_THREAD_PID_OFF));
	if (pid) {
		bpf_probe_read_kernel(&level, sizeof(level), (void *)(pid + PID_LEVEL_OFF));
		if (level < 64)
			bpf_probe_read_kernel(&nr, sizeof(nr),
					      (void *)(pid + PID_NUMBERS_OFF + (u64)level * UPID_SIZE + UPID_NR_OFF));
	}
#endif
	e->ns_pid = nr;
	e->ns_level = level;
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

RAW_TRACEPOINT_PROBE(task_newtask)
{
	/* TP_PROTO(struct task_struct *task, u64 clone_flags) */
	void *task = (void *)ctx->args[0];
	u64 flags = ctx->args[1];

	if (flags & PT_CLONE_THREAD)
		return 0;	/* a thread of an existing process: not a node */

	note_attempt();
	struct pt_hdr *e = events.ringbuf_reserve(sizeof(struct pt_hdr));
	if (!e) {
		note_lost();
		return 0;
	}
	e->type = PT_FORK;
	e->pid = 0;
	bpf_probe_read_kernel(&e->pid, sizeof(e->pid), task + TASK_TGID_OFF);
	/* CLONE_PARENT makes the child a sibling of the caller. */
	if (flags & PT_CLONE_PARENT)
		e->ppid = parent_tgid(bpf_get_current_task());
	else
		e->ppid = bpf_get_current_pid_tgid() >> 32;
	e->aux = 0;
	e->time_ns = bpf_ktime_get_boot_ns();
	e->flags = flags;
	e->start = ebpftop_task_start(task);
	bpf_probe_read_kernel(e->comm, sizeof(e->comm), task + TASK_COMM_OFF);
	where((u64)task, e, 1);
	events.ringbuf_submit(e, 0);
	return 0;
}

TRACEPOINT_PROBE(task, task_rename)
{
	u64 id = bpf_get_current_pid_tgid();
	if ((u32)args->pid != (u32)(id >> 32))
		return 0;	/* a thread's name, not the process's */
	note_attempt();
	struct pt_hdr *e = events.ringbuf_reserve(sizeof(struct pt_hdr));
	if (!e) {
		note_lost();
		return 0;
	}
	u64 task = bpf_get_current_task();
	e->type = PT_RENAME;
	e->pid = id >> 32;
	e->ppid = parent_tgid(task);
	e->aux = 0;
	e->time_ns = bpf_ktime_get_boot_ns();
	e->flags = 0;
	e->start = ebpftop_task_start((void *)task);
	__builtin_memset(e->comm, 0, sizeof(e->comm));
	bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), args->newcomm);
	where(task, e, 0);
	events.ringbuf_submit(e, 0);
	return 0;
}

TRACEPOINT_PROBE(sched, sched_process_exec)
{
	int zero = 0;
	struct pt_exec *e = scratch.lookup(&zero);
	if (!e)
		return 0;

	u64 task = bpf_get_current_task();
	e->hdr.type = PT_EXEC;
	e->hdr.pid = args->pid;
	e->hdr.ppid = parent_tgid(task);
	e->hdr.aux = args->old_pid;	/* the thread that called exec */
	e->hdr.time_ns = bpf_ktime_get_boot_ns();
	e->hdr.flags = 0;
	e->hdr.start = ebpftop_task_start((void *)task);
	bpf_get_current_comm(&e->hdr.comm, sizeof(e->hdr.comm));
	where(task, &e->hdr, 0);
	unsigned short loc = args->data_loc_filename & 0xFFFF;
	bpf_probe_read_kernel_str(&e->filename, sizeof(e->filename), (char *)args + loc);

	/* The new program's argument strings, laid out by the kernel. */
	u64 mm = 0, start = 0, end = 0;
	bpf_probe_read_kernel(&mm, sizeof(mm), (void *)(task + TASK_MM_OFF));
	if (mm) {
		bpf_probe_read_kernel(&start, sizeof(start), (void *)(mm + MM_ARG_START_OFF));
		bpf_probe_read_kernel(&end, sizeof(end), (void *)(mm + MM_ARG_END_OFF));
	}
	u64 total = end > start ? end - start : 0;
	u32 n = total > PT_ARGV_AREA ? PT_ARGV_AREA : total;
	/* Keep clang from folding the bound into a form the verifier cannot
	 * follow; the mask is a no-op after the clamp above. */
	asm volatile("" : "+r"(n));
	n &= PT_ARGV_AREA - 1 + PT_ARGV_AREA;
	if (n > PT_ARGV_AREA)
		n = PT_ARGV_AREA;
	e->args_total = total > 0xffffffffULL ? 0xffffffff : total;
	e->args_len = 0;
	if (n && bpf_probe_read_user(e->args, n, (void *)start) == 0)
		e->args_len = n;
	else if (n)
		e->hdr.flags |= PT_ARGV_FAULT;

	u32 len = e->args_len;
	asm volatile("" : "+r"(len));
	len &= PT_ARGV_AREA - 1 + PT_ARGV_AREA;
	if (len > PT_ARGV_AREA)
		len = PT_ARGV_AREA;
	note_attempt();
	/* Only the used part of args goes out: most records are ~330 bytes. */
	if (events.ringbuf_output(e, __builtin_offsetof(struct pt_exec, args) + len, 0) != 0)
		note_lost();
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
	e->start = ebpftop_task_start((void *)task);
	ebpftop_process_comm(e->comm);
	where(task, e, 0);
	events.ringbuf_submit(e, 0);
	return 0;
}
