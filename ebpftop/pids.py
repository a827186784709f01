"""What a user typed ('1234,nginx') as a process filter: processes by (PID, start), and live names.

The one parser for the command line and the `/` prompt. A process is its PID
and its start (the group leader's start in clock ticks since boot, field 22
of /proc/PID/stat, which the BPF programs compute the same way from
task_struct.start_boottime), so a new process that is given a filtered PID
later is not in the filter. A name is kept as a name: the kernel adds every
process that takes it later (exec, prctl PR_SET_NAME) to the filter itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Documented limits (README): processes held in the kernel's filter map, and
# names in a live name filter. The BPF programs get them with -D.
FILTER_MAX_PIDS = 65536
FILTER_MAX_NAMES = 64
FILTER_MAX_CGROUPS = 64  # cgroups named in one filter (each with every cgroup below it)
FILTER_CGROUP_DEPTH = 16  # cgroup levels below the root the kernel looks through for a filtered ancestor
COMM_LEN = 15  # bytes of a name the kernel keeps (TASK_COMM_LEN - 1)
PID_MAX_PATH = Path("/proc/sys/kernel/pid_max")
PID_MAX_LIMIT = 4194304  # the kernel's own ceiling (PID_MAX_LIMIT on 64-bit)
GONE = (1 << 64) - 1  # the start of a process that has exited: no running process has it


@dataclass(frozen=True, slots=True, eq=False)
class PidFilter:
    """A process filter: exact processes, plus names that keep admitting new processes."""

    procs: frozenset[tuple[int, int]]  # (pid, start in clock ticks since boot)
    names: frozenset[str] = frozenset()  # live: processes that take one of these names join
    by_name: frozenset[int] = frozenset()  # PIDs that were in procs because of a name
    # cgroup v2 ids named (each meaning itself and every cgroup below it), what was typed for them,
    # the ids below them when the filter was made, and the newest id then (ids only grow in a boot)
    cgroups: frozenset[int] = frozenset()
    cgroup_specs: frozenset[str] = frozenset()
    cgroups_below: frozenset[int] = frozenset()
    cgroup_horizon: int = 0
    # The named cgroups' paths, and the resolver (ebpftop.cgroups.Cgroups) that tells whether a cgroup
    # made since the filter (an id past the horizon) is below one of them.
    cgroup_paths: frozenset[str] = frozenset()
    cgroup_lookup: Any = field(default=None, compare=False, repr=False)
    pids: frozenset[int] = field(init=False, compare=False, repr=False)
    starts: dict[int, frozenset[int]] = field(init=False, compare=False, repr=False)
    _late: dict[int, bool] = field(init=False, compare=False, repr=False)  # ids past the horizon, looked up

    def __post_init__(self) -> None:
        starts: dict[int, set[int]] = {}
        for pid, start in self.procs:
            starts.setdefault(pid, set()).add(start)
        object.__setattr__(self, "pids", frozenset(starts))
        object.__setattr__(self, "starts", {p: frozenset(s) for p, s in starts.items()})
        object.__setattr__(self, "_late", {})

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PidFilter):
            return (self.procs, self.names, self.cgroups) == (other.procs, other.names, other.cgroups)
        if isinstance(other, (set, frozenset)):  # a filter of processes equals the set of their PIDs
            return not self.names and not self.cgroups and self.pids == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.procs, self.names, self.cgroups))

    def __contains__(self, pid: object) -> bool:
        """Whether data under this PID may belong to the filter, for data that carries no start.

        Such data was filtered in the kernel, which compared the start; with
        a live name any PID may have joined there since, so every PID may.
        """
        return bool(self.names) or bool(self.cgroups) or pid in self.pids

    def keeps(self, pid: int, start: int | None, comm: str | None = None, cgroup: int | None = None) -> bool:
        """This process (PID and start; None: not known) is in the filter, has one of its names now, or
        its cgroup (as the kernel saw it at the event) is one of the filter's or below one."""
        if cgroup is not None and self.keeps_cgroup(cgroup):
            return True
        if comm is not None and self.names and comm in self.names:
            return True
        starts = self.starts.get(pid)
        return starts is not None and (start is None or start in starts)

    def keeps_cgroup(self, cgroup: int) -> bool:
        """A cgroup named, or below one: those known when the filter was made, and one made since (an id
        past the horizon) whose path is below a named one. Not every probe filters by cgroup in the
        kernel (the Tree's does not), so a newer id alone proves nothing: a cgroup made since anywhere
        else (a new login's scope, a new container) is not the filter's. Without a resolver (a filter
        made by hand) a newer id is taken on the kernel's word."""
        if not self.cgroups:
            return False
        if cgroup in self.cgroups or cgroup in self.cgroups_below:
            return True
        if cgroup <= self.cgroup_horizon:
            return False
        lookup = self.cgroup_lookup
        if lookup is None:
            return True
        kept = self._late.get(cgroup)
        if kept is None:
            # Looked up once: a cgroup the kernel counted in existed then, so a walk now finds it unless
            # it was removed since (gone: nothing says it was below, so it is not kept).
            path = lookup.resolve([cgroup])[cgroup].path
            kept = path is not None and any(path.startswith(p.rstrip("/") + "/") for p in self.cgroup_paths)
            if len(self._late) >= 65536:
                self._late.clear()
            self._late[cgroup] = kept
        return kept

    @property
    def typed_pids(self) -> list[int]:
        return sorted(self.pids - self.by_name)

    def describe(self, limit: int = 6) -> str:
        """'nginx.service, nginx, 123, 456 (+3 more)' for the header: cgroups and names as typed, then PIDs."""
        items = [*sorted(self.cgroup_specs), *sorted(self.names), *map(str, self.typed_pids)]
        text = ", ".join(items[:limit])
        if len(items) > limit:
            text += f" (+{len(items) - limit} more)"
        return text

    def text(self) -> str:
        """What goes back into the prompt: the names and the PIDs typed."""
        return ",".join([*sorted(self.cgroup_specs), *sorted(self.names), *map(str, self.typed_pids)])

    def to_json(self) -> dict[str, list[str] | list[int]]:
        out: dict[str, list[str] | list[int]] = {"names": sorted(self.names), "pids": self.typed_pids}
        if self.cgroups:
            out["cgroups"] = sorted(self.cgroup_specs)
        return out


