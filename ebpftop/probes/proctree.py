"""Process tree probe: fork/exec/exit records from a ring buffer, plus a /proc seed when enabled."""

from __future__ import annotations

import ctypes
import os
import struct
import time
from functools import cache
from pathlib import Path
from typing import Any

from ebpftop.model.proctree import EXEC, EXIT, FORK, ProcEvent, ProcSample, ProcSeed, decode_status
from ebpftop.model.sanitize import decode
from ebpftop.probes.base import Probe, ProbeError

VMLINUX_BTF = Path("/sys/kernel/btf/vmlinux")
EXIT_FORMAT = Path("/sys/kernel/tracing/events/sched/sched_process_exit/format")

# Limits of bpf/proctree.h, passed as -D so both sides agree.
MAX_ARGS = 16
ARG_LEN = 128
FILENAME_LEN = 256
ARGS_MASK = (1 << (MAX_ARGS * (ARG_LEN + 1) - 1).bit_length()) - 1  # see PT_ARGS_MASK
RINGBUF_PAGES = 1024  # 4 MiB: ~9000 short processes per interval

# struct pt_hdr {u32 type, pid, ppid; s32 aux; u64 time_ns; u64 flags; char comm[16];}
_HDR = struct.Struct("<IIIiQQ16s")
_EXEC_TAIL = struct.Struct(f"<{FILENAME_LEN}sII")  # filename, argc, args_len; args follow
_TYPES = {1: FORK, 2: EXEC, 3: EXIT}
_ARGV_MORE_ARGS, _ARGV_LONG_ARG = 1, 2

_BTF_KIND_STRUCT = 4
# Bytes after struct btf_type for each kind: (fixed, per vlen entry).
_BTF_EXTRA = {1: (4, 0), 3: (12, 0), 4: (0, 12), 5: (0, 12), 6: (0, 8), 13: (0, 8), 14: (4, 0), 15: (0, 12), 17: (4, 0), 19: (0, 12)}


@cache
def struct_offsets(struct_name: str, path: Path = VMLINUX_BTF) -> dict[str, int]:
    """Byte offsets of a struct's named members, read from the running kernel's BTF.

    Stops at the first struct of that name (task_struct is one of the first
    types), so this costs well under a millisecond.
    """
    data = path.read_bytes()
    magic, _ver, _flags, hdr_len, type_off, type_len, str_off, _str_len = struct.unpack_from("<HBBIIIII", data, 0)
    if magic != 0xEB9F:
        raise ProbeError(f"{path}: not BTF")
    types = hdr_len + type_off
    strings = hdr_len + str_off

    def name(off: int) -> str:
        end = data.index(b"\0", strings + off)
        return data[strings + off : end].decode()

    pos, end = types, types + type_len
    while pos < end:
        name_off, info, _size = struct.unpack_from("<III", data, pos)
        kind, vlen, kflag = (info >> 24) & 0x1F, info & 0xFFFF, info >> 31
        pos += 12
        fixed, per = _BTF_EXTRA.get(kind, (0, 0))
        if kind == _BTF_KIND_STRUCT and name(name_off) == struct_name:
            out = {}
            for i in range(vlen):
                m_name, _m_type, m_off = struct.unpack_from("<III", data, pos + 12 * i)
                bits = m_off & 0xFFFFFF if kflag else m_off
                if m_name:
                    out[name(m_name)] = bits // 8
            return out
        pos += fixed + per * vlen
    raise ProbeError(f"struct {struct_name} not in {path}")


def exit_has_group_dead(path: Path = EXIT_FORMAT) -> bool:
    """sched_process_exit gained a group_dead field in 6.x; without it only the leader's exit is used."""
    try:
        return "group_dead" in path.read_text()
    except OSError:
        return False


def _split_args(raw: bytes, argc: int) -> tuple[str, ...]:
    parts = raw.split(b"\0")[:argc]
    return tuple(decode(p) for p in parts)


