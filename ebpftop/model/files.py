"""Hottest files: per-interval I/O per open file, grouped per path (default) or per process and path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ebpftop.model.rates import rate

# Row types (the "type" field in JSON).
FILE = "file"
SOCKET = "socket"
PIPE = "pipe"
DEVICE = "device"  # character or block device, ttys included
ANON = "anon"  # anon_inode (eventfd, epoll, timerfd, ...), memfd, other pseudo files
UNKNOWN = "unknown"  # could not be resolved (process gone, fd closed before the read)
TYPES = (FILE, SOCKET, PIPE, DEVICE, ANON, UNKNOWN)

BY_PATH = "path"
BY_PROCESS = "process"


@dataclass(frozen=True, slots=True)
class FileIO:
    """I/O on one open file (one generation of one fd of one process) in one interval."""

    tgid: int
    fd: int
    gen: int  # changes whenever the fd number starts holding another file; 0: the kernel's fds map was full
    path: str  # exact (surrogate-escaped): the kernel's path of the file, or how /proc names a pseudo file
    type: str  # one of TYPES
    comm: str  # exact comm captured in the kernel at the interval's first I/O
    reads: int
    writes: int
    read_bytes: int
    write_bytes: int
    dev: int | None = None  # the inode's device (as os.stat's st_dev) and number; None: unknown
    ino: int | None = None
    deleted: bool = False  # unlinked when named (path ends " (deleted)")
    truncated: bool = False  # path cut at the capture limit (starts with "…", the leaf side kept)
    cgroup: int = 0  # cgroup v2 id of the process at the key's first I/O in the interval (0: unknown)


@dataclass(frozen=True, slots=True)
class FilesSample:
    """One read of the files probe."""

    io: tuple[FileIO, ...]
    lost_total: int = 0  # cumulative I/O not counted or files not named (map full, LRU evicted)


@dataclass(frozen=True, slots=True)
class FileRow:
    """One path (or one process's use of one path) in one interval, with its rates."""

    path: str
    type: str
    pid: int  # the process doing the most I/O on it
    comm: str
    processes: int  # how many processes did I/O on it
    reads: int
    writes: int
    read_bytes: int
    write_bytes: int
    reads_per_s: float
    writes_per_s: float
    read_bps: float
    write_bps: float
    dev: int | None = None
    ino: int | None = None
    deleted: bool = False
    truncated: bool = False
    cgroup: int = 0  # the cgroup of the process doing the most I/O on it (0: unknown)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "type": self.type,
            "pid": self.pid,
            "comm": self.comm,
            "reads": self.reads,
            "writes": self.writes,
            "read_bytes": self.read_bytes,
            "write_bytes": self.write_bytes,
            "read_bps": round(self.read_bps, 3),
            "write_bps": round(self.write_bps, 3),
            "dev": self.dev,
            "ino": self.ino,
            "deleted": self.deleted,
            "truncated": self.truncated,
            "cgroup": self.cgroup,
        }


@dataclass(frozen=True, slots=True)
class FilesTable:
    """The files pane's data for one interval; each grouping is built the first time it is asked for.

    --batch only ever needs rows per process and the TUI mostly rows per
    path, so building both every interval was half the model's cost.
    """

    io: tuple[FileIO, ...]
    elapsed: float
    pids: frozenset[int] | None
    read_bps: float
    write_bps: float
    lost_total: int  # as in FilesSample
    _built: dict[str, tuple[FileRow, ...]] = field(default_factory=dict, compare=False, repr=False)

    def rows(self, grouping: str = BY_PATH) -> tuple[FileRow, ...]:
        grouping = BY_PROCESS if grouping == BY_PROCESS else BY_PATH
        rows = self._built.get(grouping)
        if rows is None:  # two threads may both build it: same result, last write wins
            rows = self._built[grouping] = group(self.io, self.elapsed, self.pids, grouping)
        return rows

    @property
    def events_per_s(self) -> float:
        """Reads and writes the probe counted this interval over its measured window (the header's events/s)."""
        return rate(sum(io.reads + io.writes for io in self.io), self.elapsed)

    def cgroup_ids(self) -> set[int]:
        return {io.cgroup for io in self.io if _kept(self.pids, io)}

    def to_json(self) -> list[dict[str, Any]]:
        # Per process and path: exact and lossless (per-path sums are one
        # group-by away, while a per-path row would hide every process but one).
        rows = self._built.get(BY_PROCESS)
        if rows is not None:
            return [r.to_json() for r in rows]
        return json_rows(self.io, self.elapsed, self.pids)


def _kept(pids: Any, io: FileIO) -> bool:
    """In the filter: data without a start is admitted by its PID (a name or cgroup filter admits every
    PID: the kernel filtered); a filter of cgroups alone checks the key's cgroup as the kernel saw it."""
    if pids is None:
        return True
    if getattr(pids, "cgroups", None) and not pids.procs and not pids.names:
        return not io.cgroup or bool(pids.keeps_cgroup(io.cgroup))
    return io.tgid in pids


def _path_key(io: FileIO) -> tuple[Any, ...]:
    # An unresolved fd says nothing about which file it was: never merge it
    # with another process's fd of the same number.
    if io.type == UNKNOWN:
        return (io.type, io.path, io.tgid)
    # Rows are per path: two files under one path in an interval (a log
    # rotated, the same path in two mount namespaces) share a row whose
    # dev/ino are then unknown (see _row).
    return (io.type, io.path)


