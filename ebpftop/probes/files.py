"""Files probe: read/write bytes and ops per open file from syscall tracepoints, each named by the kernel."""

from __future__ import annotations

import os
import struct
from collections import OrderedDict
from typing import Any

from ebpftop.model.files import ANON, PIPE, SOCKET, FileIO, FilesSample
from ebpftop.model.sanitize import decode
from ebpftop.probes import fdnames, libbpf
from ebpftop.probes.base import Probe
from ebpftop.probes.btf import VMLINUX_BTF, pt_regs_cflags
from ebpftop.probes.fdnames import FdName

MAX_ENTRIES = 16384  # FL_MAX_ENTRIES: open files doing I/O per interval
# Passed to bpf/files.h with -D (contract_cflags). lost[] slots: FL_LOST_<define> -> cause, in slot order.
LOST = {"STATS": "stats_full", "PATH": "name_not_stored", "FDS": "fds_full"}
LOST_SLOTS = len(LOST)
# FL_KIND_*: what the kernel saw create the fd, in the low KIND_BITS of a
# generation; used when its name record is gone.
KIND_BITS = 3
KIND_MASK = (1 << KIND_BITS) - 1
KINDS = {"NONE": 0, "OPEN": 1, "SOCKET": 2, "PIPE": 3, "ANON": 4, "DUP": 5, "OTHER": 6}
_KERNEL_KINDS = {KINDS["SOCKET"]: SOCKET, KINDS["PIPE"]: PIPE, KINDS["ANON"]: ANON}
CACHE_SIZE = 32768  # names of open files remembered after the kernel record is read

_KEY = struct.Struct("<IiQ")  # struct fl_key {u32 tgid; s32 fd; u64 gen;}
_COUNTS = struct.Struct("<QQQQ")  # struct fl_val {reads, writes, read_bytes, write_bytes; comm[16]}
_VALUE_SIZE = 48
_COMM = (32, 48)  # fl_val.comm


def contract_cflags() -> list[str]:
    """-D for the constants files.h takes from here: lost[] slots and fd kinds."""
    return [
        *(f"-DFL_LOST_{define}={slot}" for slot, define in enumerate(LOST)),
        f"-DFL_LOST_SLOTS={LOST_SLOTS}",
        f"-DFL_KIND_BITS={KIND_BITS}",
        *(f"-DFL_KIND_{kind}={value}" for kind, value in KINDS.items()),
    ]


class FilesProbe(Probe):
    name = "files"
    source = "files.bpf.c"

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        super().__init__()
        self.max_entries = max_entries
        # One reader per stats buffer (epoch half); the kernel counts into the other.
        self._readers: tuple[libbpf.BatchReader, libbpf.BatchReader] | None = None
        # (tgid, fd, gen) -> name: a key's file never changes, so each is
        # read once from the kernel and remembered while it is in use.
        self._names: OrderedDict[tuple[int, int, int], FdName] = OrderedDict()
        self._evicted = 0

    def available(self) -> str | None:
        if os.uname().machine != "x86_64":
            return f"files probe reads x86-64 syscall registers; this machine is {os.uname().machine}"
        if not os.path.exists(VMLINUX_BTF):
            return f"{VMLINUX_BTF} missing: the files probe needs the kernel's BTF (pt_regs, struct file offsets)"
        return None

    def cflags(self) -> list[str]:
        return [f"-DFL_MAX_ENTRIES={self.max_entries}", *contract_cflags(), *pt_regs_cflags(), *fdnames.cflags()]

    def layouts(self) -> dict[str, tuple[int | None, int | None]]:
        return {
            "stats": (_KEY.size, _VALUE_SIZE),
            "stats_b": (_KEY.size, _VALUE_SIZE),
            "names": (_KEY.size, fdnames.RECORD_SIZE),
        }

    def attach(self) -> None:
        # Every TRACEPOINT_PROBE attached itself when bcc loaded it.
        ncpus = libbpf.possible_cpus()
        self._readers = tuple(  # type: ignore[assignment]
            libbpf.BatchReader(self.table(name).map_fd, _KEY.size, _VALUE_SIZE, self.max_entries, ncpus)
            for name in ("stats", "stats_b")
        )

    def detach(self, bpf: Any) -> None:
        self._readers = None
        self._names.clear()
        # lost() was added to the sampler's base as the probe went off: a new
        # enable counts its own evictions from zero (it counted them twice).
        self._evicted = 0

    # -- naming ---------------------------------------------------------------
    def resolve(self, tgid: int, fd: int, gen: int) -> FdName:
        """What the kernel recorded of this key's struct file at its first I/O; unknown when no record is left.

        No filesystem call here, on purpose: see probes/fdnames.py.
        """
        key = (tgid, fd, gen)
        hit = self._names.get(key)
        if hit is not None:
            self._names.move_to_end(key)
            return hit
        named = None
        if self._bpf is not None:
            names = self.table("names")
            try:
                rec = names[names.Key(tgid, fd, gen)]
            except KeyError:
                rec = None
            if rec is not None:
                named = fdnames.describe(bytes(rec))
        if named is None:
            # The record was evicted (or the fd closed under its first I/O):
            # say what made the fd if the kernel saw it, never guess a path.
            self._evicted += 1
            made = _KERNEL_KINDS.get(gen & KIND_MASK)
            return FdName(made, f"fd:{fd}") if made else fdnames.unknown(fd)
        if gen:  # generation 0 (fds map full) may be another file next time
            self._names[key] = named
            if len(self._names) > CACHE_SIZE:
                self._names.popitem(last=False)
        return named

    # -- reading --------------------------------------------------------------
    def read(self) -> FilesSample:
        if self._readers is None:
            return FilesSample(())
        reader = self._readers[self.flip_epoch()]  # the stats buffer no program writes any more
        out = []
        for key, (reads, writes, rbytes, wbytes), comm in reader.drain_summed(_COUNTS, _COMM):
            if not (reads or writes):
                continue
            tgid, fd, gen = _KEY.unpack(key)
            comm = comm.rstrip(b"\0")
            n = self.resolve(tgid, fd, gen)
            out.append(
                FileIO(
                    tgid, fd, gen, n.path, n.type, decode(comm), reads, writes, rbytes, wbytes,
                    n.dev, n.ino, n.deleted, n.truncated,
                )
            )
        return FilesSample(tuple(out), self.lost())

    def lost(self) -> int:
        if self._bpf is None:
            return self._evicted
        table = self.table("lost")
        return self._evicted + sum(int(table.sum(i).value) for i in range(LOST_SLOTS))

    def lost_by_cause(self) -> dict[str, int]:
        """The kernel's lost counters by cause plus the names found evicted here."""
        if self._bpf is None:
            return {}
        table = self.table("lost")
        out = {cause: int(table.sum(i).value) for i, cause in enumerate(LOST.values())}
        out["name_evicted"] = self._evicted
        return out
