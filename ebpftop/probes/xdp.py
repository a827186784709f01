"""XDP probe: one counting program, attached through a BPF link per chosen interface, never over someone else's."""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from dataclasses import dataclass
from typing import Any, ClassVar

from ebpftop.model.sanitize import decode
from ebpftop.model.xdp import (
    ATTACHED,
    BUSY,
    ERROR,
    GENERIC,
    GONE,
    MISSING,
    MODES,
    NATIVE,
    OFF,
    PROTOS,
    IfaceSample,
    LinkCounters,
    XdpSample,
)
from ebpftop.probes import libbpf
from ebpftop.probes.base import Probe, ProbeError
from ebpftop.probes.netdev import LinkInfo, list_links, read_proc_net_dev

ENV_IFACES = "EBPFTOP_XDP"
ALL = "all"
MAX_IFACES = 256  # counter slots (a power of two); an interface's slot is ifindex & (MAX_IFACES - 1)

# The counter slot of each protocol in struct xdp_val (bpf/xdp.h gets them
# with -D). _counters() decodes the slots into the model's PROTOS order.
SLOTS = {"ipv4": 0, "ipv6": 1, "arp": 2, "other": 3, "tcp": 4, "udp": 5, "icmp": 6, "icmpv6": 7, "ip_other": 8}
NSLOTS = len(SLOTS)
_SLOT_DEFINES = {
    "ipv4": "IPV4",
    "ipv6": "IPV6",
    "arp": "ARP",
    "other": "L3_OTHER",
    "tcp": "TCP",
    "udp": "UDP",
    "icmp": "ICMP",
    "icmpv6": "ICMPV6",
    "ip_other": "L4_OTHER",
}
if set(SLOTS) != set(PROTOS) or sorted(SLOTS.values()) != list(range(NSLOTS)):
    raise ImportError("probes/xdp.py SLOTS must number every model.xdp.PROTOS once, from 0")
_VALUE = struct.Struct(f"<II{2 * NSLOTS}Q")  # struct xdp_val: ifindex, pad, packets[NSLOTS], bytes[NSLOTS]
_OWNER = struct.Struct("<I")  # xdp_val.ifindex
_COUNTERS = struct.Struct(f"<{2 * NSLOTS}Q")  # packets, bytes: 8 bytes into xdp_val


def _ifaces_from_env() -> tuple[str, ...] | None:
    text = os.environ.get(ENV_IFACES, "").strip()
    if not text:
        return None
    return tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip())) or None


def _netns() -> int:
    """Our network namespace's inode: where the interfaces (and so the counted packets) live."""
    try:
        return os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return 0


@dataclass(slots=True)
class _Link:
    ifname: str
    ifindex: int
    fd: int
    attach_id: int
    mode: str


