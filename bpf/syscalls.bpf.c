// SPDX-License-Identifier: GPL-2.0
/*
 * syscalls.bpf.c - syscall counts per process and syscall number.
 *
 * Hook: raw tracepoint sys_enter, the cheapest syscall hook on this kernel
 *       (no argument copying, unlike syscalls:sys_enter_*); args[1] is the id.
 *
 * Counting is double-buffered by the epoch of ebpftop.h (ebpftop_epoch())
 * so that user space reads a half nobody writes: each interval it flips the
 * epoch bit, waits for every program that read the old epoch to finish
 * (membarrier(MEMBARRIER_CMD_GLOBAL), an RCU grace period; BPF on sys_enter
 * runs inside one), then reads and empties the old half. Every event is counted exactly once: in its cache
 * slot, else in its hash, else in drops.
 *
 * Maps:
 *   cache        per-CPU array[2 * SC_CACHE_SLOTS] of struct sc_slot, half
 *                e = epoch: PER INTERVAL (user space zeroes the slots it
 *                read). The hot path: a hit is an inlined array lookup, a
 *                compare and an increment (~3 ns here, against ~7 ns for the
 *                hash lookup it saves). A slot taken by another key in this
 *                interval sends the event on to the hash.
 *   counts0/1    per-CPU hash {tgid, nr} -> {count, comm, cgroup}, one per epoch:
 *                PER INTERVAL (drained with lookup-and-delete batch once its
 *                epoch is over, so nothing races the drain).
 *   drops        per-CPU array[1]: CUMULATIVE events not counted because the
 *                hash was full (SC_MAX_ENTRIES keys in one interval).
 *   filter_on    array[1]: this program's control word, written only by
 *                user space: FILTER_ON (bit 0) while the process filter is
 *                active, FILTER_NAMES (bit 2) while a name filter is live,
 *                EBPFTOP_CTL_EPOCH (bit 1) the half programs write now. One
 *                inlined lookup serves all (~0.4 ns less than two).
 *   filter_pids  hash tgid -> struct filter_proc (see ebpftop.h): the
 *                processes to keep while the filter is active; task_rename
 *                adds the ones that take a filtered name, sched_process_exit
 *                removes a process that ended.
 *   filter_names hash comm -> 1: the live name filter (see ebpftop.h).
 *   filter_cgroups hash cgroup id -> 1: the cgroup filter (FILTER_CGROUP,
 *                see ebpftop.h), descendants included.
 *   names        LRU hash tgid -> comm: CUMULATIVE, the name a process took
 *                at its last rename (exec, prctl PR_SET_NAME, a write to
 *                /proc/PID/comm), so a row is named as the process is now,
 *                not as it was when its first count of the interval was
 *                made; a new process (task_newtask) starts with no entry,
 *                so a reused PID never shows its predecessor's name.
 *
 * Hooks besides sys_enter: task:task_rename (names, filter joins),
 * task:task_newtask (forget a reused PID's name) and sched:sched_process_exit
 * (a filtered process ended); each fires per process event, not per syscall.
 */
#include "ebpftop.h"

/* ebpftop/probes/syscalls.py: SyscallsProbe.cflags() passes these. */
#if !defined(SC_MAX_ENTRIES) || !defined(SC_CACHE_BITS)
#error "SC_MAX_ENTRIES and SC_CACHE_BITS must be passed with -D"
#endif

BPF_PERCPU_ARRAY(cache, struct sc_slot, 2 * SC_CACHE_SLOTS);
BPF_PERCPU_HASH(counts0, struct sc_key, struct sc_val, SC_MAX_ENTRIES);
BPF_PERCPU_HASH(counts1, struct sc_key, struct sc_val, SC_MAX_ENTRIES);
BPF_PERCPU_ARRAY(drops, u64, 1);
BPF_ARRAY(filter_on, u32, 1);
BPF_F_TABLE("hash", u32, struct filter_proc, filter_pids, FILTER_MAX_PIDS, BPF_F_NO_PREALLOC);
BPF_F_TABLE("hash", struct filter_name, u8, filter_names, FILTER_MAX_NAMES, BPF_F_NO_PREALLOC);
BPF_F_TABLE("hash", u64, u8, filter_cgroups, FILTER_MAX_CGROUPS, BPF_F_NO_PREALLOC);
BPF_TABLE("lru_hash", u32, struct filter_name, names, SC_MAX_NAMES);

