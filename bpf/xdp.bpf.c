// SPDX-License-Identifier: GPL-2.0
/*
 * xdp.bpf.c - packets and bytes per interface, split by L3 and L4 protocol.
 *
 * Hook: XDP, one BPF link per chosen interface (generic/SKB mode unless the
 *       user asked for native). The same loaded program serves every
 *       interface; ctx->ingress_ifindex tells them apart. Every verdict is
 *       XDP_PASS: this program only counts, it never drops or redirects.
 * Maps:
 *   counts   per-CPU array[XDP_MAX_IFACES] of struct xdp_val, slot
 *            ifindex & (XDP_MAX_IFACES - 1): CUMULATIVE since the interface
 *            was attached. User space zeroes the slot and writes its owner's
 *            ifindex into it before attaching (and refuses an attach whose
 *            slot is taken), clears it after detaching, and computes
 *            per-interval deltas itself. An array lookup is inlined by the
 *            verifier: ~5 ns per packet here, against ~12 ns for a hash.
 *   drops    per-CPU array[1]: CUMULATIVE packets not counted because their
 *            slot did not name their interface (a packet still in flight
 *            while its interface was being detached).
 */
#include "xdp.h"

BPF_PERCPU_ARRAY(counts, struct xdp_val, XDP_MAX_IFACES);
BPF_PERCPU_ARRAY(drops, u64, 1);

static __always_inline u16 load_be16(const u8 *p)
{
	return ((u16)p[0] << 8) | p[1];
}

int xdp_count(struct xdp_md *ctx)
{
	const u8 *data = (const u8 *)(long)ctx->data;
	const u8 *end = (const u8 *)(long)ctx->data_end;
	u32 ifindex = ctx->ingress_ifindex;
	u64 len = end - data;
	u32 l3 = XDP_SLOT_L3_OTHER;
	u32 l4 = XDP_NSLOTS;	/* none: not an IP packet */
	const u8 *p = data + XDP_ETH_HLEN;
	u16 proto;

	if (p > end)
		goto count;
	proto = load_be16(data + 12);
	/* Up to two VLAN tags (QinQ). */
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != XDP_ETH_P_8021Q && proto != XDP_ETH_P_8021AD)
			break;
		if (p + XDP_VLAN_HLEN > end)
			goto count;
		proto = load_be16(p + 2);
		p += XDP_VLAN_HLEN;
	}

	if (proto == XDP_ETH_P_ARP) {
		l3 = XDP_SLOT_ARP;
	} else if (proto == XDP_ETH_P_IP) {
		l3 = XDP_SLOT_IPV4;
		l4 = XDP_SLOT_L4_OTHER;
		if (p + 20 > end)
			goto count;
		/* Byte 9: protocol. Fragments after the first carry no L4 header
		 * but still name the protocol, so they count as that protocol. */
		switch (p[9]) {
		case XDP_IPPROTO_TCP: l4 = XDP_SLOT_TCP; break;
		case XDP_IPPROTO_UDP: l4 = XDP_SLOT_UDP; break;
		case XDP_IPPROTO_ICMP: l4 = XDP_SLOT_ICMP; break;
		}
	} else if (proto == XDP_ETH_P_IPV6) {
		l3 = XDP_SLOT_IPV6;
		l4 = XDP_SLOT_L4_OTHER;
		if (p + XDP_IPV6_HLEN > end)
			goto count;
		/* Byte 6: next header; extension headers count as other. */
		switch (p[6]) {
		case XDP_IPPROTO_TCP: l4 = XDP_SLOT_TCP; break;
		case XDP_IPPROTO_UDP: l4 = XDP_SLOT_UDP; break;
		case XDP_IPPROTO_ICMPV6: l4 = XDP_SLOT_ICMPV6; break;
		}
	}

count:;
	/* Per-CPU value: plain increments are race-free on this CPU. */
	u32 slot = ifindex & (XDP_MAX_IFACES - 1);
	struct xdp_val *val = counts.lookup(&slot);
	if (!val || val->ifindex != ifindex) {
		int zero = 0;
		u64 *d = drops.lookup(&zero);
		if (d)
			(*d)++;
		return XDP_PASS;
	}
	if (l3 < XDP_NSLOTS) {
		val->packets[l3]++;
		val->bytes[l3] += len;
	}
	if (l4 < XDP_NSLOTS) {
		val->packets[l4]++;
		val->bytes[l4] += len;
	}
	return XDP_PASS;
}
