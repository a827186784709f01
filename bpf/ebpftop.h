/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ebpftop.h - structs and limits shared by every ebpftop BPF program and
 * mirrored (field for field) by the struct formats in ebpftop/probes/.
 *
 * Only tracepoint arguments and helpers are used: the kernel headers bcc
 * compiles against may belong to another kernel version (see DESIGN.md), so
 * no program here reads a kernel struct through a header layout.
 *
 * The C/Python contract: every constant both sides use (sizes, flags,
 * slots, string lengths) is defined once, in Python, and passed with -D;
 * a header only checks that it was (#error otherwise). Layouts are checked
 * at load: Probe.layouts() against the compiled maps' key/value sizes, and
 * ring-buffer records by static asserts on sizes passed the same way.
 */
#ifndef EBPFTOP_H
#define EBPFTOP_H

/* ebpftop/probes/base.py: Probe.filter_cflags() passes these for every program. */
#if !defined(EBPFTOP_COMM_LEN) || !defined(FILTER_ON) || !defined(FILTER_NAMES) || \
	!defined(EBPFTOP_CTL_EPOCH) || !defined(FILTER_MAX_PIDS) || !defined(FILTER_MAX_NAMES) || \
	!defined(FILTER_CGROUP) || !defined(FILTER_MAX_CGROUPS) || !defined(FILTER_CGROUP_DEPTH)
#error "EBPFTOP_COMM_LEN, FILTER_ON, FILTER_NAMES, FILTER_CGROUP, EBPFTOP_CTL_EPOCH, FILTER_MAX_PIDS, FILTER_MAX_NAMES, FILTER_MAX_CGROUPS and FILTER_CGROUP_DEPTH must be passed with -D"
#endif

/*
 * Live process filter, the same maps in every per-process program (bcc only
 * rewrites map calls written in the main file, so each program declares them
 * itself and hands what it looked up to the helpers below):
 *   filter_on[0]    the control word, written only by user space (Probe
 *                   in ebpftop/probes/base.py): FILTER_ON while a filter
 *                   is set (array lookups are inlined by the verifier, so
 *                   the unfiltered path costs ~1 ns), FILTER_NAMES too
 *                   while a name filter is live, EBPFTOP_CTL_EPOCH the
 *                   half of a double-buffered map programs write now
 *                   (ebpftop_epoch());
 *   filter_pids     tgid -> start of the process meant (its group leader's
 *                   start_boottime in clock ticks, as /proc/PID/stat's
 *                   field 22 gives it): a process is (PID, start), so a new
 *                   process that gets a filtered PID is not in the filter;
 *   filter_names    comm -> 1, the live name filter: a process that takes
 *                   one of these names (exec, prctl PR_SET_NAME) joins
 *                   filter_pids at that moment, in the kernel (task_rename).
 *   filter_cgroups  cgroup v2 id -> 1, the cgroup filter (FILTER_CGROUP in
 *                   the control word): an event is kept when its task's
 *                   cgroup or one of its ancestors is in the map, so a
 *                   nested group counts under its parent, and one made after
 *                   the filter was set too. Checked first; with a PID filter
 *                   as well, an event is kept when either keeps it (the
 *                   items of one filter are alternatives, as PIDs are).
 * Capacity: FILTER_MAX_PIDS processes, FILTER_MAX_NAMES names,
 * FILTER_MAX_CGROUPS cgroups; user space refuses a bigger filter; a join by
 * name past the limit is not recorded. Ancestors are looked up to
 * FILTER_CGROUP_DEPTH levels below the root.
 */

/* The loader passes these for every program (Probe.filter_cflags), or
 * EBPFTOP_NO_START when the kernel's BTF lacks them: then a process is its
 * PID alone (start 0 on both sides). */
#if !defined(EBPFTOP_NO_START) && (!defined(EBPFTOP_OFF_TASK_GROUP_LEADER) || \
	!defined(EBPFTOP_OFF_TASK_START_BOOTTIME) || !defined(EBPFTOP_TICK_NS))
