"""Files probe: read/write bytes and ops per open file from syscall tracepoints, each named by the kernel."""

from __future__ import annotations

import ctypes
import dataclasses
import mmap
import os
import struct
from collections import OrderedDict, deque
from typing import Any

from ebpftop.model.files import ANON, PIPE, SOCKET, FileIO, FilesSample
from ebpftop.model.sanitize import decode
from ebpftop.probes import fdnames, libbpf
from ebpftop.probes.base import Probe
from ebpftop.probes.btf import VMLINUX_BTF, pt_regs_cflags
from ebpftop.probes.fdnames import FdName
from ebpftop.probes.loader import Ring, ring_of

# Burst capacity. A burst of new files (make -j, rsync, git checkout: tens of
# thousands a second) creates a stats key and a name per file; the program
# wakes the sampler when a stats half passes FILL_MARK of its keys or the name
# ring holds RING_MARK unread bytes, and the probe drains then (collect()),
# so a burst is read before the maps fill, whatever the display interval.
STATS_BUDGET = 16 * 2**20  # kernel memory for both stats halves (per-CPU values included)
MIN_ENTRIES, MAX_ENTRIES_CAP = 16384, 65536  # FL_MAX_ENTRIES bounds, whatever the budget
_HTAB_ELEM = 48  # the kernel's per-element header of a hash map (struct htab_elem), about
RING_PAGES = 1024  # FL_RING_PAGES: 4 MiB of names, ~28 000 records of a 60-byte path
MAX_NAMES = 16384  # FL_MAX_NAMES: keys whose name the kernel sent (LRU); the cache below is twice that
# Names of open files remembered after their record was read, in two segments (a segmented LRU):
# a name enters on probation and is kept once its key does I/O in a later drain. A burst's files
# (named once, closed at once) pass through probation and never push out a long-lived file's
# name, which the kernel will not send again (the 200 000-file burst cost 9-13 such names).
CACHE_SIZE = 2 * MAX_NAMES  # on probation
KEPT_SIZE = 2 * MAX_NAMES  # kept
INTERVAL_KEYS = 1 << 16  # keys one read() decodes; past it, drained keys wait for the next read
# Drained bytes waiting for read() at most: past it collect() leaves the rest in the kernel's maps,
# where what does not fit is counted lost. A key and its name take ~230 bytes here (2 CPUs): ~140 000
# keys of a burst wait while the sampler decodes (~20 000 a second on this box).
PENDING_BUDGET = 32 * 2**20
# Passed to bpf/files.h with -D (contract_cflags). lost[] slots: FL_LOST_<define> -> cause, in slot order.
LOST = {"STATS": "stats_full", "PATH": "name_not_stored", "FDS": "fds_full"}
LOST_SLOTS = len(LOST)
_LOST_PATH = list(LOST).index("PATH")
# fill[] slots: 0 and 1 keys per stats half, then the name ring's bytes produced and consumed.
FILL = {"PRODUCED": 2, "CONSUMED": 3}
FILL_SLOTS = 4
# FL_KIND_*: what the kernel saw create the fd, in the low KIND_BITS of a
# generation; used when its name record is gone.
KIND_BITS = 3
KIND_MASK = (1 << KIND_BITS) - 1
KINDS = {"NONE": 0, "OPEN": 1, "SOCKET": 2, "PIPE": 3, "ANON": 4, "DUP": 5, "OTHER": 6}
_KERNEL_KINDS = {KINDS["SOCKET"]: SOCKET, KINDS["PIPE"]: PIPE, KINDS["ANON"]: ANON}

_KEY = struct.Struct("<IiQ")  # struct fl_key {u32 tgid; s32 fd; u64 gen;}
_COUNTS = struct.Struct("<QQQQ")  # struct fl_val {reads, writes, read_bytes, write_bytes; comm[16]; cgroup}
_VALUE_SIZE = 56
_COMM = (32, 48)  # fl_val.comm
_SLOT = struct.Struct("<QQQQ16sQ")  # one CPU's struct fl_val (56 bytes: 8-aligned, so also the per-CPU stride)


