"""Syscall probe: raw sys_enter counts per (tgid, syscall), drained every interval.

The kernel side (bpf/syscalls.bpf.c) counts into one of two halves chosen by
an epoch: a per-CPU direct-mapped cache plus a per-CPU hash for keys whose
cache slot is taken. read() flips the epoch, waits one RCU grace period
(membarrier) so no program still writes the old half, then reads and empties
it: exact counts with no read/write race.
"""

from __future__ import annotations

import ctypes
import errno
import glob
import itertools
import os
import re
import struct
from functools import cache
from pathlib import Path
from typing import Any

from ebpftop.model.sanitize import decode
from ebpftop.model.syscalls import SyscallCount, SyscallSample
from ebpftop.probes import libbpf
from ebpftop.probes.base import COMM_LEN, Probe

_TGID = struct.Struct("<I")  # the names map's key

# Keys are (tgid, syscall) seen in one interval; a busy box with a thousand
# short-lived processes reaches ~30k. Values are per CPU and preallocated, so
# the size is capped by a memory budget (~24 MiB of values for the two
# hashes together) on big machines.
MAX_ENTRIES = 65536
VALUE_BUDGET = 1 << 19  # keys x CPUs, per hash (there are two)
# Cache slots per half: 4096 up to 16 CPUs, fewer beyond so that one read
# scans at most 64k (slot, CPU) pairs.
CACHE_BITS_MAX, CACHE_BITS_MIN, CACHE_SCAN = 12, 8, 1 << 16
_KEY = struct.Struct("<II")  # struct sc_key {u32 tgid; u32 nr;}
_COUNT = struct.Struct("<Q")  # struct sc_val {u64 count; char comm[16]; u64 cgroup;}
_VALUE_SIZE = 32
_COMM_CGROUP = (8, 32)  # sc_val.comm and .cgroup: what the CPU that created the key wrote
_SLOT_SIZE = 40  # struct sc_slot {u64 tag; u64 count; char comm[16]; u64 cgroup;}
_SLOT_WORDS = _SLOT_SIZE // 8


class CacheHalves:
    """Reads and zeroes one half of the per-CPU cache array with two batch syscalls."""

    def __init__(self, map_fd: int, bits: int, ncpus: int) -> None:
        self.map_fd, self.slots, self.ncpus = map_fd, 1 << bits, ncpus
        self.stride = _SLOT_SIZE * ncpus
        self._keys = (ctypes.c_uint32 * self.slots)()
        self._values = ctypes.create_string_buffer(self.slots * self.stride)
        self._zeros = ctypes.create_string_buffer(self.slots * self.stride)
        self._in = ctypes.c_uint32(0)
        self._out = ctypes.c_uint32(0)

    def read(self, half: int) -> memoryview:
        """The half's slots: slots x CPUs x struct sc_slot, as the kernel lays them out."""
        count = ctypes.c_uint32(self.slots)
        self._in.value = half * self.slots - 1  # the batch starts after in_batch
        err = libbpf.map_lookup_batch(
            self.map_fd,
            ctypes.byref(self._in) if half else None,
            ctypes.byref(self._out),
            self._keys,
            self._values,
            ctypes.byref(count),
        )
        if err not in (0, errno.ENOENT) or count.value != self.slots:
            raise OSError(err or errno.EIO, f"bpf_map_lookup_batch on the syscall cache: {os.strerror(err)}")
        return memoryview(self._values).cast("B")  # ctypes says "<c", which cast() refuses

    def zero(self, half: int, slots: list[int]) -> None:
        """Empty these slots of the half (every CPU's copy), ready for its next epoch."""
        if not slots:
            return
        base = half * self.slots
        for i, slot in enumerate(slots):
            self._keys[i] = base + slot
        count = ctypes.c_uint32(len(slots))
        err = libbpf.map_update_batch(self.map_fd, self._keys, self._zeros, ctypes.byref(count))
        if err:
            raise OSError(err, f"bpf_map_update_batch on the syscall cache: {os.strerror(err)}")


def cache_bits(ncpus: int) -> int:
    bits = CACHE_BITS_MAX
    while bits > CACHE_BITS_MIN and (1 << bits) * ncpus > CACHE_SCAN:
        bits -= 1
    return bits


_UAPI_GLOB = "/usr/include/*-linux-gnu/asm/unistd_64.h"
_NR_DEFINE = re.compile(r"^#define __NR_(\w+)\s+(\d+)\s*$", re.M)


@cache
def _table() -> dict[int, str]:
    """Syscall number -> name: bcc's table, completed by the distro's uapi unistd header.

    bcc 0.26's table stops at rseq (334); linux-libc-dev's asm/unistd_64.h
    names the newer ones (clone3, openat2, close_range, ...).
    """
    table: dict[int, str] = {}
    for path in sorted(glob.glob(_UAPI_GLOB)):
        try:
            text = Path(path).read_text(errors="replace")
        except OSError:
            continue
        table.update((int(nr), name) for name, nr in _NR_DEFINE.findall(text))
    table.update((nr, name.decode(errors="replace")) for nr, name in _bcc_syscalls().items())
    return table


