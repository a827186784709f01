"""Syscall rates per process: per-interval counts from the kernel to sorted rows."""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ebpftop.model.rates import rate

if TYPE_CHECKING:
    from ebpftop.pids import PidFilter

HISTORY = 120  # sparkline points kept


@dataclass(frozen=True, slots=True)
class SyscallCount:
    """Events of one syscall by one process in one interval, as the kernel counted them."""

    tgid: int
    nr: int
    name: str
    count: int
    comm: str  # exact (surrogate-escaped) comm captured in the kernel at event time
    cgroup: int = 0  # cgroup v2 id of the process at its first such event in the interval (0: unknown)


@dataclass(frozen=True, slots=True)
class SyscallSample:
    """One read of the syscall probe."""

    counts: tuple[SyscallCount, ...]
    lost_total: int = 0  # cumulative events not counted because the map was full


@dataclass(frozen=True, slots=True)
class TopSyscall:
    name: str
    count: int


@dataclass(frozen=True, slots=True)
class SyscallRow:
    """One process in one interval."""

    pid: int
    comm: str
    count: int
    rate: float
    top: tuple[TopSyscall, ...]  # every syscall it made, most frequent first
    cgroup: int = 0  # cgroup v2 id the kernel saw (that of its busiest key; 0: unknown)


@dataclass(frozen=True, slots=True)
class SyscallTable:
    """The syscall pane's data for one interval."""

    rows: tuple[SyscallRow, ...]
    total_rate: float
    history: tuple[float, ...]  # total syscalls/s, oldest first
    lost_total: int  # as in SyscallSample

    @property
    def events_per_s(self) -> float:
        """What the probe counted this interval over its measured window (the header's events/s)."""
        return self.total_rate

    def cgroup_ids(self) -> set[int]:
        return {r.cgroup for r in self.rows}

    def to_json(self) -> list[dict[str, Any]]:
        return [
            {
                "pid": r.pid,
                "comm": r.comm,
                "count": r.count,
                "rate": round(r.rate, 3),
                "top": [{"name": t.name, "count": t.count} for t in r.top],
                "cgroup": r.cgroup,
            }
            for r in self.rows
        ]


def build_rows(
    counts: tuple[SyscallCount, ...], elapsed: float, pids: PidFilter | None = None
) -> tuple[SyscallRow, ...]:
    """Group counts by process, busiest first; keep only the filter's processes when given.

    The kernel already kept only the filter's processes (PID and start, and
    those that took a filtered name); counts carry no start, so here a count
    is kept by its PID or its (current) name, for the interval in which the
    filter was set.
    """
    per_pid: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    comms: dict[int, tuple[int, str, int]] = {}
    for c in counts:
        if pids is not None and not pids.keeps(c.tgid, None, c.comm, c.cgroup):
            continue
        per_pid[c.tgid][c.name] += c.count
        # One name per process: the probe gives every count the name the
        # process has now (its last rename); where the kernel saw none, the
        # keys were named when created, and the busiest key's comm wins.
        # Its cgroup likewise: the busiest key's.
        if c.tgid not in comms or c.count > comms[c.tgid][0]:
            comms[c.tgid] = (c.count, c.comm, c.cgroup)
    rows = []
    for pid, by_name in per_pid.items():
        total = sum(by_name.values())
        top = tuple(TopSyscall(n, k) for n, k in sorted(by_name.items(), key=lambda kv: (-kv[1], kv[0])))
        _, comm, cgroup = comms[pid]
        rows.append(SyscallRow(pid, comm, total, rate(total, elapsed), top, cgroup))
    rows.sort(key=lambda r: (-r.count, r.pid))
    return tuple(rows)


class SyscallsModel:
    """Keeps the rate history across intervals; everything else is per interval."""

    def __init__(self, history: int = HISTORY) -> None:
        self._history: deque[float] = deque(maxlen=history)
        self._pids: PidFilter | None = None  # the filter the history was counted under

    def update(self, sample: SyscallSample, elapsed: float, pids: PidFilter | None = None) -> SyscallTable:
        if pids != self._pids:
            self._history.clear()  # another filter: the old totals were of other processes
            self._pids = pids
        rows = build_rows(sample.counts, elapsed, pids)
        total = rate(sum(r.count for r in rows), elapsed)
        self._history.append(total)
        return SyscallTable(rows, total, tuple(self._history), sample.lost_total)