#error "EBPFTOP_OFF_TASK_GROUP_LEADER, EBPFTOP_OFF_TASK_START_BOOTTIME (BTF) and EBPFTOP_TICK_NS, or EBPFTOP_NO_START, are required"
#endif

struct filter_name {
	char comm[EBPFTOP_COMM_LEN];	/* NUL-padded */
};

/* A task's process start: task->group_leader->start_boottime in clock ticks,
 * the unit /proc/PID/stat gives user space, so both sides name a process the
 * same way. */
static __always_inline u64 ebpftop_task_start(void *task)
{
#ifdef EBPFTOP_NO_START
	return 0;
#else
	void *leader = NULL;
	u64 ns = 0;

	bpf_probe_read_kernel(&leader, sizeof(leader), task + EBPFTOP_OFF_TASK_GROUP_LEADER);
	if (leader)
		bpf_probe_read_kernel(&ns, sizeof(ns), leader + EBPFTOP_OFF_TASK_START_BOOTTIME);
	return ns / EBPFTOP_TICK_NS;
#endif
}

/*
 * The process's name: its group leader's comm, the one /proc/PID/comm, the
 * name filter (filter_rename_key) and the Tree go by. bpf_get_current_comm()
 * gives the calling thread's own name, which a thread sets for itself
 * (prctl PR_SET_NAME: "worker", "gmain"): a process's row must not be named
 * after whichever thread made its first event. The kernel keeps comm
 * NUL-padded (strscpy_pad), so 16 raw bytes are what the helper would give.
 */
static __always_inline void ebpftop_process_comm(char *comm)
{
#if !defined(EBPFTOP_NO_START) && defined(EBPFTOP_OFF_TASK_COMM)
	void *leader = NULL;

	bpf_probe_read_kernel(&leader, sizeof(leader),
			      (void *)bpf_get_current_task() + EBPFTOP_OFF_TASK_GROUP_LEADER);
	if (leader && bpf_probe_read_kernel(comm, EBPFTOP_COMM_LEN, leader + EBPFTOP_OFF_TASK_COMM) == 0)
		return;
#endif
	bpf_get_current_comm(comm, EBPFTOP_COMM_LEN);
}

/* filter_pids value. */
struct filter_proc {
	u64 start;	/* ebpftop_task_start() of the process meant */
	u64 seen;	/* 1 once an event of that very process matched start */
};

/*
 * THE filter check of every per-process program. ctl: filter_on[0] as read;
 * want: filter_pids.lookup(&tgid), which the caller makes only when
 * ctl & FILTER_ON (so the unfiltered hot path is one inlined array load).
 * Keep: no filter, or the PID is in it and it is the same process.
 *
 * The start is read (two kernel reads and a division, ~110 ns here) only
 * until one event of the process matched it; from then on `seen` vouches
 * for it, because the entry goes when that process ends (filter_forget(),
 * at sched_process_exit of the whole group), before its PID can be given
 * to anyone else. Without group_dead (EBPFTOP_NO_GROUP_DEAD) the start is
 * compared on every event.
 */
static __always_inline int filter_keeps(u32 ctl, struct filter_proc *want)
{
	if (!(ctl & FILTER_ON))
		return 1;
	if (!want)
		return 0;
#ifndef EBPFTOP_NO_GROUP_DEAD
	if (want->seen)
		return 1;
#endif
	if (want->start != ebpftop_task_start((void *)bpf_get_current_task()))
		return 0;
	want->seen = 1;
	return 1;
}

/*
 * The cgroup v2 id recorded with an event. EBPFTOP_NO_CGROUP (the bench's
 * "cgroup column off" variant, EBPFTOP_NO_CGROUP=1 in the environment) records
 * 0, so the cost of recording is measured side by side with not recording.
 */
#ifdef EBPFTOP_NO_CGROUP
#define EBPFTOP_CGROUP_ID() 0ULL
#else
#define EBPFTOP_CGROUP_ID() bpf_get_current_cgroup_id()
#endif