def _row(items: list[FileIO], elapsed: float) -> FileRow:
    first = items[0]
    if len(items) == 1:  # the common case (one fd, one process), tens of thousands a frame in a burst
        if elapsed <= 0:  # rate(), inlined
            return FileRow(
                first.path, first.type, first.tgid, first.comm, 1,
                first.reads, first.writes, first.read_bytes, first.write_bytes, 0.0, 0.0, 0.0, 0.0,
                first.dev, first.ino, first.deleted, first.truncated, first.cgroup,
            )
        return FileRow(
            first.path, first.type, first.tgid, first.comm, 1,
            first.reads, first.writes, first.read_bytes, first.write_bytes,
            first.reads / elapsed, first.writes / elapsed, first.read_bytes / elapsed, first.write_bytes / elapsed,
            first.dev, first.ino, first.deleted, first.truncated, first.cgroup,
        )
    same = all(io.dev == first.dev and io.ino == first.ino for io in items)  # one file: its identity
    per_pid: dict[int, list[int]] = {}
    comms: dict[int, tuple[int, str, int]] = {}
    reads = writes = rbytes = wbytes = 0
    for io in items:
        reads += io.reads
        writes += io.writes
        rbytes += io.read_bytes
        wbytes += io.write_bytes
        weight = per_pid.setdefault(io.tgid, [0, 0])
        weight[0] += io.read_bytes + io.write_bytes
        weight[1] += io.reads + io.writes
        ops = io.reads + io.writes
        if io.tgid not in comms or ops > comms[io.tgid][0]:
            comms[io.tgid] = (ops, io.comm, io.cgroup)
    top = min(per_pid, key=lambda pid: (-per_pid[pid][0], -per_pid[pid][1], pid))
    (_, comm, cgroup), processes = comms[top], len(per_pid)
    return FileRow(
        path=first.path,
        type=first.type,
        pid=top,
        comm=comm,
        processes=processes,
        reads=reads,
        writes=writes,
        read_bytes=rbytes,
        write_bytes=wbytes,
        reads_per_s=rate(reads, elapsed),
        writes_per_s=rate(writes, elapsed),
        read_bps=rate(rbytes, elapsed),
        write_bps=rate(wbytes, elapsed),
        dev=first.dev if same else None,
        ino=first.ino if same else None,
        deleted=first.deleted,
        truncated=first.truncated,
        cgroup=cgroup,
    )


def _rows(groups: dict[tuple[Any, ...], list[FileIO]], elapsed: float) -> tuple[FileRow, ...]:
    rows = [_row(items, elapsed) for items in groups.values()]
    rows.sort(key=lambda r: (-(r.read_bytes + r.write_bytes), -(r.reads + r.writes), r.path, r.pid))
    return tuple(rows)


Rows = tuple[FileRow, ...]


def group(
    io: tuple[FileIO, ...], elapsed: float, pids: frozenset[int] | None = None, grouping: str = BY_PATH
) -> Rows:
    """Rows per path across processes (BY_PATH) or per process and path (BY_PROCESS), busiest first."""
    groups: dict[tuple[Any, ...], list[FileIO]] = {}
    per_process = grouping == BY_PROCESS
    for item in io:
        if pids is not None and not _kept(pids, item):
            continue
        key = _path_key(item)
        groups.setdefault((item.tgid, *key) if per_process else key, []).append(item)
    return _rows(groups, elapsed)


def json_rows(io: tuple[FileIO, ...], elapsed: float, pids: frozenset[int] | None = None) -> list[dict[str, Any]]:
    """What ``[r.to_json() for r in group(io, elapsed, pids, BY_PROCESS)]`` gives, in the same order.

    A one-fd row goes straight to its dict, with no FileRow in between: a
    burst of files is tens of thousands of them a frame, and --batch writes
    every one.
    """
    groups: dict[tuple[Any, ...], list[FileIO]] = {}
    for item in io:
        if pids is not None and not _kept(pids, item):
            continue
        groups.setdefault((item.tgid, *_path_key(item)), []).append(item)
    out = []
    for items in groups.values():
        if len(items) > 1:
            out.append(_row(items, elapsed).to_json())
            continue
        f = items[0]
        out.append({
            "path": f.path,
            "type": f.type,
            "pid": f.tgid,
            "comm": f.comm,
            "reads": f.reads,
            "writes": f.writes,
            "read_bytes": f.read_bytes,
            "write_bytes": f.write_bytes,
            "read_bps": round(rate(f.read_bytes, elapsed), 3),
            "write_bps": round(rate(f.write_bytes, elapsed), 3),
            "dev": f.dev,
            "ino": f.ino,
            "deleted": f.deleted,
            "truncated": f.truncated,
            "cgroup": f.cgroup,
        })
    out.sort(key=lambda d: (-(d["read_bytes"] + d["write_bytes"]), -(d["reads"] + d["writes"]), d["path"], d["pid"]))
    return out


class FilesModel:
    """Stateless between intervals: every row is this interval's delta."""

    def update(self, sample: FilesSample | None, elapsed: float, pids: frozenset[int] | None = None) -> FilesTable:
        io = sample.io if sample is not None else ()
        rbytes = wbytes = 0
        for item in io:
            if pids is None or _kept(pids, item):
                rbytes += item.read_bytes
                wbytes += item.write_bytes
        return FilesTable(
            io,
            elapsed,
            pids,
            rate(rbytes, elapsed),
            rate(wbytes, elapsed),
            sample.lost_total if sample is not None else 0,
        )
