"""Facts about a live process that kernel events do not carry, read only through calls that cannot hang.

Every read here is of a /proc file whose kernel handler takes no lock a
stuck process can hold forever: ``stat`` (no mmap lock since 4.x: vsize is
read without it), ``cgroup`` (cgroup locks only) and the ``cwd`` symlink
(the task's fs_struct). ``cmdline`` and ``environ`` (mmap lock: a process
stuck in a page fault blocks the reader) are never read here; argv comes
from the tree's exec events or its seed.

A PID alone does not name a process: it is reused. A process is (PID, start
time), the start time as /proc's clock ticks since boot; every fact read is
checked to come from the same start time, and a signal goes through a
pidfd opened before that check and held until it is sent (a pidfd never
reaches a later process with the same number).
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

from ebpftop.model.sanitize import decode

TICK = os.sysconf("SC_CLK_TCK")
# The tree's start times (bpf boot clock, or the same /proc ticks for seeded
# processes) and /proc's differ by a tick and by the realtime/boot clock
# offset drift since the sampler last synced it: well under a second.
START_SLACK = 1.0
# A row without a start time (the tree probe off) names the process that had
# its PID when the frame was built: one that started later is another. /proc's
# start is truncated to a tick (it reads earlier, never later) and both sides
# are the realtime clock: a tenth of a second covers the conversion.
SEEN_SLACK = 0.1


PF_KTHREAD = 0x00200000  # include/linux/sched.h: the task is a kernel thread
PROC_PID_INIT_INO = 0xEFFFFFFC  # include/linux/proc_ns.h: the initial PID namespace's fixed inode


def in_initial_pid_namespace() -> bool:
    """The probes report PIDs as the initial PID namespace numbers them; are ours the same numbers?"""
    try:
        return os.stat("/proc/self/ns/pid").st_ino == PROC_PID_INIT_INO
    except OSError:
        return False


def stat_field(pid: int, number: int) -> int | None:
    """Numeric field ``number`` (man 5 proc_pid_stat, from 3 on) of /proc/PID/stat.

    None when there is no such process.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    rpar = stat.rfind(b")")  # comm may hold spaces and ')': it ends at the last one
    fields = stat[rpar + 2 :].split()
    try:
        return int(fields[number - 3])
    except (IndexError, ValueError):
        return None


def starttime_ticks(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (clock ticks after boot), None when there is no such process."""
    return stat_field(pid, 22)


def thread_group(pid: int) -> int | None:
    """The process (Tgid) a task id belongs to, None if unknown."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"Tgid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def ticks_to_epoch(ticks: int) -> float:
    """/proc start ticks to epoch seconds, on the same boot clock the tree probe converts with."""
    return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME) + ticks / TICK


def matches_start(ticks: int, start: float) -> bool:
    """Does a /proc start time name the process the tree saw start at ``start`` (epoch seconds)?"""
    return abs(ticks_to_epoch(ticks) - start) <= START_SLACK


@dataclass(frozen=True, slots=True)
class Identity:
    """One process: its PID and its start time in /proc clock ticks."""

    pid: int
    ticks: int

    @classmethod
    def of(cls, pid: int, start: float | None = None, seen: float | None = None) -> Identity | str:
        """The process now at ``pid``, or why not.

        With ``start`` (the tree's), only if it is that process; without it but
        with ``seen`` (when the PID was seen: its frame's time), only if it had
        started by then.
        """
        ticks = starttime_ticks(pid)
        if ticks is None:
            return f"PID {pid} has exited"
        if start is not None and not matches_start(ticks, start):
            return f"PID {pid} now belongs to another process (started {ticks_to_epoch(ticks) - start:+.1f}s later)"
        if start is None and seen is not None and ticks_to_epoch(ticks) > seen + SEEN_SLACK:
            late = ticks_to_epoch(ticks) - seen
            return f"PID {pid} now belongs to another process (started {late:.1f}s after the row was seen)"
        return cls(pid, ticks)

    def alive(self) -> bool:
        return starttime_ticks(self.pid) == self.ticks


def read_cwd(ident: Identity) -> str | None:
    """The working directory (exact, surrogate-escaped), None if unknown or the PID changed hands."""
    try:
        cwd = os.readlink(f"/proc/{ident.pid}/cwd")
    except OSError:
        return None
    return cwd if ident.alive() else None


def read_cgroup(ident: Identity) -> str | None:
    """The v2 cgroup path (else the v1 lines joined), None if unknown or the PID changed hands."""
    try:
        with open(f"/proc/{ident.pid}/cgroup", "rb") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    if not ident.alive():
        return None
    unified = [line[3:] for line in lines if line.startswith(b"0::")]
    if unified and unified[0] != b"/":
        chosen = unified[0]
    else:  # v1 or hybrid with the process at the v2 root: the v1 controllers that place it somewhere
        chosen = b"; ".join(line for line in lines if not line.endswith(b":/")) or b"/"
    return decode(chosen)


class Pinned:
    """One process held by a pidfd from the moment it was checked: a signal reaches it or nobody.

    The pidfd is opened first and the start time checked after: if the check
    passes, the pidfd names either that process or an earlier holder of the
    number that has since died (a pidfd to a dead process only gives ESRCH),
    never a later one. Holding it, the signal cannot reach a process that
    took the PID over later, even within the same clock tick of /proc's
    start time.
    """

    def __init__(self, ident: Identity, pidfd: int | None) -> None:
        self.ident = ident
        self.pidfd = pidfd

    @classmethod
    def open(cls, pid: int, start: float | None = None, seen: float | None = None) -> Pinned | str:
        """Pin the process now at pid (the one the tree saw start at ``start``, or alive at ``seen``), or say why not.

        Never from a child PID namespace (a container's: the kernel's PID N is
        another process there), never ebpftop itself (STOP would freeze the terminal it holds in raw
        mode) nor a kernel thread (it takes no signals: "sent" would be a lie).
        """
        if not in_initial_pid_namespace():
            return f"PID {pid}: ebpftop runs in a child PID namespace, where the probes' PIDs name other processes"
        if pid == os.getpid():
            return f"PID {pid} is ebpftop itself (q quits)"
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            return f"PID {pid} has exited"
        except OSError as exc:
            tgid = thread_group(pid)
            if tgid is not None and tgid != pid:
                return f"PID {pid} is a thread of process {tgid}: signals go to processes"
            return f"PID {pid}: {exc.strerror}"
        ident = Identity.of(pid, start, seen)
        if isinstance(ident, str):
            os.close(pidfd)
            return ident
        flags = stat_field(pid, 9)
        if flags is not None and flags & PF_KTHREAD:
            os.close(pidfd)
            return f"PID {pid} is a kernel thread: it takes no signals"
        return cls(ident, pidfd)

    def send(self, signum: int) -> str | None:
        """None when sent, else why nothing was (it exited, its PID now names another process, EPERM)."""
        pid = self.ident.pid
        if self.pidfd is None:
            return f"PID {pid} is not held: nothing sent"
        try:
            signal.pidfd_send_signal(self.pidfd, signum)
        except ProcessLookupError:
            if starttime_ticks(pid) is not None:
                return f"PID {pid} now belongs to another process: nothing sent"
            return f"PID {pid} has exited: nothing sent"
        except OSError as exc:
            return f"PID {pid}: {exc.strerror}: nothing sent"
        return None

    def close(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
