"""Reads other processes' /proc files in a helper process, so a read that never returns costs a name, not the monitor.

A read of /proc/PID/cmdline takes the target's mmap_lock: when the target is
stuck in a page fault on a hung FUSE or NFS mount (or a writer of the lock
queues behind such a fault) the read waits in the kernel with no timeout, and
a task in D state keeps its whole process, and so every BPF program and link
whose fd it holds, alive even after SIGKILL. So the monitor never makes that
read itself: a small helper process, started with none of our fds
(``close_fds``), does it and streams one record per process over a pipe. The
sampler waits on the pipe with a deadline; a helper that stalls is killed and
abandoned (it holds nothing of ours; it is reaped whenever it can end), the
process it stalled on is remembered and skipped, and a fresh helper carries
on with the rest. A process whose argv could not be read keeps its name and
parent from /proc/PID/stat (which takes no mmap_lock) and says why its argv
is missing.

This file is also the helper itself: run as a script (``python -I -S
procscan.py``) it answers JSON-line requests on stdin with JSON lines on
stdout; bytes travel as latin-1 strings, exactly.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

STALL_S = 2.0  # a helper silent this long with work pending is abandoned
MAX_STUCK = 4  # abandoned helpers still stuck in the kernel before no new one is started
STALLED = f"argv unknown: reading /proc/PID/cmdline did not return in {STALL_S:g} s (process blocked in the kernel)"
NO_HELPER = "argv unknown: /proc reader helpers are stuck in the kernel"


# -- the helper (its own process) ----------------------------------------------
def _stat(pid: int) -> list[object] | None:
    """[pid, ppid, comm, state, starttime] from /proc/PID/stat, None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # comm may hold spaces and parentheses: it ends at the last ')'.
    lpar, rpar = stat.index(b"("), stat.rindex(b")")
    fields = stat[rpar + 2 :].split()
    return [pid, int(fields[1]), stat[lpar + 1 : rpar].decode("latin-1"), fields[0].decode("latin-1"), int(fields[19])]


_V2: list[str | None] = []  # the cgroup v2 mount, found once


def _v2_mount() -> str | None:
    if not _V2:
        found = None
        try:
            with open("/proc/self/mountinfo", encoding="latin-1") as f:
                for line in f:
                    left, _, right = line.partition(" - ")
                    if right.startswith("cgroup2 "):
                        found = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), left.split(" ")[4])
                        break
        except OSError:
            pass
        _V2.append(found)
    return _V2[0]


def _where(pid: int) -> list[int]:
    """[cgroup v2 id or 0, PID in its own namespace or 0, that namespace's depth]: where it lives now."""
    cgroup = ns_pid = level = 0
    mount = _v2_mount()
    try:
        with open(f"/proc/{pid}/cgroup", "rb") as f:
            for line in f:
                if line.startswith(b"0::") and mount is not None:
                    path = line[3:].rstrip(b"\n").decode("latin-1")
                    cgroup = os.stat(mount + path.rstrip("/") if path != "/" else mount).st_ino
    except (OSError, ValueError):
        pass
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"NSpid:"):
                    pids = line.split()[1:]
                    ns_pid, level = int(pids[-1]), len(pids) - 1
                    break
    except (OSError, ValueError):
        pass
    return [cgroup, ns_pid, level]


