"""Process tree probe: fork/exec/exit records from a ring buffer, plus a /proc seed when enabled."""

from __future__ import annotations

import dataclasses
import os
import struct
import time
from pathlib import Path
from typing import Any

from ebpftop.model.proctree import EXEC, EXIT, FORK, RENAME, ProcEvent, ProcSample, ProcSeed, decode_status
from ebpftop.model.sanitize import decode
from ebpftop.probes.base import Probe, ProbeError
from ebpftop.probes.btf import VMLINUX_BTF, offset_defines, struct_offsets, struct_size
from ebpftop.probes.loader import Ring, ring_of
from ebpftop.procscan import ProcScanner

EXIT_FORMAT = Path("/sys/kernel/tracing/events/sched/sched_process_exit/format")

# Documented argv limit: the first MAX_ARGS arguments of up to ARG_LEN bytes
# each; the kernel copies the first ARGV_AREA bytes of the argument strings.
MAX_ARGS = 16
ARG_LEN = 128
ARGV_AREA = 4096  # bytes, power of two; 16 x (128 + NUL) fits with room to spare
FILENAME_LEN = 256
RINGBUF_PAGES = 1024  # 4 MiB: ~9000 short processes per interval

# struct pt_hdr {u32 type, pid, ppid; s32 aux; u64 time_ns; u64 flags; u64 start; char comm[16];
#                u64 cgroup; s32 ns_pid; u32 ns_level;}
_HDR = struct.Struct("<IIIiQQQ16sQiI")
_EXEC_TAIL = struct.Struct(f"<{FILENAME_LEN}sII")  # filename, args_total, args_len; args follow
# Record types and the exec flag, passed to bpf/proctree.h with -D (PT_<key>).
EVENT_TYPES = {"FORK": 1, "EXEC": 2, "EXIT": 3, "RENAME": 4}
_TYPES = {
    EVENT_TYPES["FORK"]: FORK,
    EVENT_TYPES["EXEC"]: EXEC,
    EVENT_TYPES["EXIT"]: EXIT,
    EVENT_TYPES["RENAME"]: RENAME,
}
_ARGV_FAULT = 1


def split_argv(area: bytes, total: int) -> tuple[tuple[str, ...], bool]:
    """The kernel's NUL-separated argument area to (argv within the limit, truncated?).

    ``area`` is the copied prefix of an area ``total`` bytes long; a cut area
    ends in a partial argument, which is kept (cut) and marks the result.
    """
    cut = total > len(area)
    parts = area.split(b"\0")
    if not cut and parts and parts[-1] == b"":
        parts.pop()  # the NUL after the last argument
    truncated = cut or len(parts) > MAX_ARGS or any(len(p) > ARG_LEN for p in parts[:MAX_ARGS])
    return tuple(decode(p[:ARG_LEN]) for p in parts[:MAX_ARGS]), truncated


def where_cflags() -> list[str]:
    """-D offsets for where a process lives (its child's cgroup at fork, its PID in its namespace), or
    PT_NO_CGROUP_CHAIN / PT_NO_NS_PID where the kernel's BTF lacks a member (then: from the parent, 0)."""
    chain, missing = offset_defines(
        "",
        (
            ("TASK_CGROUPS_OFF", "task_struct", "cgroups"),
            ("CSS_SET_DFL_CGRP_OFF", "css_set", "dfl_cgrp"),
            ("CGROUP_KN_OFF", "cgroup", "kn"),
            ("KERNFS_NODE_ID_OFF", "kernfs_node", "id"),
        ),
    )
    flags = chain if not missing else ["-DPT_NO_CGROUP_CHAIN"]
    ns, missing = offset_defines(
        "",
        (
            ("TASK_GROUP_LEADER_OFF", "task_struct", "group_leader"),
            ("TASK_THREAD_PID_OFF", "task_struct", "thread_pid"),
            ("PID_LEVEL_OFF", "pid", "level"),
            ("PID_NUMBERS_OFF", "pid", "numbers"),
            ("UPID_NR_OFF", "upid", "nr"),
        ),
    )
    try:
        upid = struct_size("upid")
    except (ProbeError, OSError):
        missing.append("upid")
    return [*flags, *ns, f"-DUPID_SIZE={upid}"] if not missing else [*flags, "-DPT_NO_NS_PID"]


def exit_has_group_dead(path: Path = EXIT_FORMAT) -> bool:
    """sched_process_exit gained a group_dead field in 6.x; without it only the leader's exit is used."""
    try:
        return "group_dead" in path.read_text()
    except OSError:
        return False