/* The cgroup filter (see ebpftop.h): the task's cgroup or an ancestor is in filter_cgroups. */
static __always_inline int sc_cgroup_keeps(void)
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

RAW_TRACEPOINT_PROBE(sys_enter)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tgid = id >> 32;
	u32 nr = (u32)ctx->args[1];
	int zero = 0;

	u32 *ctl = filter_on.lookup(&zero);
	if (!ctl)
		return 0;	/* cannot happen: array index 0 */
	u32 c = *ctl;
	if (c & (FILTER_ON | FILTER_CGROUP)) {
		/* Either filter keeps it: cgroups first, one loop of lookups. */
		if (!((c & FILTER_CGROUP) && sc_cgroup_keeps()) &&
		    !((c & FILTER_ON) && filter_keeps(c, filter_pids.lookup(&tgid))))
			return 0;
	}
	u32 e = ebpftop_epoch(ctl);

	/*
	 * The tag is built in registers: loading it as one u64 from a key the
	 * program stored as two u32s stalls store forwarding (~3 ns here).
	 * Slot: the top SC_CACHE_BITS of a 32-bit multiplicative hash.
	 */
	u64 tag = (id & 0xffffffff00000000ULL) | nr;
	u32 h = (tgid ^ (nr << 16)) * 0x9E3779B1u;
	u32 idx = (h >> (32 - SC_CACHE_BITS)) + (e << SC_CACHE_BITS);
	struct sc_slot *s = cache.lookup(&idx);
	if (!s)
		return 0;	/* cannot happen: idx < 2 * SC_CACHE_SLOTS */
	/* Per-CPU value: plain increments are race-free on this CPU. */
	if (s->tag == tag) {
		s->count++;
		return 0;
	}
	if (s->count == 0) {
		/* First key here this interval: it owns the slot; take comm now,
		 * so a process that exits before the read still has its name. */
		s->tag = tag;
		s->count = 1;
		ebpftop_process_comm(s->comm);
		s->cgroup = EBPFTOP_CGROUP_ID();
		return 0;
	}

	/* The slot belongs to another key: count in this epoch's hash. */
	struct sc_key key = { .tgid = tgid, .nr = nr };
	struct sc_val *val = e ? counts1.lookup(&key) : counts0.lookup(&key);
	if (val) {
		val->count++;
		return 0;
	}
	/*
	 * First event of this key in this hash: an update from a program only
	 * writes this CPU's slot, so a racing insert on another CPU cannot
	 * clobber its count. (bcc's .increment() is not used: on per-CPU
	 * hashes it never creates the key on this kernel.)
	 */
	struct sc_val init = { .count = 1, .cgroup = EBPFTOP_CGROUP_ID() };
	ebpftop_process_comm(init.comm);
	int err = e ? counts1.update(&key, &init) : counts0.update(&key, &init);
	if (err != 0) {
		u64 *d = drops.lookup(&zero);
		if (d)
			(*d)++;
	}
	return 0;
}

TRACEPOINT_PROBE(task, task_rename)
{
	u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if ((u32)args->pid != tgid)
		return 0;	/* a thread's name, not the process's */
	struct filter_name name = {};
	bpf_probe_read_kernel_str(name.comm, sizeof(name.comm), args->newcomm);
	names.update(&tgid, &name);

	int zero = 0;
	u32 *ctl = filter_on.lookup(&zero);
	struct filter_name key = {};
	if (ctl && filter_rename_key(*ctl, args->pid, args->newcomm, &key) && filter_names.lookup(&key)) {
		struct filter_proc me = { .start = ebpftop_task_start((void *)bpf_get_current_task()), .seen = 1 };
		filter_pids.update(&tgid, &me);
	}
	return 0;
}

TRACEPOINT_PROBE(task, task_newtask)
{
	if (args->clone_flags & 0x00010000ULL)	/* CLONE_THREAD */
		return 0;
	u32 tgid = args->pid;
	names.delete(&tgid);
	return 0;
}

/* The filtered process ended: its entry goes before its PID can be reused (see filter_keeps). */
TRACEPOINT_PROBE(sched, sched_process_exit)
{
	int zero = 0;
	u32 tgid = 0;

	if (EBPFTOP_GROUP_DEAD(args) && filter_forget(filter_on.lookup(&zero), &tgid))
		filter_pids.delete(&tgid);
	return 0;
}
