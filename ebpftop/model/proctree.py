"""The live process tree: seeded once from /proc, then kept exact by fork/exec/exit events.

Pure: the probe hands in plain frozen dataclasses (a seed of the processes that
already existed, then kernel events) with every time already in epoch
seconds; nothing here reads a clock, /proc or the kernel.

A process is a node keyed by (pid, start time), so a reused PID becomes a new
node. Threads are never nodes. An exited process stays, with its lifetime and
how it ended, for ``linger`` seconds after its exit and then goes. Live
children of an exiting process move to init (PID 1) at once, and then to the
parent the kernel really gave them (a subreaper, say) as soon as the probe
reports it (``ProcSample.reparents``) or a later event of theirs names it.
"""

from __future__ import annotations

import signal as _signal
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ebpftop.model.rates import rate

if TYPE_CHECKING:
    from ebpftop.pids import PidFilter

FORK, EXEC, EXIT, RENAME = "fork", "exec", "exit", "rename"

LINGER = 5.0  # seconds an exited process stays visible
FLASH = 2.0  # seconds a new or exited process is highlighted
MAX_EXITED = 2000  # exited nodes kept at most (oldest go first), so a fork storm stays cheap
SEED_SLACK = 0.05  # seconds: events this close before the /proc scan may already be in it
INIT_PID = 1
MAX_DEPTH = 200  # deeper descendants are left out of the view (a fork chain must not blow the stack)

# States of a node in the view.
NEW, LIVE, EXITED, GONE = "new", "live", "exited", "gone"


def signal_name(number: int) -> str:
    """Signal number to its name without 'SIG' ('KILL'); realtime ones as 'RTMIN+n', others as the number."""
    try:
        return _signal.Signals(number).name.removeprefix("SIG")
    except ValueError:
        pass
    rtmin, rtmax = int(_signal.SIGRTMIN), int(_signal.SIGRTMAX)
    if rtmin < number <= rtmax:
        return f"RTMIN+{number - rtmin}"
    return str(number)


def decode_status(status: int) -> tuple[int | None, str | None, bool]:
    """A wait status (task exit_code) to (exit code, fatal signal name, core dumped).

    Exactly one of exit code and signal is set: exit(7) gives (7, None, False),
    a SIGKILL gives (None, 'KILL', False).
    """
    sig = status & 0x7F
    if sig:
        return None, signal_name(sig), bool(status & 0x80)
    return (status >> 8) & 0xFF, None, False


@dataclass(frozen=True, slots=True)
class ProcSeed:
    """A process that existed when the probe started (from /proc)."""

    pid: int
    ppid: int
    comm: str
    argv: tuple[str, ...]
    start: float  # epoch seconds
    exe: str | None = None
    zombie: bool = False
    start_ticks: int | None = None  # start in clock ticks since boot (/proc/PID/stat field 22), if known
    argv_unknown: str | None = None  # why argv is empty although the process has one (its read stalled)
    cgroup: int = 0  # cgroup v2 id at the scan (0: unknown)
    ns_pid: int = 0  # PID in its own PID namespace at the scan (0: unknown)
    ns_level: int = 0


@dataclass(frozen=True, slots=True)
class ProcEvent:
    """One kernel event; strings exact (surrogate-escaped), time in epoch seconds."""

    type: str  # FORK, EXEC, EXIT, RENAME (comm is the new name)
    pid: int
    ppid: int
    comm: str
    time: float
    filename: str | None = None  # exec
    argv: tuple[str, ...] | None = None  # exec
    argv_truncated: bool = False  # exec: more args or longer args than the kernel side keeps
    exit_code: int | None = None  # exit, normal end
    signal: str | None = None  # exit, killed: 'KILL'
    core: bool = False  # exit: core dumped
    clone_flags: int = 0  # fork
    # The process's start in clock ticks since boot, as the kernel has it (its
    # identity with the PID, what a filter compares); None when not known.
    start_ticks: int | None = None
    cgroup: int = 0  # cgroup v2 id at the event (fork: the child's); 0: unknown
    ns_pid: int = 0  # its PID in its own PID namespace (0: unknown); == pid when ns_level is 0
    ns_level: int = 0  # depth of that namespace: 0 is the initial one

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "pid": self.pid,
            "ppid": self.ppid,
            "comm": self.comm,
            "filename": self.filename,
            "argv": list(self.argv) if self.argv is not None else None,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "time": round(self.time, 6),
            # Every event has the key: a bool where argv is known, null where it is not.
            "argv_truncated": self.argv_truncated if self.argv is not None else None,
            "cgroup": self.cgroup,
            "ns_pid": self.ns_pid or None,
            "ns_level": self.ns_level,
        }
        return out