def pid_max() -> int:
    try:
        return int(PID_MAX_PATH.read_text())
    except (OSError, ValueError):
        return PID_MAX_LIMIT


def read_stat(pid: int, proc: str = "/proc") -> tuple[bytes, int, int] | None:
    """(comm, tgid-or-0, start ticks) of a PID now, None when it is gone. Thread IDs give tgid 0."""
    try:
        stat = Path(f"{proc}/{pid}/stat").read_bytes()
    except (OSError, ValueError):
        return None
    # comm may hold spaces and parentheses: it ends at the last ')'.
    lpar, rpar = stat.find(b"("), stat.rfind(b")")
    if lpar < 0 or rpar < lpar:
        return None
    fields = stat[rpar + 2 :].split()
    try:
        return stat[lpar + 1 : rpar], int(stat[:lpar]), int(fields[19])
    except (IndexError, ValueError):
        return None


def _is_thread(pid: int, proc: str) -> bool:
    """A thread ID that is not its process's leader (/proc shows both)."""
    try:
        for line in Path(f"{proc}/{pid}/status").read_bytes().splitlines():
            if line.startswith(b"Tgid:"):
                return int(line.split()[1]) != pid
    except (OSError, ValueError, IndexError):
        pass
    return False


def parse_pid(item: str, limit: int | None = None) -> int:
    """One PID as typed: ASCII digits only, 1..pid_max - 1; ValueError with the one-line reason.

    pid_max is one past the largest PID: the kernel gives PIDs below it.
    """
    top = limit if limit is not None else pid_max()
    if not item.isascii() or not item.isdigit():
        raise ValueError(f"not a PID: {item!r} (PIDs are ASCII digits 0-9)")
    if len(item) > 10 or not 1 <= int(item) < top:
        raise ValueError(
            f"PID {item} is out of range: PIDs here are 1 to {top - 1} (/proc/sys/kernel/pid_max is {top})"
        )
    return int(item)


_CGROUP_PREFIXES = ("cgroup:", "docker:", "containerd:", "podman:", "cri-o:", "pod:")
_UNIT_SUFFIXES = (".service", ".scope", ".slice")


def is_cgroup_spec(item: str) -> bool:
    """Whether a filter item names cgroups: a path from the v2 root ('/system.slice/x.service'), a
    unit ('nginx.service'), a container ('docker:3f2a9c'), a pod ('pod:1234abcd'), or 'cgroup:ANY'."""
    return item.startswith("/") or item.startswith(_CGROUP_PREFIXES) or item.endswith(_UNIT_SUFFIXES)


def _parse_cgroup(item: str, cgroups: Any) -> tuple[list[Any], set[int], int]:
    """The cgroups an item names, every id below them now, and the newest id now; ValueError if none."""
    spec = item.removeprefix("cgroup:")
    if cgroups.mount is None:
        raise ValueError(
            f"cannot filter by cgroup {item!r}: no cgroup v2 hierarchy is mounted "
            "(mount -t cgroup2 none /sys/fs/cgroup/unified, or run under systemd's unified hierarchy)"
        )
    found = cgroups.find(spec)
    if not found:
        raise ValueError(f"no cgroup {spec!r}: no such path, unit or container under {cgroups.mount}")
    if any(cg.kind == "root" for cg in found):
        raise ValueError(f"{item!r} is the root cgroup, which holds every process: that is no filter")
    for cg in found:
        if (cg.path or "").count("/") > FILTER_CGROUP_DEPTH:
            # The kernel looks at a task's ancestors 1..FILTER_CGROUP_DEPTH levels down only: a deeper
            # group would never match, and every pane would stay empty without a word.
            raise ValueError(
                f"cgroup {cg.path!r} is {cg.path.count('/')} levels below the root; "
                f"a cgroup filter reaches {FILTER_CGROUP_DEPTH} levels: name one of its parents"
            )
    below = {cid for cid, path in cgroups.paths().items() for cg in found if path.startswith(f"{cg.path}/")}
    return found, below, max(cgroups.paths(), default=0)