def _argv(pid: int) -> list[object]:
    """[pid, cmdline or None, exe or None, cgroup, ns_pid, ns_level]."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline: str | None = f.read().decode("latin-1")
    except OSError:
        cmdline = None
    try:
        exe: str | None = os.readlink(f"/proc/{pid}/exe".encode()).decode("latin-1")
    except OSError:
        exe = None
    return [pid, cmdline, exe, *_where(pid)]


def serve() -> None:
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        req = json.loads(line)
        pids = req.get("pids")
        if req["op"] == "stat":
            if pids is None:
                pids = [int(e.name) for e in os.scandir("/proc") if e.name.isdigit()]
            for pid in pids:
                out.write(json.dumps({"s": _stat(pid) or [pid]}).encode() + b"\n")
        elif req["op"] == "argv":
            for pid in pids:
                out.write(json.dumps({"a": _argv(pid)}).encode() + b"\n")
                out.flush()  # everything before a read that stalls is already with the sampler
        out.write(b'{"end":1}\n')
        out.flush()


# -- the monitor's side ---------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ProcInfo:
    """What the helper read of one process; raw bytes, not yet decoded for display."""

    pid: int
    ppid: int
    comm: bytes
    state: str
    starttime: int  # clock ticks since boot
    cmdline: bytes | None = None
    exe: bytes | None = None
    unknown: str | None = None  # why cmdline is missing, when it is for a reason worth showing
    cgroup: int = 0  # cgroup v2 id (0: unknown)
    ns_pid: int = 0  # PID in its own PID namespace (0: unknown)
    ns_level: int = 0


# One JSON array the helper wrote: [pid, ppid, comm, state, starttime] or [pid, cmdline, exe].
_Record = list[Any]


class _Stalled(Exception):
    """The helper stalled or died; args[0] holds the records it sent before."""


class _NoHelper(Exception):
    """Too many helpers are stuck in the kernel to start another."""


class ProcScanner:
    """The monitor's end: requests with a deadline to a helper it can abandon. One thread uses it."""

    def __init__(self, stall_s: float = STALL_S) -> None:
        self.stall_s = stall_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._buf = b""
        self._stuck: list[subprocess.Popen[bytes]] = []  # abandoned after a stall, not yet reaped
        self._closed: list[subprocess.Popen[bytes]] = []  # killed at close(), not yet reaped
        self._skip: dict[int, int] = {}  # pid -> start time: its cmdline read stalled a helper
        self.stalls = 0  # helpers abandoned so far

    # -- helper life cycle ----------------------------------------------------
    def _helper(self) -> subprocess.Popen[bytes] | None:
        self._stuck = [p for p in self._stuck if p.poll() is None]
        self._closed = [p for p in self._closed if p.poll() is None]
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self._proc = None
        if len(self._stuck) >= MAX_STUCK:
            return None
        self._buf = b""
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-S", os.path.abspath(__file__)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,  # no BPF program, map or link fd of ours in a process that may never end
            cwd="/",
        )
        return self._proc

    def _abandon(self, stalled: bool = True) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        self.stalls += stalled
        try:
            proc.kill()  # ends it unless it is in D state; then it ends when its read returns
        except OSError:
            pass
        for pipe in (proc.stdin, proc.stdout):
            try:
                pipe.close()  # type: ignore[union-attr]
            except OSError:
                pass
        (self._stuck if stalled else self._closed).append(proc)

    def close(self) -> None:
        """Stop the helper without waiting for it."""
        self._abandon(stalled=False)

    def _ask(self, req: dict[str, object]) -> list[dict[str, _Record]]:
        """Send one request; the records answered before the end or a stall (then _Stalled carries them)."""
        proc = self._helper()
        if proc is None:
            raise _NoHelper
        assert proc.stdin is not None and proc.stdout is not None
        records: list[dict[str, _Record]] = []
        try:
            proc.stdin.write(json.dumps(req).encode() + b"\n")
            proc.stdin.flush()
        except OSError:
            self._abandon()
            raise _Stalled(records) from None
        fd = proc.stdout.fileno()
        while True:
            while b"\n" in self._buf:
                line, _, self._buf = self._buf.partition(b"\n")
                obj = json.loads(line)
                if "end" in obj:
                    return records
                records.append(obj)
            ready, _, _ = select.select([fd], [], [], self.stall_s)
            chunk = os.read(fd, 1 << 16) if ready else b""
            if not chunk:  # silent past the deadline, or dead
                self._abandon()
                raise _Stalled(records)
            self._buf += chunk

    # -- requests ---------------------------------------------------------------
    def stats(self, pids: list[int] | None = None) -> dict[int, _Record]:
        """pid -> [pid, ppid, comm, state, starttime] of the given (or every) process; gone ones are left out."""
        req: dict[str, object] = {"op": "stat"} if pids is None else {"op": "stat", "pids": pids}
        try:
            records = self._ask(req)
        except _Stalled as stalled:
            records = stalled.args[0]
        except _NoHelper:
            records = []
        return {int(r["s"][0]): r["s"] for r in records if len(r["s"]) == 5}

    def scan(self) -> list[ProcInfo]:
        """Every process now: stat always (unless it exited meanwhile), cmdline and exe where they could be read."""
        stats = self.stats()
        argv: dict[int, _Record] = {}
        unknown: dict[int, str] = {}
        todo = []
        for pid, st in stats.items():
            if self._skip.get(pid) == st[4]:
                unknown[pid] = STALLED
            else:
                todo.append(pid)
        self._skip = {pid: start for pid, start in self._skip.items() if stats.get(pid, [0] * 5)[4] == start}
        while todo:
            try:
                records, complete = self._ask({"op": "argv", "pids": todo}), True
            except _NoHelper:
                unknown.update(dict.fromkeys(todo, NO_HELPER))
                break
            except _Stalled as stalled:
                records, complete = stalled.args[0], False
            for r in records:
                argv[int(r["a"][0])] = r["a"]
            if complete:
                break
            # Records come in request order: the stall is on the first one missing.
            culprit = todo[len(records)]
            self._skip[culprit] = int(stats[culprit][4])
            unknown[culprit] = STALLED
            todo = todo[len(records) + 1 :]
        out = []
        for pid, (_pid, ppid, comm, state, start) in stats.items():
            rec = argv.get(pid)
            cmdline = rec[1] if rec else None
            exe = rec[2] if rec else None
            where = rec[3:6] if rec and len(rec) >= 6 else [0, 0, 0]
            out.append(
                ProcInfo(
                    pid=pid,
                    ppid=int(ppid),
                    comm=str(comm).encode("latin-1"),
                    state=str(state),
                    starttime=int(start),
                    cmdline=cmdline.encode("latin-1") if isinstance(cmdline, str) else None,
                    exe=exe.encode("latin-1") if isinstance(exe, str) else None,
                    unknown=unknown.get(pid),
                    cgroup=int(where[0]),
                    ns_pid=int(where[1]),
                    ns_level=int(where[2]),
                )
            )
        return out


if __name__ == "__main__":
    try:
        serve()
    except (BrokenPipeError, KeyboardInterrupt):
        pass
