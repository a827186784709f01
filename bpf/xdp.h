/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xdp.h - the counter layout shared by bpf/xdp.bpf.c and
 * ebpftop/probes/xdp.py (struct format "<II18Q": ifindex, pad, packets[9], bytes[9]);
 * the slot numbers come from the probe with -D.
 *
 * Packet headers are read at fixed wire-format offsets (they are a network
 * ABI, not kernel structs), so no kernel header layout is involved.
 */
#ifndef EBPFTOP_XDP_H
#define EBPFTOP_XDP_H

#include "ebpftop.h"

/* Counter slots: a power of two; an interface's slot is ifindex & (N - 1). */
#ifndef XDP_MAX_IFACES
#error "XDP_MAX_IFACES must be passed with -D (ebpftop/probes/xdp.py MAX_IFACES)"
#endif
#if (XDP_MAX_IFACES & (XDP_MAX_IFACES - 1)) != 0
#error "XDP_MAX_IFACES must be a power of two"
#endif

/* Slots of one interface's counters: L3 first, then L4 (IP packets only).
 * Numbered by ebpftop/probes/xdp.py (SLOTS), which decodes them. */
#if !defined(XDP_NSLOTS) || !defined(XDP_SLOT_IPV4) || !defined(XDP_SLOT_IPV6) || \
	!defined(XDP_SLOT_ARP) || !defined(XDP_SLOT_L3_OTHER) || !defined(XDP_SLOT_TCP) || \
	!defined(XDP_SLOT_UDP) || !defined(XDP_SLOT_ICMP) || !defined(XDP_SLOT_ICMPV6) || \
	!defined(XDP_SLOT_L4_OTHER)
#error "XDP_NSLOTS and every XDP_SLOT_* must be passed with -D (ebpftop/probes/xdp.py SLOTS)"
#endif

struct xdp_val {
	u32 ifindex;	/* owner of this slot, written by user space; 0: free */
	u32 pad;
	u64 packets[XDP_NSLOTS];
	u64 bytes[XDP_NSLOTS];
};

/* Wire format: Ethernet II, 802.1Q/802.1ad, IPv4, IPv6. */
#define XDP_ETH_HLEN	14
#define XDP_VLAN_HLEN	4
#define XDP_ETH_P_IP	0x0800
#define XDP_ETH_P_IPV6	0x86DD
#define XDP_ETH_P_ARP	0x0806
#define XDP_ETH_P_8021Q	0x8100
#define XDP_ETH_P_8021AD 0x88A8
#define XDP_IPV6_HLEN	40
#define XDP_IPPROTO_ICMP   1
#define XDP_IPPROTO_TCP    6
#define XDP_IPPROTO_UDP    17
#define XDP_IPPROTO_ICMPV6 58

#endif /* EBPFTOP_XDP_H */