class _BootClock:
    """CLOCK_BOOTTIME nanoseconds (the kernel's bpf_ktime_get_boot_ns) to epoch seconds."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.sync()

    def sync(self) -> None:
        self.offset = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)

    def epoch(self, boot_ns: int) -> float:
        return boot_ns / 1e9 + self.offset


def scan_processes(clock: _BootClock, scanner: ProcScanner) -> tuple[tuple[ProcSeed, ...], float]:
    """Every process in /proc now (threads excluded), with its start time on the boot clock.

    The reads happen in the scanner's helper process (see ebpftop.procscan):
    a process whose cmdline cannot be read in time keeps its name and parent
    from /proc/PID/stat and carries the reason its argv is unknown.
    """
    tick = os.sysconf("SC_CLK_TCK")
    scan_time = time.time()
    seeds = []
    for info in scanner.scan():
        cmdline = info.cmdline
        args = cmdline[:-1].split(b"\0") if cmdline else []
        seeds.append(
            ProcSeed(
                pid=info.pid,
                ppid=info.ppid,
                comm=decode(info.comm),
                argv=tuple(decode(a) for a in args),
                start=clock.epoch(info.starttime * 1_000_000_000 // tick),
                exe=decode(info.exe) if info.exe is not None else None,
                zombie=info.state in ("Z", "X"),
                argv_unknown=info.unknown,
                cgroup=info.cgroup,
                ns_pid=info.ns_pid,
                ns_level=info.ns_level,
            )
        )
    return tuple(seeds), scan_time


class _Orphans:
    """pid -> ppid of running processes, from the seed and the events, to spot orphans.

    When a process exits the kernel hands its children to init or the nearest
    subreaper; the event stream does not say which, so the children's new
    parent is read from /proc once, at the end of the read that saw the exit.
    """

    def __init__(self, seed: tuple[ProcSeed, ...]) -> None:
        self.parent: dict[int, int] = {}
        self.children: dict[int, set[int]] = {}
        for s in seed:
            self._set(s.pid, s.ppid)

    def _set(self, pid: int, ppid: int) -> None:
        old = self.parent.get(pid)
        if old is not None:
            self.children.get(old, set()).discard(pid)
        self.parent[pid] = ppid
        self.children.setdefault(ppid, set()).add(pid)

    def _drop(self, pid: int) -> set[int]:
        old = self.parent.pop(pid, None)
        if old is not None:
            self.children.get(old, set()).discard(pid)
        return self.children.pop(pid, set())

    def reconcile(self, events: tuple[ProcEvent, ...], ppid_of: Any) -> tuple[tuple[int, int], ...]:
        """Follow the events; return (pid, new ppid) for every child of an exited process still alive.

        ``ppid_of(pid)`` is a process's parent now, None if it is gone or unknown.
        """
        pending: set[int] = set()
        for ev in events:
            if ev.type == FORK:
                self._drop(ev.pid)
                pending.discard(ev.pid)
                self._set(ev.pid, ev.ppid)
            elif ev.type == EXEC:
                if ev.ppid:
                    self._set(ev.pid, ev.ppid)
            elif ev.type == EXIT:
                pending.discard(ev.pid)
                pending |= self._drop(ev.pid)
        moved = []
        for pid in sorted(pending):
            ppid = ppid_of(pid)
            if ppid is not None and pid in self.parent:
                self._set(pid, ppid)
                moved.append((pid, ppid))
        return tuple(moved)


class ProcTreeProbe(Probe):
    name = "proctree"
    source = "proctree.bpf.c"
    # The tree needs every event (a new child is never in a PID set), so the
    # PID filter is applied to the subtree in the model instead.
    filter_maps = None

    def __init__(self, ringbuf_pages: int = RINGBUF_PAGES, selfcheck: bool = False) -> None:
        super().__init__()
        self.ringbuf_pages = ringbuf_pages
        self.selfcheck = selfcheck
        self._ring: Ring | None = None  # the events ring buffer, read in place (probes/loader.py)
        self._seed: tuple[ProcSeed, ...] | None = None
        self._scan_time = 0.0
        self._clock = _BootClock()
        self._orphans = _Orphans(())
        self._comms: dict[bytes, str] = {}
        # Reads of other processes' /proc files, in a helper process that may
        # be abandoned: never on this (the sampler's) thread.
        self._scanner = ProcScanner()

    def available(self) -> str | None:
        if not VMLINUX_BTF.exists():
            return f"{VMLINUX_BTF} missing: exit codes need the kernel's BTF"
        return None

    def cflags(self) -> list[str]:
        task, mm = struct_offsets("task_struct"), struct_offsets("mm_struct")
        flags = [
            f"-DTASK_EXIT_CODE_OFF={task['exit_code']}",
            f"-DTASK_REAL_PARENT_OFF={task['real_parent']}",
            f"-DTASK_TGID_OFF={task['tgid']}",
            f"-DTASK_COMM_OFF={task['comm']}",
            f"-DTASK_MM_OFF={task['mm']}",
            f"-DMM_ARG_START_OFF={mm['arg_start']}",
            f"-DMM_ARG_END_OFF={mm['arg_end']}",
            f"-DPT_ARGV_AREA={ARGV_AREA}",
            f"-DPT_FILENAME_LEN={FILENAME_LEN}",
            f"-DPT_RINGBUF_PAGES={self.ringbuf_pages}",
            *(f"-DPT_{name}={value}" for name, value in EVENT_TYPES.items()),
            f"-DPT_ARGV_FAULT={_ARGV_FAULT}",
            # The record layout decoded here; proctree.h static-asserts it.
            f"-DPT_HDR_SIZE={_HDR.size}",
            f"-DPT_EXEC_ARGS_OFF={_HDR.size + _EXEC_TAIL.size}",
        ]
        if exit_has_group_dead():
            flags.append("-DPT_HAS_GROUP_DEAD")
        flags += where_cflags()
        if self.selfcheck:
            flags.append("-DPT_SELFCHECK")
        return flags

    def attach(self) -> None:
        # The tracepoints are attached (enable()): events flow from here on,
        # so the /proc scan below cannot miss a process (the model merges the
        # overlap).
        self._ring = ring_of(self.table("events"))
        self._clock.sync()
        seed, self._scan_time = scan_processes(self._clock, self._scanner)
        self._seed = self._with_ticks(seed)
        self._orphans = _Orphans(self._seed)

    def _with_ticks(self, seed: tuple[ProcSeed, ...]) -> tuple[ProcSeed, ...]:
        """Each seed's start back in clock ticks (what /proc gave, what the kernel compares).

        scan_processes made ``start`` from /proc's ticks with this clock's
        offset, unchanged since: the inverse rounds back to the exact ticks.
        """
        if not self._has_start:
            return seed
        tick, offset = os.sysconf("SC_CLK_TCK"), self._clock.offset
        return tuple(dataclasses.replace(s, start_ticks=round((s.start - offset) * tick)) for s in seed)

    def detach(self, bpf: Any) -> None:
        self._scanner.close()
        if self._ring is not None:
            self._ring.close()
            self._ring = None
        self._seed = None

    def _comm(self, raw: bytes) -> str:
        """decode() of a comm, remembered: a flood repeats a handful of names thousands of times."""
        text = self._comms.get(raw)
        if text is None:
            if len(self._comms) >= 4096:
                self._comms.clear()
            text = self._comms[raw] = decode(raw)
        return text

    def _parse(self, rec: bytes) -> ProcEvent | None:
        if len(rec) < _HDR.size:
            return None
        kind, pid, ppid, aux, time_ns, flags, ticks, raw_comm, cgroup, ns_pid, ns_level = _HDR.unpack_from(rec, 0)
        typ = _TYPES.get(kind)
        when = self._clock.epoch(time_ns)
        comm = self._comm(raw_comm)
        ident = ticks if self._has_start else None
        at = {"cgroup": cgroup, "ns_pid": ns_pid, "ns_level": ns_level}
        if typ == FORK:
            return ProcEvent(FORK, pid, ppid, comm, when, clone_flags=flags, start_ticks=ident, **at)
        if typ == RENAME:
            return ProcEvent(RENAME, pid, ppid, comm, when, start_ticks=ident, **at)
        if typ == EXIT:
            code, sig, core = decode_status(aux)
            return ProcEvent(
                EXIT, pid, ppid, comm, when, exit_code=code, signal=sig, core=core, start_ticks=ident, **at
            )
        if typ == EXEC and len(rec) >= _HDR.size + _EXEC_TAIL.size:
            filename, total, args_len = _EXEC_TAIL.unpack_from(rec, _HDR.size)
            start = _HDR.size + _EXEC_TAIL.size
            argv, truncated = split_argv(rec[start : start + args_len], total)
            return ProcEvent(
                EXEC,
                pid,
                ppid,
                comm,
                when,
                filename=decode(filename),
                argv=argv,
                argv_truncated=truncated or bool(flags & _ARGV_FAULT),
                start_ticks=ident,
                **at,
            )
        return None

    def read(self) -> ProcSample:
        if self._bpf is None or self._ring is None:
            return ProcSample((), 0, time.time())
        raw = self._ring.read()
        self._clock.sync()
        events = tuple(e for e in map(self._parse, raw) if e is not None)
        seed, self._seed = self._seed, None
        reparents = self._orphans.reconcile(events, self._ppid_of)
        return ProcSample(events, self.lost(), time.time(), seed=seed, scan_time=self._scan_time, reparents=reparents)

    def _ppid_of(self, pid: int) -> int | None:
        """A process's parent now (None if it is gone, or the helper could not say in time)."""
        stat = self._scanner.stats([pid]).get(pid)
        return int(stat[1]) if stat else None

    def _sum(self, name: str) -> int:
        if self._bpf is None:
            return 0
        return self.table(name).sum(0)

    def lost(self) -> int:
        return self._sum("lost")

    def attempts(self) -> int:
        """Records the kernel tried to queue (only with selfcheck=True)."""
        return self._sum("attempts") if self.selfcheck else 0