/*
 * The cgroup filter, for the main file of a program (bcc rewrites map calls
 * only there, so each program writes the loop itself, as syscalls.bpf.c's
 * sc_cgroup_keeps() does): keep when an ancestor id at some level in
 * 1..FILTER_CGROUP_DEPTH is in filter_cgroups.
 * bpf_get_current_ancestor_cgroup_id(level) is the current task's ancestor
 * at that depth (the root is level 0; the task's own cgroup is its own
 * depth), 0 past the task's depth: the loop ends there.
 */

/*
 * The double buffer of a per-interval map: programs count into half
 * ebpftop_epoch(ctl) (ctl: filter_on.lookup(&0)); each read, user space
 * flips the bit (Probe.flip_epoch), waits an RCU grace period
 * (membarrier: every program that read the old epoch has returned, they
 * run inside rcu_read_lock) and only then reads and empties the old half.
 * Draining the half being written lost increments that landed between a
 * batch's copy and delete of a key (measured: ~10 of 13 M reads over 30
 * drains), uncounted and unreported.
 */
static __always_inline u32 ebpftop_epoch(u32 *ctl)
{
	return ctl && (*ctl & EBPFTOP_CTL_EPOCH) ? 1 : 0;
}

/*
 * sched:sched_process_exit's group_dead: 1 when the last thread of a
 * process exits. Kernels without the field (EBPFTOP_NO_GROUP_DEAD) give 0:
 * then no entry is forgotten and filter_keeps() compares starts instead.
 */
#ifdef EBPFTOP_NO_GROUP_DEAD
#define EBPFTOP_GROUP_DEAD(args) 0
#else
#define EBPFTOP_GROUP_DEAD(args) ((args)->group_dead)
#endif

/*
 * filter_forget(): at sched_process_exit of a whole process (group_dead),
 * 1 when its filter_pids entry must go (a filter is set); *tgid is the key.
 * ctl: filter_on.lookup(&0), made by the caller (bcc rewrites map calls in
 * the main file only), only when group_dead.
 */
static __always_inline int filter_forget(u32 *ctl, u32 *tgid)
{
	if (!ctl || !(*ctl & FILTER_ON))
		return 0;
	*tgid = bpf_get_current_pid_tgid() >> 32;
	return 1;
}

/*
 * The live name filter, for a task:task_rename program: 1 when the renamed
 * task is its process's leader (a thread's name is not the process's) and a
 * name filter is live; then *name holds the new name, NUL-padded, for a
 * filter_names lookup.
 */
static __always_inline int filter_rename_key(u32 ctl, int pid, const char *newcomm, struct filter_name *name)
{
	if (!(ctl & FILTER_NAMES) || (u32)pid != (u32)(bpf_get_current_pid_tgid() >> 32))
		return 0;
	bpf_probe_read_kernel_str(name->comm, sizeof(name->comm), newcomm);
	return 1;
}

/* ---- syscalls.bpf.c (which checks SC_MAX_ENTRIES and SC_CACHE_BITS were
 * passed) ------------------------------------------------------------------ */

struct sc_key {
	u32 tgid;
	u32 nr;		/* syscall number, from sys_enter's id argument */
};

struct sc_val {
	u64 count;
	char comm[EBPFTOP_COMM_LEN];	/* comm when the key was created */
	u64 cgroup;	/* cgroup v2 id of the task that created the key */
};

#ifndef SC_MAX_NAMES
#define SC_MAX_NAMES 16384
#endif

/*
 * The per-CPU direct-mapped cache in front of the counts hashes: 2 halves
 * (one per epoch) of 2^SC_CACHE_BITS slots. A key's slot in a half is a
 * multiplicative hash of {tgid, nr}; the first key to reach an empty slot
 * in an interval owns it until user space zeroes the half.
 */
#define SC_CACHE_SLOTS (1u << SC_CACHE_BITS)

struct sc_slot {
	u64 tag;	/* (u64)tgid << 32 | nr; 0 while the slot is empty */
	u64 count;
	char comm[EBPFTOP_COMM_LEN];	/* comm when the slot was claimed */
	u64 cgroup;	/* cgroup v2 id of the task that claimed the slot */
};

#endif /* EBPFTOP_H */