class _BootClock:
    """CLOCK_BOOTTIME nanoseconds (the kernel's bpf_ktime_get_boot_ns) to epoch seconds."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.sync()

    def sync(self) -> None:
        self.offset = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)

    def epoch(self, boot_ns: int) -> float:
        return boot_ns / 1e9 + self.offset


def scan_processes(clock: _BootClock) -> tuple[tuple[ProcSeed, ...], float]:
    """Every process in /proc now (threads excluded), with its start time on the boot clock."""
    tick = os.sysconf("SC_CLK_TCK")
    scan_time = time.time()
    seeds = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            stat = Path(f"/proc/{pid}/stat").read_bytes()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        # comm may hold spaces and parentheses: it ends at the last ')'.
        lpar, rpar = stat.index(b"("), stat.rindex(b")")
        comm = stat[lpar + 1 : rpar]
        fields = stat[rpar + 2 :].split()
        state, ppid, starttime = fields[0], int(fields[1]), int(fields[19])
        try:
            exe: str | None = decode(os.fsencode(os.readlink(f"/proc/{pid}/exe")))
        except OSError:
            exe = None
        args = cmdline[:-1].split(b"\0") if cmdline else []
        seeds.append(
            ProcSeed(
                pid=pid,
                ppid=ppid,
                comm=decode(comm),
                argv=tuple(decode(a) for a in args),
                start=clock.epoch(starttime * 1_000_000_000 // tick),
                exe=exe,
                zombie=state in (b"Z", b"X"),
            )
        )
    return tuple(seeds), scan_time


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
        self._raw: list[bytes] = []
        self._seed: tuple[ProcSeed, ...] | None = None
        self._scan_time = 0.0
        self._clock = _BootClock()
        self._cb: Any = None

    def available(self) -> str | None:
        if not VMLINUX_BTF.exists():
            return f"{VMLINUX_BTF} missing: exit codes need the kernel's BTF"
        return None

    def cflags(self) -> list[str]:
        task = struct_offsets("task_struct")
        flags = [
            f"-DTASK_EXIT_CODE_OFF={task['exit_code']}",
            f"-DTASK_REAL_PARENT_OFF={task['real_parent']}",
            f"-DTASK_TGID_OFF={task['tgid']}",
            f"-DPT_MAX_ARGS={MAX_ARGS}",
            f"-DPT_ARG_LEN={ARG_LEN}",
            f"-DPT_FILENAME_LEN={FILENAME_LEN}",
            f"-DPT_RINGBUF_PAGES={self.ringbuf_pages}",
            f"-DPT_ARGS_MASK={ARGS_MASK}",
        ]
        if exit_has_group_dead():
            flags.append("-DPT_HAS_GROUP_DEAD")
        if self.selfcheck:
            flags.append("-DPT_SELFCHECK")
        return flags

    def attach(self) -> None:
        # The tracepoints attached as bcc loaded them: events flow from here
        # on, so the /proc scan below cannot miss a process (the model merges
        # the overlap).
        raw = self._raw

        def on_event(_ctx: Any, data: Any, size: int) -> int:
            raw.append(ctypes.string_at(data, size))
            return 0

        self._cb = on_event
        self.table("events").open_ring_buffer(on_event)
        self._clock.sync()
        self._seed, self._scan_time = scan_processes(self._clock)

    def detach(self, bpf: Any) -> None:
        self._raw.clear()
        self._seed = None
        self._cb = None

    def _parse(self, rec: bytes) -> ProcEvent | None:
        if len(rec) < _HDR.size:
            return None
        kind, pid, ppid, aux, time_ns, flags, comm = _HDR.unpack_from(rec, 0)
        typ = _TYPES.get(kind)
        when = self._clock.epoch(time_ns)
        if typ == FORK:
            return ProcEvent(FORK, pid, ppid, decode(comm), when, clone_flags=flags)
        if typ == EXIT:
            code, sig, core = decode_status(aux)
            return ProcEvent(EXIT, pid, ppid, decode(comm), when, exit_code=code, signal=sig, core=core)
        if typ == EXEC and len(rec) >= _HDR.size + _EXEC_TAIL.size:
            filename, argc, args_len = _EXEC_TAIL.unpack_from(rec, _HDR.size)
            start = _HDR.size + _EXEC_TAIL.size
            args = rec[start : start + args_len]
            return ProcEvent(
                EXEC,
                pid,
                ppid,
                decode(comm),
                when,
                filename=decode(filename),
                argv=_split_args(args, argc),
                argv_truncated=bool(flags & (_ARGV_MORE_ARGS | _ARGV_LONG_ARG)),
            )
        return None

    def read(self) -> ProcSample:
        if self._bpf is None:
            return ProcSample((), 0, time.time())
        self._bpf.ring_buffer_consume()
        raw, self._raw[:] = list(self._raw), []
        self._clock.sync()
        events = tuple(e for e in map(self._parse, raw) if e is not None)
        seed, self._seed = self._seed, None
        return ProcSample(events, self.lost(), time.time(), seed=seed, scan_time=self._scan_time)

    def _sum(self, name: str) -> int:
        if self._bpf is None:
            return 0
        return int(self.table(name).sum(0).value)

    def lost(self) -> int:
        return self._sum("lost")

    def attempts(self) -> int:
        """Records the kernel tried to queue (only with selfcheck=True)."""
        return self._sum("attempts") if self.selfcheck else 0
