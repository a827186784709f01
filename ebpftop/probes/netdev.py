"""The interfaces of our network namespace.

One rtnetlink RTM_GETLINK dump (names, flags, attached XDP programs) and /proc/net/dev's counters.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from ebpftop.model.sanitize import decode
from ebpftop.model.xdp import GENERIC, NATIVE, LinkCounters

_IFF_UP = 0x1
_PROC_NET_DEV = "/proc/net/dev"


def read_proc_net_dev(path: str = _PROC_NET_DEV) -> dict[str, LinkCounters]:
    """The kernel's counters of every interface in this network namespace (unlike /sys, /proc/net follows our netns)."""
    out: dict[str, LinkCounters] = {}
    with open(path, "rb") as f:
        lines = f.read().splitlines()[2:]
    for line in lines:
        name, sep, rest = line.partition(b":")  # ':' is not allowed in interface names
        fields = rest.split()
        if not sep or len(fields) < 12:
            continue
        v = [int(x) for x in fields[:12]]
        out[decode(name.strip())] = LinkCounters(
            rx_packets=v[1], rx_bytes=v[0], rx_dropped=v[3], tx_packets=v[9], tx_bytes=v[8], tx_dropped=v[11]
        )
    return out


# rtnetlink (linux/rtnetlink.h, linux/if_link.h): one RTM_GETLINK dump per
# read lists every interface of our network namespace with its flags and the
# XDP programs attached to it. (bpf_xdp_query asks per interface and the
# kernel answers each ask with a whole dump: quadratic in interfaces.)
_NETLINK_ROUTE = 0
_RTM_NEWLINK, _RTM_GETLINK = 16, 18
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_NLM_F_REQUEST, _NLM_F_DUMP = 0x1, 0x300
_IFLA_IFNAME, _IFLA_XDP = 3, 43
_IFLA_XDP_ATTACHED, _IFLA_XDP_PROG_ID = 2, 4
_IFLA_XDP_DRV_PROG_ID, _IFLA_XDP_SKB_PROG_ID, _IFLA_XDP_HW_PROG_ID = 5, 6, 7
_XDP_ATTACHED_MODES = {1: NATIVE, 2: GENERIC, 3: "offload"}  # 4: several at once
_XDP_MODE_OF_ATTR = {_IFLA_XDP_DRV_PROG_ID: NATIVE, _IFLA_XDP_SKB_PROG_ID: GENERIC, _IFLA_XDP_HW_PROG_ID: "offload"}
_NLMSGHDR = struct.Struct("=IHHII")
_IFINFOMSG = struct.Struct("=BxHiII")
_RTATTR = struct.Struct("=HH")


@dataclass(frozen=True, slots=True)
class LinkInfo:
    """One interface as rtnetlink lists it."""

    ifindex: int
    ifname: str
    up: bool
    xdp: tuple[tuple[int, str], ...]  # (prog id, mode) of every attached XDP program


def _attrs(buf: bytes, offset: int, end: int) -> Iterator[tuple[int, bytes]]:
    while offset + _RTATTR.size <= end:
        length, kind = _RTATTR.unpack_from(buf, offset)
        if length < _RTATTR.size:
            return
        yield kind & 0x3FFF, buf[offset + _RTATTR.size : offset + length]  # without NLA_F_NESTED
        offset += (length + 3) & ~3


def _parse_link(msg: bytes) -> LinkInfo | None:
    _family, _type, index, flags, _change = _IFINFOMSG.unpack_from(msg, 0)
    name = None
    xdp: list[tuple[int, str]] = []
    for kind, value in _attrs(msg, _IFINFOMSG.size, len(msg)):
        if kind == _IFLA_IFNAME:
            name = decode(value)
        elif kind == _IFLA_XDP:
            nested = dict(_attrs(value, 0, len(value)))
            attached = nested.get(_IFLA_XDP_ATTACHED, b"\0")[0]
            if attached in _XDP_ATTACHED_MODES and _IFLA_XDP_PROG_ID in nested:
                xdp.append((struct.unpack("=I", nested[_IFLA_XDP_PROG_ID][:4])[0], _XDP_ATTACHED_MODES[attached]))
            elif attached:
                for attr, mode in _XDP_MODE_OF_ATTR.items():
                    if attr in nested:
                        xdp.append((struct.unpack("=I", nested[attr][:4])[0], mode))
    if name is None:
        return None
    return LinkInfo(index, name, bool(flags & _IFF_UP), tuple(x for x in xdp if x[0]))


def list_links() -> dict[int, LinkInfo]:
    """Every interface of this network namespace, by ifindex, from one RTM_GETLINK dump."""
    links: dict[int, LinkInfo] = {}
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_ROUTE) as sock:
        sock.bind((0, 0))
        body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        sock.send(_NLMSGHDR.pack(_NLMSGHDR.size + len(body), _RTM_GETLINK, _NLM_F_REQUEST | _NLM_F_DUMP, 1, 0) + body)
        while True:
            data = sock.recv(1 << 18)  # a dump chunk is at most 32 KiB today; room to spare
            if not data:
                return links
            offset = 0
            while offset + _NLMSGHDR.size <= len(data):
                length, kind, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, offset)
                if length < _NLMSGHDR.size:
                    return links
                payload = data[offset + _NLMSGHDR.size : offset + length]
                if kind == _NLMSG_DONE:
                    return links
                if kind == _NLMSG_ERROR:
                    (err,) = struct.unpack_from("=i", payload, 0)
                    if err:
                        raise OSError(-err, f"RTM_GETLINK: {os.strerror(-err)}")
                    return links
                if kind == _RTM_NEWLINK:
                    info = _parse_link(payload)
                    if info is not None:
                        links[info.ifindex] = info
                offset += (length + 3) & ~3