def parse_pids(text: str, proc: str = "/proc", cgroups: Any = None) -> PidFilter:
    """'123,456', process names ('nginx') or cgroups ('nginx.service', '/user.slice', 'docker:3f2a')
    -> a PidFilter of processes and cgroups that exist now; ValueError otherwise.

    A name also stays live: processes that take it later join the filter. A cgroup keeps every
    cgroup below it, those made later too.
    """
    procs: set[tuple[int, int]] = set()
    names: set[str] = set()
    by_name: set[int] = set()
    cgroup_ids: set[int] = set()
    cgroup_specs: set[str] = set()
    cgroup_paths: set[str] = set()
    below: set[int] = set()
    horizon = 0
    top = pid_max()
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        if is_cgroup_spec(item):
            if cgroups is None:
                from ebpftop.cgroups import Cgroups

                cgroups = Cgroups()
            groups, under, newest = _parse_cgroup(item, cgroups)
            cgroup_ids.update(cg.id for cg in groups)
            cgroup_paths.update(cg.path for cg in groups if cg.path is not None)
            cgroup_specs.add(item)
            below |= under
            horizon = max(horizon, newest)
            if len(cgroup_ids) > FILTER_MAX_CGROUPS:
                raise ValueError(f"more than {FILTER_MAX_CGROUPS} cgroups in one filter")
            continue
        if item.isdigit() or (item[:1] in "-+" and item[1:].isdigit()):
            if item[:1] == "-":
                raise ValueError(f"a PID must be positive, not {item}")
            pid = parse_pid(item.lstrip("+"), top)
            stat = read_stat(pid, proc)
            if stat is None or _is_thread(pid, proc):
                raise ValueError(f"no process with PID {pid}")
            procs.add((pid, stat[2]))
            continue
        if len(os.fsencode(item)) > COMM_LEN:
            raise ValueError(
                f"process name {item!r} is longer than the kernel's {COMM_LEN} bytes; type its first {COMM_LEN}"
            )
        names.add(item)
        if len(names) > FILTER_MAX_NAMES:
            raise ValueError(f"more than {FILTER_MAX_NAMES} names in one filter")
        want = os.fsencode(item)
        found = False
        for entry in os.scandir(proc):
            if not entry.name.isdigit():
                continue
            stat = read_stat(int(entry.name), proc)
            if stat is not None and stat[0] == want:
                procs.add((int(entry.name), stat[2]))
                by_name.add(int(entry.name))
                found = True
        if not found:
            raise ValueError(f"no process named {item!r}")
    if not procs and not cgroup_ids:
        raise ValueError("no PID given")
    if len(procs) > FILTER_MAX_PIDS:
        raise ValueError(f"{len(procs)} processes match; a filter holds at most {FILTER_MAX_PIDS}")
    return PidFilter(
        frozenset(procs),
        frozenset(names),
        frozenset(by_name),
        frozenset(cgroup_ids),
        frozenset(cgroup_specs),
        frozenset(below),
        horizon,
        frozenset(cgroup_paths),
        cgroups if cgroup_ids else None,
    )


def combine(a: PidFilter | None, b: PidFilter | None) -> PidFilter | None:
    """One filter keeping what either keeps (--pid and --cgroup together)."""
    if a is None or b is None:
        return a or b
    return PidFilter(
        a.procs | b.procs,
        a.names | b.names,
        a.by_name | b.by_name,
        a.cgroups | b.cgroups,
        a.cgroup_specs | b.cgroup_specs,
        a.cgroups_below | b.cgroups_below,
        max(a.cgroup_horizon, b.cgroup_horizon),
        a.cgroup_paths | b.cgroup_paths,
        a.cgroup_lookup or b.cgroup_lookup,
    )


def of_pids(pids: frozenset[int] | PidFilter | None, proc: str = "/proc") -> PidFilter | None:
    """A filter of the processes that have these PIDs now (one that has exited: GONE, matching nothing)."""
    if pids is None or isinstance(pids, PidFilter):
        return pids
    procs = set()
    for pid in pids:
        stat = read_stat(pid, proc)
        procs.add((pid, stat[2] if stat is not None else GONE))
    return PidFilter(frozenset(procs))


def describe(pids: PidFilter | frozenset[int] | None, limit: int = 6) -> str:
    """'nginx, 123 (+3 more)' for the header (a bare set of PIDs is shown as its numbers)."""
    if not pids:
        return ""
    if isinstance(pids, PidFilter):
        return pids.describe(limit)
    return PidFilter(frozenset((p, 0) for p in pids)).describe(limit)
