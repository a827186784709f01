"""XDP pane model: per-interface samples (kernel counters + our XDP counters) to per-interval rows."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ebpftop.model.rates import counter_delta, rate

HISTORY = 120  # sparkline points kept per interface

# The protocols counted, in the order of IfaceSample.xdp (the probe decodes
# the kernel's counter slots into it). "other" is an L3 protocol that is none of IPv4/IPv6/ARP; "ip_other" is an
# IP packet whose L4 protocol is none of TCP/UDP/ICMP/ICMPv6.
L3_PROTOS = ("ipv4", "ipv6", "arp", "other")
L4_PROTOS = ("tcp", "udp", "icmp", "icmpv6", "ip_other")
PROTOS = L3_PROTOS + L4_PROTOS
NSLOTS = len(PROTOS)


class IfaceState(StrEnum):
    """An interface's state in the XDP pane and in --batch output (the value is the JSON string)."""

    OFF = "off"  # listed with the kernel's counters only; no XDP program of ours
    ATTACHED = "attached"  # our counter runs on it
    BUSY = "busy"  # another XDP program is attached; we leave it alone
    ERROR = "error"  # our last attach failed; reason says why
    MISSING = "missing"  # asked for by name, no such interface in this network namespace
    # Deleted while our counter ran on it: its counts since the last read, once, then the row goes.
    GONE = "gone"


OFF, ATTACHED, BUSY, ERROR, MISSING, GONE = IfaceState

GENERIC = "generic"
NATIVE = "native"
MODES = (GENERIC, NATIVE)


@dataclass(frozen=True, slots=True)
class LinkCounters:
    """The kernel's own cumulative counters of one interface (/proc/net/dev)."""

    rx_packets: int = 0
    rx_bytes: int = 0
    rx_dropped: int = 0
    tx_packets: int = 0
    tx_bytes: int = 0
    tx_dropped: int = 0


@dataclass(frozen=True, slots=True)
class IfaceSample:
    """One interface in one read of the XDP probe."""

    ifname: str  # exact (surrogate-escaped) name from the kernel
    ifindex: int  # 0 for a MISSING name
    state: IfaceState
    up: bool = False
    mode: str | None = None  # ours when ATTACHED, the other program's when BUSY
    link: LinkCounters = field(default_factory=LinkCounters)
    # Cumulative XDP counters since our attach: packets per slot, then bytes per slot.
    xdp: tuple[int, ...] | None = None
    attach_id: int = 0  # changes with every attach, so counters of a new attach start from zero
    prog_id: int = 0  # the attached XDP program (ours or the other one)
    prog_name: str = ""
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class XdpSample:
    """One read of the XDP probe."""

    ifaces: tuple[IfaceSample, ...]
    lost_total: int = 0  # cumulative packets not counted (counter map full)
    netns: int = 0  # inode of the network namespace the interfaces live in (0: unknown)


@dataclass(frozen=True, slots=True)
class ProtoStat:
    packets: int
    bytes: int


@dataclass(frozen=True, slots=True)
class XdpRow:
    """One interface in one interval; packets/bytes/pps/bps are what our XDP program counted."""

    ifname: str
    ifindex: int
    state: IfaceState
    up: bool
    mode: str | None
    packets: int
    bytes: int
    pps: float
    bps: float  # bytes per second
    by_proto: dict[str, ProtoStat]
    rx_pps: float
    rx_bps: float
    tx_pps: float
    tx_bps: float
    rx_drops_ps: float
    tx_drops_ps: float
    link_delta: LinkCounters  # the kernel's counters over this interval
    history: tuple[float, ...]  # pps (XDP when attached, else kernel rx), oldest first
    prog_id: int = 0
    prog_name: str = ""
    reason: str | None = None
    since_attach: dict[str, ProtoStat] = field(default_factory=dict)  # per protocol since our counter attached

    def to_json(self) -> dict[str, Any]:
        k = self.link_delta
        return {
            "ifname": self.ifname,
            "ifindex": self.ifindex,
            "state": self.state,
            "up": self.up,
            "mode": self.mode,
            "packets": self.packets,
            "bytes": self.bytes,
            "pps": round(self.pps, 3),
            "bps": round(self.bps, 3),
            "by_proto": {name: {"packets": s.packets, "bytes": s.bytes} for name, s in self.by_proto.items()},
            "prog_id": self.prog_id,
            "prog_name": self.prog_name,
            "reason": self.reason,
            "kernel": {
                "rx_packets": k.rx_packets,
                "rx_bytes": k.rx_bytes,
                "rx_dropped": k.rx_dropped,
                "tx_packets": k.tx_packets,
                "tx_bytes": k.tx_bytes,
                "tx_dropped": k.tx_dropped,
                "rx_pps": round(self.rx_pps, 3),
                "rx_bps": round(self.rx_bps, 3),
                "tx_pps": round(self.tx_pps, 3),
                "tx_bps": round(self.tx_bps, 3),
                "rx_drops_ps": round(self.rx_drops_ps, 3),
                "tx_drops_ps": round(self.tx_drops_ps, 3),
            },
        }