@dataclass(frozen=True, slots=True)
class ProcSample:
    """One read of the proctree probe. The first read after enabling carries the seed."""

    events: tuple[ProcEvent, ...]
    lost_total: int  # cumulative records the kernel could not queue since the probe was enabled
    now: float  # epoch seconds at the read
    seed: tuple[ProcSeed, ...] | None = None
    scan_time: float = 0.0  # epoch seconds when the seed was read
    # (pid, new ppid) of orphans: children of processes that exited in this
    # sample, with the parent the kernel gave them (init or a subreaper).
    reparents: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class ProcView:
    """One process in one frame, with its subtree."""

    pid: int
    ppid: int
    start: float
    comm: str
    filename: str | None
    argv: tuple[str, ...]
    argv_truncated: bool
    state: str  # NEW, LIVE, EXITED (just now), GONE (lingering)
    age: float  # seconds alive; for an exited process its lifetime
    exit_code: int | None
    signal: str | None
    core: bool
    forks_per_s: float  # forks by processes of this subtree
    execs_per_s: float  # execs in this subtree
    children: tuple[ProcView, ...] = ()
    argv_unknown: str | None = None  # why argv is missing (seeded process whose /proc read stalled)
    cgroup: int = 0  # cgroup v2 id at its latest event (or the /proc seed); 0: unknown
    ns_pid: int = 0  # PID in its own PID namespace; 0: unknown
    ns_level: int = 0  # that namespace's depth (0: the initial one, where ns_pid == pid)

    @property
    def key(self) -> tuple[int, float]:
        return (self.pid, self.start)

    @property
    def exited(self) -> bool:
        return self.state in (EXITED, GONE)

    def walk(self) -> Any:
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True, slots=True)
class ProcTree:
    """The tree pane's data for one interval, and the batch JSON of its events."""

    roots: tuple[ProcView, ...]
    events: tuple[ProcEvent, ...]
    lost_interval: int  # records lost this interval (JSON "lost")
    lost_total: int  # cumulative, as in ProcSample
    live: int
    exited: int
    forks_per_s: float
    execs_per_s: float
    exits_per_s: float

    @property
    def events_per_s(self) -> float:
        """Forks, execs and exits the probe counted this interval, per second (the header's events/s)."""
        return self.forks_per_s + self.execs_per_s + self.exits_per_s

    def walk(self) -> Any:
        for root in self.roots:
            yield from root.walk()

    def find(self, pid: int) -> ProcView | None:
        """The live process with this PID, else the latest exited one."""
        matches = [v for v in self.walk() if v.pid == pid]
        return max(matches, key=lambda v: (not v.exited, v.start), default=None)

    def cgroup_ids(self) -> set[int]:
        """The cgroups of the processes shown and of this interval's events."""
        return {v.cgroup for v in self.walk()} | {e.cgroup for e in self.events}

    def to_json(self) -> dict[str, Any]:
        return {"events": [e.to_json() for e in self.events], "lost": self.lost_interval, "lost_total": self.lost_total}


Key = tuple[int, float]


