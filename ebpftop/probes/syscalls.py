"""Syscall probe: raw sys_enter counts per (tgid, syscall), drained every interval."""

from __future__ import annotations

import glob
import re
import struct
from functools import cache
from pathlib import Path
from typing import Any

from ebpftop.model.sanitize import decode
from ebpftop.model.syscalls import SyscallCount, SyscallSample
from ebpftop.probes import libbpf
from ebpftop.probes.base import Probe, possible_cpus

# Keys are (tgid, syscall) seen in one interval; a busy box with a thousand
# short-lived processes reaches ~30k. Values are per CPU and preallocated, so
# the size is capped by a memory budget (~24 MiB of values) on big machines.
MAX_ENTRIES = 65536
VALUE_BUDGET = 1 << 20  # keys x CPUs
_KEY = struct.Struct("<II")  # struct sc_key {u32 tgid; u32 nr;}
_COUNT = struct.Struct("<Q")  # struct sc_val {u64 count; char comm[16];}
_VALUE_SIZE = 24


_UAPI_GLOB = "/usr/include/*-linux-gnu/asm/unistd_64.h"
_NR_DEFINE = re.compile(r"^#define __NR_(\w+)\s+(\d+)\s*$", re.M)


@cache
def _table() -> dict[int, str]:
    """Syscall number -> name: bcc's table, completed by the distro's uapi unistd header.

    bcc 0.26's table stops at rseq (334); linux-libc-dev's asm/unistd_64.h
    names the newer ones (clone3, openat2, close_range, ...).
    """
    from bcc.syscall import syscalls  # bcc's maintained per-arch table

    table: dict[int, str] = {}
    for path in sorted(glob.glob(_UAPI_GLOB)):
        try:
            text = Path(path).read_text(errors="replace")
        except OSError:
            continue
        table.update((int(nr), name) for name, nr in _NR_DEFINE.findall(text))
    table.update((nr, name.decode(errors="replace")) for nr, name in syscalls.items())
    return table


class SyscallsProbe(Probe):
    name = "syscalls"
    source = "syscalls.bpf.c"

    def __init__(self, max_entries: int | None = None) -> None:
        super().__init__()
        self.max_entries = max_entries or max(4096, min(MAX_ENTRIES, VALUE_BUDGET // possible_cpus()))
        self._reader: libbpf.BatchReader | None = None
        self._names: dict[int, str] = {}

    def cflags(self) -> list[str]:
        return [f"-DSC_MAX_ENTRIES={self.max_entries}"]

    def attach(self) -> None:
        # RAW_TRACEPOINT_PROBE(sys_enter) attached itself when bcc loaded it.
        self._reader = libbpf.BatchReader(
            self.table("counts").map_fd, _KEY.size, _VALUE_SIZE, self.max_entries, possible_cpus()
        )

    def detach(self, bpf: Any) -> None:
        self._reader = None

    def syscall_name(self, nr: int) -> str:
        name = self._names.get(nr)
        if name is None:
            name = _table().get(nr, f"syscall_{nr}")
            self._names[nr] = name
        return name

    def read(self) -> SyscallSample:
        if self._reader is None:
            return SyscallSample(())
        keys, view, n = self._reader.drain()
        values = view.tobytes()  # one copy; then plain int indexing
        stride, slot, ncpus = self._reader.value_stride, self._reader.slot_size, self._reader.ncpus
        counts = []
        for i in range(n):
            tgid, nr = _KEY.unpack_from(keys, i * _KEY.size)
            base = i * stride
            total = 0
            comm = b""
            for cpu in range(ncpus):
                off = base + cpu * slot
                (count,) = _COUNT.unpack_from(values, off)
                total += count
                # Only the CPU that created the key wrote comm; the others'
                # slots were zeroed then and may count without one.
                if not comm and values[off + 8]:
                    comm = values[off + 8 : off + _VALUE_SIZE]
            if total:
                counts.append(SyscallCount(tgid, nr, self.syscall_name(nr), total, decode(comm)))
        return SyscallSample(tuple(counts), self.lost())

    def lost(self) -> int:
        if self._bpf is None:
            return 0
        return int(self.table("drops").sum(0).value)
