// SPDX-License-Identifier: GPL-2.0
/*
 * syscalls.bpf.c - syscall counts per process and syscall number.
 *
 * Hook: raw tracepoint sys_enter, the cheapest syscall hook on this kernel
 *       (no argument copying, unlike syscalls:sys_enter_*); args[1] is the id.
 * Maps:
 *   counts       per-CPU hash {tgid, nr} -> {count, comm}: PER INTERVAL.
 *                User space empties it with lookup-and-delete batch every
 *                interval, so each read is an exact delta and the map only
 *                holds keys seen since the last read.
 *   drops        per-CPU array[1]: CUMULATIVE events not counted because
 *                counts was full (SC_MAX_ENTRIES keys in one interval).
 *   filter_on    array[1]: non-zero when the PID filter is active.
 *   filter_pids  hash tgid -> 1: PIDs to keep while the filter is active.
 */
#include "ebpftop.h"

BPF_PERCPU_HASH(counts, struct sc_key, struct sc_val, SC_MAX_ENTRIES);
BPF_PERCPU_ARRAY(drops, u64, 1);
BPF_ARRAY(filter_on, u32, 1);
BPF_HASH(filter_pids, u32, u8, FILTER_MAX_PIDS);

RAW_TRACEPOINT_PROBE(sys_enter)
{
	struct sc_key key = {
		.tgid = bpf_get_current_pid_tgid() >> 32,
		.nr = (u32)ctx->args[1],
	};
	int zero = 0;

	u32 *on = filter_on.lookup(&zero);
	if (on && *on && !filter_pids.lookup(&key.tgid))
		return 0;

	/* Per-CPU value: a plain increment is race-free on this CPU. */
	struct sc_val *val = counts.lookup(&key);
	if (val) {
		val->count++;
		return 0;
	}

	/*
	 * First event of this key in this interval: take comm now, so a
	 * process that exits before the read still has its name. An update
	 * from a program only writes this CPU's slot, so a racing insert on
	 * another CPU cannot clobber its count. (bcc's .increment() is not
	 * used: on per-CPU hashes it never creates the key on this kernel.)
	 */
	struct sc_val init = { .count = 1 };
	bpf_get_current_comm(&init.comm, sizeof(init.comm));
	if (counts.update(&key, &init) != 0) {
		u64 *d = drops.lookup(&zero);
		if (d)
			(*d)++;
	}
	return 0;
}