@dataclass(slots=True)
class _Node:
    pid: int
    start: float
    ppid: int
    comm: str
    argv: tuple[str, ...]
    filename: str | None
    first_seen: float
    seeded: bool = False
    argv_truncated: bool = False
    exit_time: float | None = None
    exit_code: int | None = None
    signal: str | None = None
    core: bool = False
    parent: Key | None = None
    children: dict[Key, None] = field(default_factory=dict)
    forks: int = 0  # this interval, subtree
    execs: int = 0
    ticks: int | None = None  # start in clock ticks, as the kernel and /proc count it (None: unknown)
    argv_unknown: str | None = None
    cgroup: int = 0
    ns_pid: int = 0
    ns_level: int = 0

    def where(self, ev: ProcEvent) -> None:
        """Where the kernel saw it live at this event (0s: the kernel could not say; keep what is known)."""
        if ev.cgroup:
            self.cgroup = ev.cgroup
        if ev.ns_pid:
            self.ns_pid, self.ns_level = ev.ns_pid, ev.ns_level

    @property
    def key(self) -> Key:
        return (self.pid, self.start)


class ProcTreeModel:
    """The tree across intervals; each update returns an immutable ProcTree."""

    def __init__(self, linger: float = LINGER, flash: float = FLASH, max_exited: int = MAX_EXITED) -> None:
        self.linger = linger
        self.flash = flash
        self.max_exited = max_exited
        self._nodes: dict[Key, _Node] = {}
        self._live: dict[int, Key] = {}  # pid -> its running node
        self._scan_time = 0.0
        self._lost_prev = 0
        self._now = 0.0
        self._ended_now: set[Key] = set()  # exited during the current update

    # -- building ------------------------------------------------------------
    def _reset(self, seed: tuple[ProcSeed, ...], scan_time: float) -> None:
        self._nodes.clear()
        self._live.clear()
        self._scan_time = scan_time
        # _lost_prev is kept: the sampler carries the lost count across a
        # re-enable, so the first sample after it continues the old count.
        for s in seed:
            node = _Node(
                s.pid,
                s.start,
                s.ppid,
                s.comm,
                s.argv,
                s.exe,
                first_seen=-1e18,
                seeded=True,
                ticks=s.start_ticks,
                argv_unknown=s.argv_unknown,
                cgroup=s.cgroup,
                ns_pid=s.ns_pid,
                ns_level=s.ns_level,
            )
            self._nodes[node.key] = node
            self._live[s.pid] = node.key
        for s in seed:
            node = self._nodes[self._live[s.pid]]
            self._attach(node, s.ppid)
        for s in seed:
            if s.zombie:
                self._end(self._nodes[self._live[s.pid]], scan_time, None, None, False)

    def _attach(self, node: _Node, ppid: int) -> None:
        """Hang node under the running process ppid (or make it a root)."""
        if node.parent is not None and node.parent in self._nodes:
            self._nodes[node.parent].children.pop(node.key, None)
        node.ppid = ppid
        parent_key = self._live.get(ppid) if ppid != node.pid else None
        # Only a node with descendants can close a loop (the parent would be
        # one of them); a just-forked node has none, so the walk is skipped
        # for the common case (under a fork flood it was the model's top cost).
        if parent_key is not None and node.children and any(n is node for n in self._ancestry(self._nodes[parent_key])):
            parent_key = None  # would close a loop (a stale view of a reused PID): a root instead
        node.parent = parent_key
        if parent_key is not None:
            self._nodes[parent_key].children[node.key] = None

    def _ancestry(self, node: _Node | None) -> Any:
        seen = 0
        while node is not None and seen < 4096:  # bounded: a cycle would be a bug, never a hang
            yield node
            node = self._nodes.get(node.parent) if node.parent is not None else None
            seen += 1

    def _end(self, node: _Node, when: float, code: int | None, sig: str | None, core: bool) -> None:
        node.exit_time, node.exit_code, node.signal, node.core = when, code, sig, core
        self._ended_now.add(node.key)
        if self._live.get(node.pid) == node.key:
            del self._live[node.pid]
        # The kernel re-parents orphans right away (to init or a subreaper);
        # init is the guess until a child's own event names its parent.
        for child_key in list(node.children):
            child = self._nodes[child_key]
            if child.exit_time is None:
                self._attach(child, INIT_PID)

    def _apply(self, ev: ProcEvent) -> None:
        key = self._live.get(ev.pid)
        node = self._nodes.get(key) if key is not None else None
        if ev.type == FORK:
            parent_key = self._live.get(ev.ppid)
            parent = self._nodes.get(parent_key) if parent_key is not None else None
            if node is not None:
                if node.seeded and ev.time <= self._scan_time + SEED_SLACK:
                    # Born between attaching and the /proc scan: already seeded.
                    for n in self._ancestry(parent):
                        n.forks += 1
                    return
                self._end(node, ev.time, None, None, False)  # its exit was lost
            child = _Node(
                ev.pid,
                ev.time,
                ev.ppid,
                ev.comm,
                parent.argv if parent else (),
                parent.filename if parent else None,
                first_seen=self._now,
                argv_truncated=parent.argv_truncated if parent else False,
                ticks=ev.start_ticks,
                argv_unknown=parent.argv_unknown if parent else None,
            )
            child.where(ev)
            self._nodes[child.key] = child
            self._live[ev.pid] = child.key
            self._attach(child, ev.ppid)
            for n in self._ancestry(parent):
                n.forks += 1
        elif ev.type == EXEC:
            if node is None:
                # Its fork predates us and the seed missed it (or the fork was lost).
                node = _Node(ev.pid, ev.time, ev.ppid, ev.comm, (), None, first_seen=self._now, ticks=ev.start_ticks)
                self._nodes[node.key] = node
                self._live[ev.pid] = node.key
                self._attach(node, ev.ppid)
            node.ticks = node.ticks if node.ticks is not None else ev.start_ticks
            node.where(ev)
            node.comm = ev.comm
            node.filename = ev.filename
            node.argv = ev.argv or ()
            node.argv_truncated = ev.argv_truncated
            node.argv_unknown = None
            if ev.ppid and ev.ppid != node.ppid:
                self._attach(node, ev.ppid)
            for n in self._ancestry(node):
                n.execs += 1
        elif ev.type == RENAME:
            # The name it has from now on (prctl PR_SET_NAME, exec): the tree
            # and the syscall pane both show the name the kernel last gave it.
            if node is not None and (node.ticks is None or ev.start_ticks is None or node.ticks == ev.start_ticks):
                node.comm = ev.comm
                node.where(ev)
        elif ev.type == EXIT:
            if node is None:
                return  # exited before the seed scan, or its fork was lost
            if ev.ppid and ev.ppid != node.ppid:
                self._attach(node, ev.ppid)
            node.comm = node.comm or ev.comm
            node.where(ev)
            self._end(node, ev.time, ev.exit_code, ev.signal, ev.core)

    def _remove(self, node: _Node) -> None:
        self._nodes.pop(node.key, None)
        if node.parent is not None and node.parent in self._nodes:
            self._nodes[node.parent].children.pop(node.key, None)
        for child_key in list(node.children):
            child = self._nodes.get(child_key)
            if child is not None:
                # Keep an exited child visible for its own linger time.
                child.parent = None
                if node.parent is not None and node.parent in self._nodes:
                    child.parent = node.parent
                    self._nodes[node.parent].children[child_key] = None
        if self._live.get(node.pid) == node.key:
            del self._live[node.pid]

    def _expire(self, now: float) -> None:
        # A process that ended in this update is shown at least once, so one
        # that lived and died inside an interval is seen whatever the linger.
        exited = [n for n in self._nodes.values() if n.exit_time is not None and n.key not in self._ended_now]
        exited.sort(key=lambda n: n.exit_time or 0.0)
        excess = len(exited) - self.max_exited
        for i, node in enumerate(exited):
            if i < excess or now - (node.exit_time or 0.0) >= self.linger:
                self._remove(node)

    # -- the view --------------------------------------------------------------
    def _view(self, node: _Node, elapsed: float, depth: int = 0, shown: set[Key] | None = None) -> ProcView:
        now = self._now
        if node.exit_time is not None:
            state = EXITED if now - node.exit_time < self.flash else GONE
            age = node.exit_time - node.start
        else:
            state = NEW if now - node.first_seen < self.flash else LIVE
            age = now - node.start
        children: tuple[ProcView, ...] = ()
        if node.children and depth < MAX_DEPTH:
            kids = [self._nodes[k] for k in node.children if k in self._nodes and (shown is None or k in shown)]
            kids.sort(key=lambda n: (n.pid, n.start))
            children = tuple(self._view(k, elapsed, depth + 1, shown) for k in kids)
        return ProcView(
            pid=node.pid,
            ppid=node.ppid,
            start=node.start,
            comm=node.comm,
            filename=node.filename,
            argv=node.argv,
            argv_truncated=node.argv_truncated,
            state=state,
            age=max(0.0, age),
            exit_code=node.exit_code,
            signal=node.signal,
            core=node.core,
            forks_per_s=rate(node.forks, elapsed),
            execs_per_s=rate(node.execs, elapsed),
            children=children,
            argv_unknown=node.argv_unknown,
            cgroup=node.cgroup,
            ns_pid=node.ns_pid,
            ns_level=node.ns_level,
        )

    def _subtree_keys(self, roots: list[_Node]) -> set[Key]:
        out: set[Key] = set()
        stack = list(roots)
        while stack:
            n = stack.pop()
            if n.key in out:
                continue
            out.add(n.key)
            stack.extend(self._nodes[k] for k in n.children if k in self._nodes)
        return out

    def _subtree_pids(self, roots: list[_Node]) -> set[int]:
        return {k[0] for k in self._subtree_keys(roots)}

    def update(self, sample: ProcSample, elapsed: float, pids: PidFilter | None = None) -> ProcTree:
        self._now = sample.now
        self._ended_now.clear()
        if sample.seed is not None:
            self._reset(sample.seed, sample.scan_time)
        forks = execs = exits = 0
        for ev in sample.events:
            self._apply(ev)
            forks += ev.type == FORK
            execs += ev.type == EXEC
            exits += ev.type == EXIT
        for pid, ppid in sample.reparents:
            key = self._live.get(pid)
            if key is not None and self._nodes[key].ppid != ppid:
                self._attach(self._nodes[key], ppid)
        prev = self._lost_prev
        lost_interval = sample.lost_total - prev if sample.lost_total >= prev else sample.lost_total
        self._lost_prev = sample.lost_total

        self._expire(sample.now)
        events = sample.events
        shown: set[Key] | None = None
        if pids is not None:
            # The matching processes with their descendants and, for context,
            # their ancestors; events only of the matching subtrees.
            # A process is its PID and its start: a later process given a
            # filtered PID is not in the filter; a live name admits whoever
            # has it now.
            tops = [n for n in self._nodes.values() if pids.keeps(n.pid, n.ticks, n.comm, n.cgroup or None)]
            keep = self._subtree_pids(tops)
            events = tuple(e for e in events if e.pid in keep or e.ppid in keep)
            shown = set(self._subtree_keys(tops))
            for n in tops:
                parent, hops = n.parent, 0
                while parent is not None and parent in self._nodes and parent not in shown and hops < MAX_DEPTH:
                    shown.add(parent)
                    parent, hops = self._nodes[parent].parent, hops + 1
        roots_nodes = sorted(
            (
                n
                for n in self._nodes.values()
                if (n.parent is None or n.parent not in self._nodes or (shown is not None and n.parent not in shown))
                and (shown is None or n.key in shown)
            ),
            key=lambda n: (n.pid, n.start),
        )
        roots = tuple(self._view(n, elapsed, shown=shown) for n in roots_nodes)
        live = len(self._live)
        tree = ProcTree(
            roots=roots,
            events=events,
            lost_interval=lost_interval,
            lost_total=sample.lost_total,
            live=live,
            exited=len(self._nodes) - live,
            forks_per_s=rate(forks, elapsed),
            execs_per_s=rate(execs, elapsed),
            exits_per_s=rate(exits, elapsed),
        )
        for node in self._nodes.values():
            node.forks = node.execs = 0
        return tree