def _bcc_syscalls() -> dict[int, bytes]:
    """bcc's maintained per-arch table (bcc/syscall.py), read without importing the bcc package.

    `import bcc` loads libbcc and with it clang and LLVM: +62 MiB of RSS for
    the life of the process, which never compiles (see probes/loader.py).
    The module itself needs only the standard library.
    """
    import importlib.util

    spec = importlib.util.find_spec("bcc")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations)), "syscall.py")
    module_spec = importlib.util.spec_from_file_location("_ebpftop_bcc_syscall", path)
    if module_spec is None or module_spec.loader is None:
        return {}
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception:  # noqa: BLE001 - the uapi header's names stand alone
        return {}
    return dict(getattr(module, "syscalls", {}))


class SyscallsProbe(Probe):
    name = "syscalls"
    source = "syscalls.bpf.c"
    cgroup_filter = True

    def __init__(self, max_entries: int | None = None, cache_slots_log2: int | None = None) -> None:
        super().__init__()
        self.max_entries = max_entries or max(4096, min(MAX_ENTRIES, VALUE_BUDGET // libbpf.possible_cpus()))
        # cache_slots_log2: tests shrink the cache to send most keys to the hashes.
        self.cache_bits = cache_slots_log2 or cache_bits(libbpf.possible_cpus())
        self._readers: list[libbpf.BatchReader] = []
        self._cache: CacheHalves | None = None
        self._names: dict[int, str] = {}

    def cflags(self) -> list[str]:
        return [
            f"-DSC_MAX_ENTRIES={self.max_entries}",
            f"-DSC_CACHE_BITS={self.cache_bits}",
        ]

    def layouts(self) -> dict[str, tuple[int | None, int | None]]:
        return {
            "counts0": (_KEY.size, _VALUE_SIZE),
            "counts1": (_KEY.size, _VALUE_SIZE),
            "cache": (None, _SLOT_SIZE),
            "names": (None, COMM_LEN),
        }

    def attach(self) -> None:
        # RAW_TRACEPOINT_PROBE(sys_enter) attached itself when bcc loaded it.
        ncpus = libbpf.possible_cpus()
        self._readers = [
            libbpf.BatchReader(self.table(name).map_fd, _KEY.size, _VALUE_SIZE, self.max_entries, ncpus)
            for name in ("counts0", "counts1")
        ]
        self._cache = CacheHalves(self.table("cache").map_fd, self.cache_bits, ncpus)

    def detach(self, bpf: Any) -> None:
        self._readers = []
        self._cache = None

    def syscall_name(self, nr: int) -> str:
        name = self._names.get(nr)
        if name is None:
            name = _table().get(nr, f"syscall_{nr}")
            self._names[nr] = name
        return name

    def read(self) -> SyscallSample:
        if self._cache is None:
            return SyscallSample(())
        done = self.flip_epoch()  # now nothing writes half `done`: read it whole
        # (tgid << 32 | nr) -> [count, comm, cgroup]
        found: dict[int, list[Any]] = {}
        self._read_cache(done, found)
        self._read_hash(self._readers[done], found)
        # The name now (or at exit), not the one the first count of the
        # interval was made under: a child that exec'd after its first
        # syscalls, a prctl(PR_SET_NAME).
        renamed = self._current_names({tag >> 32 for tag in found})
        counts = []
        for tag, (total, comm, cgroup) in found.items():
            if total:
                nr, tgid = tag & 0xFFFFFFFF, tag >> 32
                name = decode(renamed.get(tgid, comm))
                counts.append(SyscallCount(tgid, nr, self.syscall_name(nr), total, name, cgroup))
        return SyscallSample(tuple(counts), self.lost())

    def _current_names(self, tgids: Any) -> dict[int, bytes]:
        """tgid -> the name each process took at its last rename (exec, prctl), where the kernel saw one."""
        table = self.table("names")
        out = {}
        for tgid in tgids:
            comm = table.lookup(_TGID.pack(tgid))  # struct filter_name: the comm
            if comm is not None:
                out[tgid] = comm[:COMM_LEN]
        return out

    def _read_cache(self, half: int, found: dict[int, list[Any]]) -> None:
        assert self._cache is not None
        view = self._cache.read(half)
        words = view.cast("Q")  # per (slot, CPU): tag, count, comm (2 words), cgroup
        ncpus = self._cache.ncpus
        n = _SLOT_WORDS
        used = itertools.compress(range(len(words) // n), words[1::n].tolist())
        slots: set[int] = set()
        for i in used:  # i = slot * ncpus + cpu, only where count != 0
            tag, count = words[n * i], words[n * i + 1]
            slots.add(i // ncpus)
            entry = found.get(tag)
            if entry is None:
                # The CPU that claimed the slot took comm and cgroup when it did.
                at = _SLOT_SIZE * i
                found[tag] = [count, bytes(view[at + 16 : at + 32]), words[n * i + 4]]
            else:
                entry[0] += count
        self._cache.zero(half, sorted(slots))

    @staticmethod
    def _read_hash(reader: libbpf.BatchReader, found: dict[int, list[Any]]) -> None:
        for key, (total,), created in reader.drain_summed(_COUNT, _COMM_CGROUP):
            if not total:
                continue
            tgid, nr = _KEY.unpack(key)
            tag = tgid << 32 | nr
            comm, cg = created[:16], int.from_bytes(created[16:24], "little")
            entry = found.get(tag)
            if entry is None:
                found[tag] = [total, comm, cg]
            else:
                entry[0] += total
                if not entry[1].rstrip(b"\0"):
                    entry[1], entry[2] = comm, cg

    def lost(self) -> int:
        if self._bpf is None:
            return 0
        return self.table("drops").sum(0)