class XdpProbe(Probe):
    """Counts packets per interface and protocol with one XDP program shared by every attached interface.

    Interfaces: ``ifaces`` (names, or ("all",)), else $EBPFTOP_XDP (comma list
    or "all"); none means every interface is listed with the kernel's own
    counters and nothing is attached until attach_iface(). Mode: ``mode``, else generic.
    Attachments are BPF links, so the
    kernel detaches them when ebpftop dies however it dies.
    """

    name = "xdp"
    source = "xdp.bpf.c"
    filter_maps = None  # packets belong to interfaces, not processes

    def __init__(self, ifaces: tuple[str, ...] | None = None, mode: str | None = None) -> None:
        super().__init__()
        if ifaces is None:
            ifaces = _ifaces_from_env()
        if mode is None:
            mode = GENERIC
        self.mode = mode
        self._all = ALL in (ifaces or ())
        # Names to attach; they stay wanted across a probe off/on.
        self._wanted: dict[str, None] = dict.fromkeys(n for n in (ifaces or ()) if n != ALL)
        self._missing: dict[str, str] = {}  # asked-for names that do not exist -> reason
        self._links: dict[int, _Link] = {}  # by ifindex: a rename keeps the link
        self._errors: dict[int, str] = {}  # ifindex -> why our last attach there failed
        # Detached by the key since the last read: the link and its counters read at the detach,
        # reported at the next read (what it counted since the previous one), then forgotten.
        self._detached: dict[int, tuple[_Link, tuple[int, ...] | None]] = {}
        self._attach_seq = 0
        self._fn: Any = None
        self._prog_id = 0
        self._map_fd = -1
        self._ncpus = 1
        self._value_buf: ctypes.Array[ctypes.c_char] | None = None
        self._names: dict[int, str] = {}  # prog id -> name cache

    # -- life cycle -------------------------------------------------------------
    def available(self) -> str | None:
        if self.mode not in MODES:
            return f"unknown XDP mode {self.mode!r} (use generic or native)"
        if not libbpf.available():
            return "libbpf.so.1 is not installed (needed to attach XDP through a BPF link)"
        if not libbpf.prog_type_supported(libbpf.BPF_PROG_TYPE_XDP):
            return "this kernel refuses XDP programs"
        return None

    load_as: ClassVar[dict[str, str]] = {"xdp_count": "xdp"}

    def cflags(self) -> list[str]:
        return [
            f"-DXDP_MAX_IFACES={MAX_IFACES}",
            f"-DXDP_NSLOTS={NSLOTS}",
            *(f"-DXDP_SLOT_{_SLOT_DEFINES[proto]}={slot}" for proto, slot in SLOTS.items()),
        ]

    def layouts(self) -> dict[str, tuple[int | None, int | None]]:
        return {"counts": (4, _VALUE.size)}

    def attach(self) -> None:
        assert self._bpf is not None
        self._fn = self._bpf.progs["xdp_count"]  # loaded as load_as says; attached per interface below
        self._prog_id = libbpf.prog_info(self._fn.fd).prog_id
        self._map_fd = self.table("counts").map_fd
        self._ncpus = libbpf.possible_cpus()
        self._value_buf = ctypes.create_string_buffer(self._ncpus * _VALUE.size)
        self._errors.clear()
        self._missing.clear()
        links = list_links()
        # "all" means every interface there is now; ones created later are
        # only listed (attaching to each new container veth unasked is not ours to do).
        wanted = [info.ifname for info in links.values()] if self._all else list(self._wanted)
        for name in wanted:
            reason = self._attach(name, links)
            if reason is not None and name not in self._missing:
                self._wanted.pop(name, None)  # failed: the user asks again with the key

    def detach(self, bpf: Any) -> None:
        self._detached = {}
        for link in list(self._links.values()):
            self._close(link)
        self._fn = None
        self._prog_id = 0
        self._map_fd = -1

    def prog_fds(self) -> list[int]:
        return [self._fn.fd] if self._fn is not None else []

    @property
    def prog_id(self) -> int:
        """Our loaded program's id (0 while off)."""
        return self._prog_id

    # -- attach / detach one interface ------------------------------------------
    def _attach(self, name: str, links: dict[int, LinkInfo] | None = None) -> str | None:
        links = list_links() if links is None else links
        info = next((i for i in links.values() if i.ifname == name), None)
        ifindex = info.ifindex if info is not None else 0
        if info is None:
            reason = f"no interface named {name!r} in this network namespace"
            self._missing[name] = reason
            return reason
        self._missing.pop(name, None)
        if ifindex in self._links:
            return None
        other = self._other_prog(info)
        if other:
            return f"busy: XDP program {other} ({self._prog_name(other) or '?'}) is attached to {name}; left untouched"
        slot = ifindex & (MAX_IFACES - 1)
        clash = next((lk for lk in self._links.values() if lk.ifindex & (MAX_IFACES - 1) == slot), None)
        if clash is not None:
            reason = (
                f"cannot count {name} and {clash.ifname} at once "
                f"(ifindex {ifindex} and {clash.ifindex} share counter slot {slot})"
            )
            self._errors[ifindex] = reason
            return reason
        flags = libbpf.XDP_FLAGS_DRV_MODE if self.mode == NATIVE else libbpf.XDP_FLAGS_SKB_MODE
        # Zero the slot and name its owner before attaching, so the first
        # read's counters are exactly this attach's packets.
        self._write_slot(ifindex, ifindex)
        try:
            fd = libbpf.link_create_xdp(self._fn.fd, ifindex, flags)
        except OSError as exc:
            self._write_slot(ifindex, 0)
            reason = f"cannot attach {self.mode} XDP to {name}: {os.strerror(exc.errno or errno.EIO)}"
            if exc.errno == errno.EBUSY:
                reason += " (another XDP program is attached)"
            elif exc.errno == errno.EOPNOTSUPP and self.mode == NATIVE:
                reason += " (no native XDP in this driver; try generic)"
            self._errors[ifindex] = reason
            return reason
        self._attach_seq += 1
        self._links[ifindex] = _Link(name, ifindex, fd, self._attach_seq, self.mode)
        self._errors.pop(ifindex, None)
        return None

    def _close(self, link: _Link) -> None:
        # Closing the last fd of a BPF link detaches the program from the interface.
        self._links.pop(link.ifindex, None)
        try:
            os.close(link.fd)
        finally:
            if self._map_fd >= 0:
                self._write_slot(link.ifindex, 0)

    def _write_slot(self, ifindex: int, owner: int) -> None:
        """Zero ifindex's counter slot on every CPU and tag it with its owner (0: free)."""
        value = b"".join(_VALUE.pack(owner, 0, *([0] * 2 * NSLOTS)) for _ in range(self._ncpus))
        buf = ctypes.create_string_buffer(value, len(value))
        key = ctypes.c_uint32(ifindex & (MAX_IFACES - 1))
        try:
            libbpf.map_update_elem(self._map_fd, ctypes.byref(key), buf, "bpf_map_update_elem")
        except OSError as exc:
            raise ProbeError(f"cannot write the XDP counter slot: {os.strerror(exc.errno or errno.EIO)}") from None

    def attach_iface(self, name: str) -> str | None:
        """Attach the counter to one interface; None on success, else the one-line reason."""
        if self._bpf is None:
            return "the xdp probe is off"
        reason = self._attach(name)
        if reason is None:
            self._wanted[name] = None
        else:
            self._missing.pop(name, None)  # a typo at the key is reported, not listed
        return reason

    def detach_iface(self, name: str) -> str | None:
        """Detach the counter from one interface; None on success, else the reason."""
        self._wanted.pop(name, None)
        self._missing.pop(name, None)
        for link in list(self._links.values()):
            if link.ifname == name:
                self._detached[link.ifindex] = (link, self._counters(link.ifindex))
                self._close(link)
                return None
        return f"xdp is not attached to {name!r}"

    def attached(self) -> dict[str, int]:
        """ifname -> ifindex of every interface our program is attached to."""
        return {link.ifname: link.ifindex for link in self._links.values()}

    # -- reading ------------------------------------------------------------------
    def _other_prog(self, info: LinkInfo) -> int:
        """Id of an XDP program on this interface that is not ours (0 when none)."""
        return next((pid for pid, _mode in info.xdp if pid != self._prog_id), 0)

    def _prog_name(self, prog_id: int) -> str:
        name = self._names.get(prog_id)
        if name is None:
            name = decode(libbpf.prog_name(prog_id))
            if len(self._names) > 1024:
                self._names.clear()
            self._names[prog_id] = name
        return name

    def _counters(self, ifindex: int) -> tuple[int, ...] | None:
        """ifindex's counters summed over CPUs, decoded.

        Packets per protocol in the model's PROTOS order, then bytes.
        """
        buf = self._value_buf
        assert buf is not None
        key = ctypes.c_uint32(ifindex & (MAX_IFACES - 1))
        if not libbpf.map_lookup_elem(self._map_fd, ctypes.byref(key), buf):
            return None
        raw = buf.raw
        if any(_OWNER.unpack_from(raw, cpu * _VALUE.size)[0] != ifindex for cpu in range(self._ncpus)):
            return None
        total, _ = libbpf.sum_cpus(raw, 0, self._ncpus, _VALUE.size, _COUNTERS, offset=8)
        order = [SLOTS[proto] for proto in PROTOS]
        return tuple([total[i] for i in order] + [total[NSLOTS + i] for i in order])

    def read(self) -> XdpSample:
        if self._bpf is None:
            return XdpSample(())
        links = list_links()
        # An interface deleted while attached: the kernel already detached the
        # link; its counters are still in our map: read them one last time (what
        # it counted since the last read), then close our end and forget it (a
        # new one with the name is new).
        gone: list[IfaceSample] = []
        for link in list(self._links.values()):
            info = links.get(link.ifindex)
            if info is None:
                gone.append(self._last_counts(link, self._counters(link.ifindex)))
                self._close(link)
                self._wanted.pop(link.ifname, None)
            elif info.ifname != link.ifname:  # renamed: the link stays
                self._wanted.pop(link.ifname, None)
                link.ifname = info.ifname
                self._wanted[link.ifname] = None
        detached, self._detached = self._detached, {}
        for ifindex, (link, counters) in detached.items():
            if ifindex not in links:  # detached, then deleted
                gone.append(self._last_counts(link, counters))
        for ifindex in list(self._errors):
            if ifindex not in links:
                del self._errors[ifindex]
        # A name asked for before its interface existed (a tunnel not up yet)
        # is attached when it appears; asked for by name, so wanted.
        present = {info.ifname for info in links.values()}
        for name in [n for n in self._missing if n in present]:
            if self._attach(name, links) is not None:
                self._wanted.pop(name, None)
        try:
            stats = read_proc_net_dev()
        except OSError:
            stats = {}
        ifaces = gone
        for ifindex, info in sorted(links.items()):
            base: dict[str, Any] = dict(
                ifname=info.ifname, ifindex=ifindex, up=info.up, link=stats.get(info.ifname, LinkCounters())
            )
            attached = self._links.get(ifindex)
            if attached is not None:
                ifaces.append(
                    IfaceSample(
                        **base,
                        state=ATTACHED,
                        mode=attached.mode,
                        xdp=self._counters(ifindex),
                        attach_id=attached.attach_id,
                        prog_id=self._prog_id,
                        prog_name=self._prog_name(self._prog_id),
                    )
                )
                continue
            other = self._other_prog(info)
            if other:
                ifaces.append(
                    IfaceSample(
                        **base,
                        state=BUSY,
                        mode=next(mode for pid, mode in info.xdp if pid == other),
                        prog_id=other,
                        prog_name=self._prog_name(other),
                        reason="another XDP program is attached; left untouched",
                    )
                )
            elif ifindex in self._errors:
                ifaces.append(IfaceSample(**base, state=ERROR, reason=self._errors[ifindex]))
            elif ifindex in detached:  # off now; its counts up to the detach, once
                link, counters = detached[ifindex]
                ifaces.append(
                    IfaceSample(
                        **base,
                        state=OFF,
                        mode=link.mode,
                        xdp=counters,
                        attach_id=link.attach_id,
                        reason="detached: its counts up to the detach",
                    )
                )
            else:
                ifaces.append(IfaceSample(**base, state=OFF))
        for name, reason in self._missing.items():
            ifaces.append(IfaceSample(ifname=name, ifindex=0, state=MISSING, reason=reason))
        return XdpSample(tuple(ifaces), self.lost(), _netns())

    def _last_counts(self, link: _Link, counters: tuple[int, ...] | None) -> IfaceSample:
        """The row of an interface deleted under the counter: its counts since the last read."""
        return IfaceSample(
            ifname=link.ifname,
            ifindex=link.ifindex,
            state=GONE,
            mode=link.mode,
            xdp=counters,
            attach_id=link.attach_id,
            prog_id=self._prog_id,
            prog_name=self._prog_name(self._prog_id),
            reason="the interface was deleted: its last counts",
        )

    def lost(self) -> int:
        if self._bpf is None:
            return 0
        return self.table("drops").sum(0)


__all__ = ["ProbeError", "XdpProbe"]