def stats_entries(ncpus: int, budget: int = STATS_BUDGET) -> int:
    """FL_MAX_ENTRIES for this many CPUs: the largest power of 2 whose two halves fit the budget, within bounds.

    Each key holds its value once per possible CPU (a per-CPU hash), so a
    64-CPU box gets fewer keys per half than a 2-CPU one for the same memory;
    the early drain (FILL_MARK) is what keeps a burst from filling them.
    """
    per_key = 2 * (_HTAB_ELEM + _KEY.size + 8 + ncpus * _VALUE_SIZE)
    n = min(MAX_ENTRIES_CAP, max(MIN_ENTRIES, budget // per_key))
    return 1 << (n.bit_length() - 1)


def contract_cflags() -> list[str]:
    """-D for the constants files.h takes from here: lost[] slots and fd kinds."""
    return [
        *(f"-DFL_LOST_{define}={slot}" for slot, define in enumerate(LOST)),
        f"-DFL_LOST_SLOTS={LOST_SLOTS}",
        *(f"-DFL_FILL_{define}={slot}" for define, slot in FILL.items()),
        f"-DFL_FILL_SLOTS={FILL_SLOTS}",
        f"-DFL_KIND_BITS={KIND_BITS}",
        *(f"-DFL_KIND_{kind}={value}" for kind, value in KINDS.items()),
    ]


class FilesProbe(Probe):
    name = "files"
    source = "files.bpf.c"
    cgroup_filter = True

    def __init__(
        self,
        max_entries: int | None = None,
        ring_pages: int = RING_PAGES,
        max_names: int = MAX_NAMES,
        interval_keys: int = INTERVAL_KEYS,
        pending_budget: int = PENDING_BUDGET,
    ) -> None:
        super().__init__()
        self.max_entries = max_entries or stats_entries(libbpf.possible_cpus())
        self.ring_pages = ring_pages
        self.max_names = max_names
        self.interval_keys = interval_keys
        self.pending_budget = pending_budget
        # Marks past which the program wakes the sampler to drain now: a
        # quarter of a stats half, a quarter of the ring. The three quarters
        # left are what the sampler may lag (writing a frame of a burst's
        # rows takes it a second or more on a busy box).
        self.fill_mark = max(1, self.max_entries // 4)
        self.ring_mark = ring_pages * mmap.PAGESIZE // 4
        # One reader per stats buffer (epoch half); the kernel counts into the other.
        self._readers: tuple[libbpf.BatchReader, libbpf.BatchReader] | None = None
        self._ring: Ring | None = None
        self._fill_fd = self._ring_fd = -1
        # Key bytes -> name: names read from the ring and not yet asked for
        # (this drain's, and the previous one's), and the LRU cache of names
        # asked for (a key's file never changes while it is in use).
        self._fresh: dict[bytes, bytes] = {}
        self._older: dict[bytes, bytes] = {}
        self._names: OrderedDict[bytes, FdName] = OrderedDict()  # on probation
        self._kept: OrderedDict[bytes, FdName] = OrderedDict()
        # Drains copied by collect() (the drain thread) and not decoded yet:
        # (name records, keys, per-CPU values, count, bytes held), oldest first. Appended
        # under _drain_lock; only read() takes them off.
        self._pending: deque[tuple[list[bytes], bytes, bytes, int, int]] = deque()
        self._pending_bytes = 0
        self._last = False  # finish() was called: the next read decodes every pending drain
        # This interval's keys so far, by key bytes.
        self._interval: dict[bytes, FileIO] = {}
        self._comms: dict[bytes, str] = {}
        self._ncpus = 1
        self._evicted = 0

    def available(self) -> str | None:
        if os.uname().machine != "x86_64":
            return f"files probe reads x86-64 syscall registers; this machine is {os.uname().machine}"
        if not os.path.exists(VMLINUX_BTF):
            return f"{VMLINUX_BTF} missing: the files probe needs the kernel's BTF (pt_regs, struct file offsets)"
        return None

    def cflags(self) -> list[str]:
        return [
            f"-DFL_MAX_ENTRIES={self.max_entries}",
            f"-DFL_MAX_NAMES={self.max_names}",
            f"-DFL_RING_PAGES={self.ring_pages}",
            f"-DFL_FILL_MARK={self.fill_mark}ULL",
            f"-DFL_RING_MARK={self.ring_mark}LL",
            *contract_cflags(),
            *pt_regs_cflags(),
            *fdnames.cflags(),
        ]

    def layouts(self) -> dict[str, tuple[int | None, int | None]]:
        return {
            "stats": (_KEY.size, _VALUE_SIZE),
            "stats_b": (_KEY.size, _VALUE_SIZE),
            "named": (_KEY.size, 1),
            "fill": (4, 8),
        }

    def attach(self) -> None:
        # Every TRACEPOINT_PROBE attached itself when bcc loaded it.
        ncpus = self._ncpus = libbpf.possible_cpus()
        self._readers = tuple(  # type: ignore[assignment]
            libbpf.BatchReader(self.table(name).map_fd, _KEY.size, _VALUE_SIZE, self.max_entries, ncpus)
            for name in ("stats", "stats_b")
        )
        ring = self.table("name_ring")
        self._ring_fd = ring.map_fd
        self._ring = ring_of(ring)
        self._fill_fd = self.table("fill").map_fd

    def detach(self, bpf: Any) -> None:
        # Under _drain_lock (Probe.disable): no collect() is running.
        self._readers = None
        if self._ring is not None:
            self._ring.close()
            self._ring = None
        self._fill_fd = -1
        self._fresh, self._older, self._interval = {}, {}, {}
        self._pending.clear()
        self._pending_bytes = 0
        self._last = False  # a toggle's last read is over: once on again, reads are capped again
        self._names.clear()
        self._kept.clear()
        # lost() was added to the sampler's base as the probe went off: a new
        # enable counts its own evictions from zero (it counted them twice).
        self._evicted = 0

    def wake_fd(self) -> int | None:
        """The name ring: readable (edge) when the program asks for an early drain."""
        return self._ring_fd if self._ring is not None else None

    # -- naming ---------------------------------------------------------------
    def _name(self, key: bytes, fd: int, gen: int) -> FdName:
        """What the kernel recorded of this key's struct file at its first I/O; unknown when no record is left.

        No filesystem call here, on purpose: see probes/fdnames.py.
        """
        hit = self._kept.get(key)
        if hit is not None:
            self._kept.move_to_end(key)
            return hit
        hit = self._names.pop(key, None)
        if hit is not None:  # its second drain: a file in use, kept
            self._kept[key] = hit
            if len(self._kept) > KEPT_SIZE:
                old, name = self._kept.popitem(last=False)
                self._remember(old, name)  # back on probation, newest there
            return hit
        raw = self._fresh.pop(key, None) or self._older.pop(key, None)
        if raw is None:
            # The record was lost (ring full, cache evicted) or the fd closed
            # under its first I/O: say what made the fd if the kernel saw it,
            # never guess a path.
            self._evicted += 1
            made = _KERNEL_KINDS.get(gen & KIND_MASK)
            return FdName(made, f"fd:{fd}") if made else fdnames.unknown(fd)
        named = fdnames.describe(raw)
        if gen:  # generation 0 (fds map full) may be another file next time
            self._remember(key, named)
        return named

    def _remember(self, key: bytes, name: FdName) -> None:
        self._names[key] = name
        if len(self._names) > CACHE_SIZE:
            self._names.popitem(last=False)

    def _fill_write(self, slot: int, value: int) -> None:
        libbpf.map_update_elem(
            self._fill_fd, ctypes.byref(ctypes.c_uint32(slot)), ctypes.byref(ctypes.c_uint64(value)), "files fill"
        )

    # -- reading --------------------------------------------------------------
    def collect(self) -> bool:
        """Copy what the kernel holds (the written stats half, the ring's records) for read() to decode.

        The drain thread calls this when the program asks (a stats half or the
        ring passed its mark), and read() before decoding. Only copies: at a
        burst's rate the decoding lags by seconds, and the kernel's maps must
        not wait for it. False when nothing was copied (off, or no room left
        under pending_budget: the kernel's maps then hold the rest).
        """
        with self._drain_lock:
            if self._readers is None or self._ring is None or self._pending_bytes >= self.pending_budget:
                return False
            half = self.flip_epoch()  # the stats buffer no program writes any more
            # After the flip's grace period every name of a key in that half is on the ring.
            records = self._ring.read()
            self._fill_write(FILL["CONSUMED"], self._ring.consumed)
            keys_v, values_v, n = self._readers[half].drain()
            keys, values = keys_v.tobytes(), values_v.tobytes()
            self._fill_write(half, 0)
            size = len(keys) + len(values) + sum(map(len, records))
            self._pending.append((records, keys, values, n, size))
            self._pending_bytes += size
            return True

    def _decode(self, records: list[bytes], keys_b: bytes, values: bytes, n: int) -> None:
        """One drain into this interval's keys; written for speed (a burst is tens of thousands of keys)."""
        fresh = self._fresh
        for rec in records:
            if len(rec) > _KEY.size:  # a key alone only woke us
                fresh[rec[: _KEY.size]] = rec[_KEY.size :]
        slots = _SLOT.iter_unpack(values)
        ncpus, ks, interval, comms = self._ncpus, _KEY.size, self._interval, self._comms
        for i in range(n):
            reads = writes = rbytes = wbytes = cgroup = 0
            comm = b""
            for _cpu in range(ncpus):
                r, w, rb, wb, c, cg = next(slots)
                reads += r
                writes += w
                rbytes += rb
                wbytes += wb
                if not comm and c[0]:
                    comm, cgroup = c, cg  # only the CPU that made the key wrote its comm and cgroup
            if not (reads or writes):
                continue
            key = keys_b[i * ks : (i + 1) * ks]
            have = interval.get(key)
            if have is not None:  # drained before in this interval
                interval[key] = dataclasses.replace(
                    have, reads=have.reads + reads, writes=have.writes + writes,
                    read_bytes=have.read_bytes + rbytes, write_bytes=have.write_bytes + wbytes,
                )
                continue
            tgid, fd, gen = _KEY.unpack(key)
            name = comms.get(comm)
            if name is None:
                if len(comms) > 4096:
                    comms.clear()
                name = comms[comm] = decode(comm.rstrip(b"\0"))
            f = self._name(key, fd, gen)
            interval[key] = FileIO(
                tgid, fd, gen, f.path, f.type, name, reads, writes, rbytes, wbytes,
                f.dev, f.ino, f.deleted, f.truncated, cgroup,
            )
        # A record's key is drained within two drains of its reading; older ones were lost with their key.
        self._older, self._fresh = self._fresh, {}

    def finish(self) -> None:
        self._last = True

    def read(self) -> FilesSample:
        """Everything drained so far, decoded; past interval_keys keys the rest waits for the next read
        (the last read, after finish(), takes it all).

        So a burst's frame never holds more than about interval_keys files,
        and memory is bounded by that and pending_budget: nothing is dropped
        in user space, a frame may come late and count what happened before it.
        """
        if self._readers is None:
            return FilesSample(())
        self.collect()
        pending = self._pending
        while pending and (self._last or not self._interval or len(self._interval) < self.interval_keys):
            with self._drain_lock:
                records, keys, values, n, size = pending.popleft()
                self._pending_bytes -= size
            self._decode(records, keys, values, n)
        out = tuple(self._interval.values())
        self._interval = {}
        return FilesSample(out, self.lost())

    def lost(self) -> int:
        """I/O not counted (stats or fds map full) and keys left unnamed, each once.

        A name the ring had no room for (name_not_stored) is not added: its
        key is drained without a name and counted then, as name_evicted.
        """
        if self._bpf is None:
            return self._evicted
        table = self.table("lost")
        kernel = sum(table.sum(i) for i in range(LOST_SLOTS) if i != _LOST_PATH)
        return self._evicted + kernel

    def lost_by_cause(self) -> dict[str, int]:
        """The kernel's lost counters by cause plus the names found evicted and the I/O past an interval's keys."""
        if self._bpf is None:
            return {}
        table = self.table("lost")
        out = {cause: table.sum(i) for i, cause in enumerate(LOST.values())}
        out["name_evicted"] = self._evicted
        return out
