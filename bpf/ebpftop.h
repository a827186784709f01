/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ebpftop.h - structs and limits shared by every ebpftop BPF program and
 * mirrored (field for field) by the struct formats in ebpftop/probes/.
 *
 * Only tracepoint arguments and helpers are used: the kernel headers bcc
 * compiles against may belong to another kernel version (see DESIGN.md), so
 * no program here reads a kernel struct through a header layout.
 *
 * Every limit can be overridden with -DNAME=value from the loader.
 */
#ifndef EBPFTOP_H
#define EBPFTOP_H

#define EBPFTOP_COMM_LEN 16

#ifndef FILTER_MAX_PIDS
#define FILTER_MAX_PIDS 1024
#endif

/*
 * Live PID filter, the same two maps in every per-process program (bcc only
 * rewrites map calls written in the main file, so each program declares them
 * itself):
 *   filter_on[0]    non-zero while a filter is set (array lookups are inlined
 *                   by the verifier, so the unfiltered path costs ~1 ns);
 *                   syscalls.bpf.c uses bit 0 of it and keeps its epoch in
 *                   bit 1 (SyscallsProbe writes the word itself);
 *   filter_pids     tgid -> 1 for every PID the user asked for.
 */

/* ---- syscalls.bpf.c ---------------------------------------------------- */
#ifndef SC_MAX_ENTRIES
#define SC_MAX_ENTRIES 65536
#endif

struct sc_key {
	u32 tgid;
	u32 nr;		/* syscall number, from sys_enter's id argument */
};

struct sc_val {
	u64 count;
	char comm[EBPFTOP_COMM_LEN];	/* comm when the key was created */
};

/* syscalls.bpf.c's filter_on[0] is a control word (see there). */
#define SC_CTL_FILTER	1u
#define SC_CTL_EPOCH	2u

/*
 * The per-CPU direct-mapped cache in front of the counts hashes: 2 halves
 * (one per epoch) of 2^SC_CACHE_BITS slots. A key's slot in a half is a
 * multiplicative hash of {tgid, nr}; the first key to reach an empty slot
 * in an interval owns it until user space zeroes the half.
 */
#ifndef SC_CACHE_BITS
#define SC_CACHE_BITS 12
#endif
#define SC_CACHE_SLOTS (1u << SC_CACHE_BITS)

struct sc_slot {
	u64 tag;	/* (u64)tgid << 32 | nr; 0 while the slot is empty */
	u64 count;
	char comm[EBPFTOP_COMM_LEN];	/* comm when the slot was claimed */
};

#endif /* EBPFTOP_H */