@dataclass(frozen=True, slots=True)
class XdpTable:
    """The XDP pane's data for one interval."""

    rows: tuple[XdpRow, ...]
    total_pps: float
    history: tuple[float, ...]  # XDP packets/s over every attached interface, oldest first
    lost_total: int = 0  # cumulative packets not counted
    asked: tuple[str, ...] | None = None  # the interfaces --xdp named ("all": every one)
    # The network namespace the interfaces live in (its inode; 0: unknown). Received packets have no
    # process, so no cgroup: XDP is counted per interface of this namespace.
    netns: int = 0

    def notices(self) -> tuple[str, ...]:
        """An interface asked for where another XDP program sits: we leave it alone, and say so."""
        if not self.asked:
            return ()
        return tuple(
            f"xdp {r.ifname} is busy: program {r.prog_name or '?'} id {r.prog_id}"
            + (f" ({r.mode})" if r.mode else "")
            + " is attached; not counting there"
            for r in self.rows
            if r.state == BUSY and ("all" in self.asked or r.ifname in self.asked)
        )

    @property
    def events_per_s(self) -> float:
        """Packets the probe counted this interval over its measured window (the header's events/s)."""
        return self.total_pps

    def to_json(self) -> list[dict[str, Any]]:
        return [{**r.to_json(), "netns": self.netns} for r in self.rows]


def _link_delta(prev: LinkCounters | None, cur: LinkCounters) -> LinkCounters:
    if prev is None:
        return LinkCounters()
    return LinkCounters(
        counter_delta(prev.rx_packets, cur.rx_packets),
        counter_delta(prev.rx_bytes, cur.rx_bytes),
        counter_delta(prev.rx_dropped, cur.rx_dropped),
        counter_delta(prev.tx_packets, cur.tx_packets),
        counter_delta(prev.tx_bytes, cur.tx_bytes),
        counter_delta(prev.tx_dropped, cur.tx_dropped),
    )


def _xdp_delta(prev: tuple[int, ...] | None, cur: tuple[int, ...]) -> tuple[int, ...]:
    # Counters of a fresh attach start at zero in the kernel, so with no
    # previous read everything they hold is new (unlike the kernel's own
    # link counters, whose first read is only a baseline).
    if prev is None:
        return cur
    return tuple(counter_delta(p, c) for p, c in zip(prev, cur, strict=True))


@dataclass(slots=True)
class _IfaceState:
    ifindex: int
    link: LinkCounters | None = None
    attach_id: int = 0
    xdp: tuple[int, ...] | None = None
    history: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))


class XdpModel:
    """Keeps each interface's previous counters and pps history; rows are per interval.

    An interface is tracked by name and ifindex: a new ifindex under the same
    name is a new interface (deleted and recreated), so its baseline restarts.
    """

    def __init__(self, history: int = HISTORY, asked: tuple[str, ...] | None = None) -> None:
        self._history_len = history
        self._asked = asked
        self._state: dict[str, _IfaceState] = {}
        self._total: deque[float] = deque(maxlen=history)

    def update(self, sample: XdpSample | None, elapsed: float, pids: frozenset[int] | None = None) -> XdpTable:
        # pids is ignored: packets belong to interfaces, not processes.
        ifaces = sample.ifaces if sample is not None else ()
        rows = []
        seen: set[str] = set()
        for s in ifaces:
            seen.add(s.ifname)
            st = self._state.get(s.ifname)
            if st is None or st.ifindex != s.ifindex:
                st = _IfaceState(s.ifindex, history=deque(maxlen=self._history_len))
                self._state[s.ifname] = st
            link = _link_delta(st.link, s.link)
            st.link = s.link
            if s.xdp is not None and len(s.xdp) == 2 * NSLOTS:
                prev = st.xdp if st.attach_id == s.attach_id else None
                delta = _xdp_delta(prev, s.xdp)
                st.xdp, st.attach_id = s.xdp, s.attach_id
            else:
                delta = (0,) * (2 * NSLOTS)
                st.xdp, st.attach_id = None, 0
            pkts, byts = delta[:NSLOTS], delta[NSLOTS:]
            by_proto = {name: ProtoStat(pkts[i], byts[i]) for i, name in enumerate(PROTOS)}
            # The probe's counters are cumulative for one attachment: they are the totals since attach.
            since_attach = (
                {name: ProtoStat(st.xdp[i], st.xdp[NSLOTS + i]) for i, name in enumerate(PROTOS)} if st.xdp else {}
            )
            # Every packet lands in exactly one L3 slot.
            packets, nbytes = sum(pkts[: len(L3_PROTOS)]), sum(byts[: len(L3_PROTOS)])
            pps = rate(packets, elapsed)
            rx_pps = rate(link.rx_packets, elapsed)
            st.history.append(pps if s.state == ATTACHED else rx_pps)
            rows.append(
                XdpRow(
                    ifname=s.ifname,
                    ifindex=s.ifindex,
                    state=s.state,
                    up=s.up,
                    mode=s.mode,
                    packets=packets,
                    bytes=nbytes,
                    pps=pps,
                    bps=rate(nbytes, elapsed),
                    by_proto=by_proto,
                    rx_pps=rx_pps,
                    rx_bps=rate(link.rx_bytes, elapsed),
                    tx_pps=rate(link.tx_packets, elapsed),
                    tx_bps=rate(link.tx_bytes, elapsed),
                    rx_drops_ps=rate(link.rx_dropped, elapsed),
                    tx_drops_ps=rate(link.tx_dropped, elapsed),
                    link_delta=link,
                    history=tuple(st.history),
                    prog_id=s.prog_id,
                    prog_name=s.prog_name,
                    reason=s.reason,
                    since_attach=since_attach,
                )
            )
        for gone in set(self._state) - seen:
            del self._state[gone]
        rows.sort(key=lambda r: (r.ifindex == 0, r.ifindex, r.ifname))
        total = rate(sum(r.packets for r in rows), elapsed)
        self._total.append(total)
        lost = sample.lost_total if sample is not None else 0
        netns = sample.netns if sample is not None else 0
        return XdpTable(tuple(rows), total, tuple(self._total), lost, self._asked, netns)
