"""Monotonic totals for --metrics: each frame's exact per-interval counts added into bounded series.

Pure: no prometheus_client here (ebpftop/output/metrics.py renders a Snapshot
with it). The sampler thread calls ``MetricsAccumulator.add`` with every
frame; each call ends by publishing a new immutable ``Snapshot`` with one
reference assignment, so a scrape reads the latest one without any lock and
the sampler never waits for a scrape.

Every counter is a sum of non-negative per-interval counts the kernel gave
(syscall counts per process and syscall, I/O per open file, fork/exec/exit
events, XDP packets per protocol), never a rate times an interval, so it never
decreases: a probe switched off adds nothing, and counts again from where it
stood when switched back on.

Cardinality: the labelled series (every family but the per-probe and
exporter-self ones) are at most ``max_series`` together. A label set that
would make one more is refused: its counts are not kept, and
``ebpftop_series_dropped_total{metric}`` goes up by one for each label set
refused in an interval (so a process that stays refused for ten intervals
counts ten). Series are never removed (a counter that vanished and came back
from zero would read as a reset), so the cap is reached for good on a box
with many distinct names: raise it, or leave pid labels off.

Label values are the kernel's bytes decoded as UTF-8 with ``backslashreplace``:
valid UTF-8 as itself, each undecodable byte as the four characters ``\\xNN``.
Quotes, backslashes, newlines and escape characters are kept as they are (the
exposition escapes them); a label value therefore always encodes as UTF-8.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ebpftop.model.xdp import L3_PROTOS

COUNTER, GAUGE = "counter", "gauge"
DEFAULT_MAX_SERIES = 10_000

# Capped families, in the order they are filled each frame: the small and
# most telling ones first, so a flood of names fills syscalls, not exits.
XDP_PACKETS = "ebpftop_xdp_packets"
XDP_BYTES = "ebpftop_xdp_bytes"
EXITS = "ebpftop_process_exits"
EXECS = "ebpftop_process_execs"
FILE_READ_BYTES = "ebpftop_file_read_bytes"
FILE_WRITE_BYTES = "ebpftop_file_write_bytes"
FILE_READS = "ebpftop_file_reads"
FILE_WRITES = "ebpftop_file_writes"
SYSCALLS = "ebpftop_syscalls"
CGROUP_SYSCALLS = "ebpftop_cgroup_syscalls"
CGROUP_LABELS = ("cgroup", "cgroup_path")  # the readable name, and the v2 path that makes it unique
CGROUP_EXECS = "ebpftop_cgroup_execs"
CGROUP_READ_BYTES = "ebpftop_cgroup_file_read_bytes"
CGROUP_WRITE_BYTES = "ebpftop_cgroup_file_write_bytes"
PATH_READ_BYTES = "ebpftop_file_path_read_bytes"
PATH_WRITE_BYTES = "ebpftop_file_path_write_bytes"
PATH_READS = "ebpftop_file_path_reads"
PATH_WRITES = "ebpftop_file_path_writes"
# Uncapped: one series, or one per probe.
FORKS = "ebpftop_process_forks"
LOST = "ebpftop_events_lost"
BPF_RUN_SECONDS = "ebpftop_bpf_run_seconds"
BPF_RUNS = "ebpftop_bpf_runs"
PROBE_LIVE = "ebpftop_probe_live"
XDP_ATTACHED = "ebpftop_xdp_attached"
FRAMES = "ebpftop_frames"
LAST_FRAME = "ebpftop_last_frame_timestamp_seconds"
RSS = "ebpftop_resident_memory_bytes"
SERIES = "ebpftop_series_kept"
SERIES_LIMIT = "ebpftop_series_limit"
SERIES_DROPPED = "ebpftop_series_dropped"

# Pane keys in a Frame (ebpftop/registry.py).
FILES_PANE, SYSCALLS_PANE, PROCS_PANE, XDP_PANE = "files", "syscalls", "procs", "xdp"

_UNKNOWN_TYPE = "unknown"  # files.UNKNOWN: an fd nobody could name has no path worth a series


def label_value(text: str) -> str:
    """An exact (surrogate-escaped) kernel string as a label value: undecodable bytes as ``\\xNN``."""
    if text.isascii():
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def exit_status(exit_code: int | None, signal: str | None) -> str:
    """The status label of an exit: the exit code ("3"), else the fatal signal ("SIGKILL")."""
    if signal is not None:
        return f"SIG{signal}"
    return str(exit_code) if exit_code is not None else "unknown"


@dataclass(frozen=True, slots=True)
class Spec:
    name: str  # counters without the _total suffix (the renderer adds it)
    kind: str
    help: str
    labels: tuple[str, ...] = ()
    divisor: int = 1  # value = stored integer / divisor (nanoseconds -> seconds: 10**9)


@dataclass(frozen=True, slots=True)
class Family:
    spec: Spec
    samples: Mapping[tuple[str, ...], float]  # label values (in spec.labels order) -> value


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a scrape renders: every family as of the latest frame (frozen; a new one per frame)."""

    families: tuple[Family, ...] = ()
    frames: int = 0
    time: float | None = None  # the latest frame's wall clock


@dataclass(frozen=True, slots=True)
class MetricsOptions:
    max_series: int = DEFAULT_MAX_SERIES  # labelled series kept at most, all capped families together
    pid_label: bool = False  # add pid to the syscall and file families
    top_paths: int = 0  # per-path file series for at most this many paths (0: none)


@dataclass(slots=True)
class _Family:
    spec: Spec
    capped: bool
    values: dict[tuple[str, ...], int] = field(default_factory=dict)


def _specs(opts: MetricsOptions) -> list[tuple[Spec, bool]]:
    pid = ("pid",) if opts.pid_label else ()
    file_labels = ("comm", "type", *pid)
    path_labels = ("path", "type")
    out = [
        (
            Spec(
                XDP_PACKETS,
                COUNTER,
                "Packets our XDP counter saw, per interface and protocol "
                "(layer l3: ipv4/ipv6/arp/other, every packet once; layer l4: tcp/udp/icmp/icmpv6/ip_other)",
                ("ifname", "layer", "proto"),
            ),
            True,
        ),
        (
            Spec(
                XDP_BYTES,
                COUNTER,
                "Bytes (from the Ethernet header) our XDP counter saw, as xdp_packets",
                ("ifname", "layer", "proto"),
            ),
            True,
        ),
        (
            Spec(
                EXITS,
                COUNTER,
                "Processes that ended, by name at exit and status (exit code, or SIG<name> if killed)",
                ("comm", "status"),
            ),
            True,
        ),
        (Spec(EXECS, COUNTER, "Successful execs, by the name the process took", ("comm",)), True),
        (
            Spec(FILE_READ_BYTES, COUNTER, "Bytes read by processes of this name from files of this type", file_labels),
            True,
        ),
        (
            Spec(
                FILE_WRITE_BYTES, COUNTER, "Bytes written by processes of this name to files of this type", file_labels
            ),
            True,
        ),
        (Spec(FILE_READS, COUNTER, "Read calls by processes of this name on files of this type", file_labels), True),
        (Spec(FILE_WRITES, COUNTER, "Write calls by processes of this name on files of this type", file_labels), True),
        (Spec(SYSCALLS, COUNTER, "System calls, by process name and syscall", ("comm", "syscall", *pid)), True),
        (
            Spec(
                CGROUP_SYSCALLS,
                COUNTER,
                "System calls, by the cgroup the kernel saw (a systemd unit, a container, a pod, else the v2 path)",
                CGROUP_LABELS,
            ),
            True,
        ),
        (Spec(CGROUP_EXECS, COUNTER, "Successful execs, by the cgroup the kernel saw", CGROUP_LABELS), True),
        (Spec(CGROUP_READ_BYTES, COUNTER, "Bytes read, by the cgroup the kernel saw", CGROUP_LABELS), True),
        (Spec(CGROUP_WRITE_BYTES, COUNTER, "Bytes written, by the cgroup the kernel saw", CGROUP_LABELS), True),
    ]
    if opts.top_paths > 0:
        out += [
            (Spec(PATH_READ_BYTES, COUNTER, "Bytes read from this path (tracked paths only)", path_labels), True),
            (Spec(PATH_WRITE_BYTES, COUNTER, "Bytes written to this path (tracked paths only)", path_labels), True),
            (Spec(PATH_READS, COUNTER, "Read calls on this path (tracked paths only)", path_labels), True),
            (Spec(PATH_WRITES, COUNTER, "Write calls on this path (tracked paths only)", path_labels), True),
        ]
    out += [
        (Spec(FORKS, COUNTER, "New processes (forks and clones that are not threads)"), False),
        (
            Spec(
                LOST, COUNTER, "Events a probe could not count (map or ring buffer full), toggles included", ("probe",)
            ),
            False,
        ),
        (
            Spec(
                BPF_RUN_SECONDS,
                COUNTER,
                "Time the probe's BPF programs ran, inside BPF-stats windows only "
                "(--bpf-stats: one interval in ten by default, every one with 'always')",
                ("probe",),
                10**9,
            ),
            False,
        ),
        (Spec(BPF_RUNS, COUNTER, "Runs of the probe's BPF programs, inside BPF-stats windows only", ("probe",)), False),
    ]
    return out


class MetricsAccumulator:
    """Adds frames into totals; ``snapshot`` is the latest immutable view (safe to read from any thread)."""

    def __init__(self, opts: MetricsOptions | None = None) -> None:
        self.opts = opts or MetricsOptions()
        self._families: dict[str, _Family] = {spec.name: _Family(spec, capped) for spec, capped in _specs(self.opts)}
        self._series = 0  # capped series in use
        self._dropped: dict[str, int] = {}
        self._paths: set[tuple[str, str]] = set()  # (path, type) pairs that have per-path series
        self._lost: dict[str, int] = {}
        self._probe_live: dict[str, int] = {}
        self._xdp_attached: dict[tuple[str, ...], int] = {}  # interfaces of the latest XDP frame
        self._frames = 0
        self._time: float | None = None
        self._rss = 0
        self._labels: dict[str, str] = {}  # label_value cache: a handful of names repeat all day
        self._cgroups: dict[int, Any] = {}  # the frame being added's cgroup names (id -> ebpftop.cgroups.Cgroup)
        self.snapshot = self._build()  # every family (empty) and frames 0 until the first frame

    # -- sampler thread ------------------------------------------------------
    def add(self, frame: Any) -> Snapshot:
        """Count one frame (a model.frame.Frame) and publish the new snapshot."""
        panes = frame.panes
        if (xdp := panes.get(XDP_PANE)) is not None:
            self._add_xdp(xdp)
        else:
            self._xdp_attached = {}  # the probe is off: attached nowhere
        self._cgroups = getattr(frame, "cgroups", {}) or {}
        if (procs := panes.get(PROCS_PANE)) is not None:
            self._add_procs(procs)
        if (files := panes.get(FILES_PANE)) is not None:
            self._add_files(files)
        if (syscalls := panes.get(SYSCALLS_PANE)) is not None:
            self._add_syscalls(syscalls)
        for status in frame.probes:
            name = status.name
            # Never below what was shown: a probe's lost count is cumulative across toggles already.
            self._lost[name] = max(self._lost.get(name, 0), int(status.lost_total))
            self._set(BPF_RUNS, {(name,): int(status.runs_measured)}, monotonic=True)
            self._set(BPF_RUN_SECONDS, {(name,): int(status.run_ns_measured)}, monotonic=True)
            self._probe_live[name] = int(status.state == "live")
        self._set(LOST, {(k,): v for k, v in self._lost.items()}, monotonic=True)
        self._frames += 1
        self._time = frame.time
        self._rss = int(frame.rss_bytes)
        self.snapshot = self._build()
        return self.snapshot

    def _label(self, text: str) -> str:
        value = self._labels.get(text)
        if value is None:
            if len(self._labels) >= 8192:
                self._labels.clear()
            value = self._labels[text] = label_value(text)
        return value

    def _set(self, name: str, values: Mapping[tuple[str, ...], int], monotonic: bool) -> None:
        fam = self._families[name].values
        for key, value in values.items():
            fam[key] = max(fam.get(key, 0), value) if monotonic else value

    def _bump(self, name: str, increments: Mapping[tuple[str, ...], int]) -> None:
        """Add each label set's increment; new label sets only while the cap allows, busiest first."""
        fam = self._families[name]
        values = fam.values
        new: list[tuple[tuple[str, ...], int]] = []
        for key, inc in increments.items():
            if inc <= 0:
                continue
            if key in values:
                values[key] += inc
            else:
                new.append((key, inc))
        if not new:
            return
        if fam.capped:
            new.sort(key=lambda kv: (-kv[1], kv[0]))
            room = max(0, self.opts.max_series - self._series)
            if len(new) > room:
                self._dropped[name] = self._dropped.get(name, 0) + len(new) - room
                new = new[:room]
            self._series += len(new)
        for key, inc in new:
            values[key] = inc

    def _cgroup(self, cgroup: int) -> tuple[str, str]:
        """A cgroup id as label values: its readable name as the frame named it, and its v2 path, which
        tells apart two groups of one name (dbus.service under system.slice and under a user's
        manager); ('unknown', 'unknown') where the kernel gave none or the frame could not name it."""
        known = self._cgroups.get(cgroup) if cgroup else None
        if known is None:
            return ("unknown", "unknown")
        return (self._label(known.name), self._label(known.path) if known.path is not None else "unknown")

    def _add_xdp(self, table: Any) -> None:
        packets: dict[tuple[str, ...], int] = {}
        nbytes: dict[tuple[str, ...], int] = {}
        attached: dict[tuple[str, ...], int] = {}
        for row in table.rows[: self.opts.max_series]:  # a gauge per interface: bounded by the cap too
            attached[(self._label(row.ifname),)] = int(row.state == "attached")
        self._xdp_attached = attached
        for row in table.rows:
            ifname = self._label(row.ifname)
            for proto, stat in row.by_proto.items():
                key = (ifname, "l3" if proto in L3_PROTOS else "l4", proto)
                packets[key] = packets.get(key, 0) + stat.packets
                nbytes[key] = nbytes.get(key, 0) + stat.bytes
        self._bump(XDP_PACKETS, packets)
        self._bump(XDP_BYTES, nbytes)

    def _add_procs(self, tree: Any) -> None:
        forks = 0
        execs: dict[tuple[str, ...], int] = {}
        by_cgroup: dict[tuple[str, ...], int] = {}
        exits: dict[tuple[str, ...], int] = {}
        for ev in tree.events:
            kind = ev.type
            if kind == "fork":
                forks += 1
            elif kind == "exec":
                comm = (self._label(ev.comm),)
                execs[comm] = execs.get(comm, 0) + 1
                group = self._cgroup(getattr(ev, "cgroup", 0))
                by_cgroup[group] = by_cgroup.get(group, 0) + 1
            elif kind == "exit":
                ended = (self._label(ev.comm), exit_status(ev.exit_code, ev.signal))
                exits[ended] = exits.get(ended, 0) + 1
        self._bump(EXITS, exits)
        self._bump(EXECS, execs)
        self._bump(CGROUP_EXECS, by_cgroup)
        if forks:
            self._bump(FORKS, {(): forks})

    def _add_files(self, table: Any) -> None:
        pids = table.pids
        rb: dict[tuple[str, ...], int] = {}
        wb: dict[tuple[str, ...], int] = {}
        rc: dict[tuple[str, ...], int] = {}
        wc: dict[tuple[str, ...], int] = {}
        per_path: dict[tuple[str, str], list[int]] = {}
        cg_rb: dict[tuple[str, ...], int] = {}
        cg_wb: dict[tuple[str, ...], int] = {}
        pid_label = self.opts.pid_label
        top_paths = self.opts.top_paths
        for io in table.io:
            if pids is not None and io.tgid not in pids:
                continue
            group = self._cgroup(getattr(io, "cgroup", 0))
            cg_rb[group] = cg_rb.get(group, 0) + io.read_bytes
            cg_wb[group] = cg_wb.get(group, 0) + io.write_bytes
            key: tuple[str, ...] = (self._label(io.comm), io.type)
            if pid_label:
                key = (*key, str(io.tgid))
            rb[key] = rb.get(key, 0) + io.read_bytes
            wb[key] = wb.get(key, 0) + io.write_bytes
            rc[key] = rc.get(key, 0) + io.reads
            wc[key] = wc.get(key, 0) + io.writes
            if top_paths and io.type != _UNKNOWN_TYPE:
                acc = per_path.setdefault((io.path, io.type), [0, 0, 0, 0])
                acc[0] += io.read_bytes
                acc[1] += io.write_bytes
                acc[2] += io.reads
                acc[3] += io.writes
        self._bump(FILE_READ_BYTES, rb)
        self._bump(FILE_WRITE_BYTES, wb)
        self._bump(FILE_READS, rc)
        self._bump(FILE_WRITES, wc)
        self._bump(CGROUP_READ_BYTES, cg_rb)
        self._bump(CGROUP_WRITE_BYTES, cg_wb)
        if top_paths:
            self._add_paths(per_path)

    def _add_paths(self, per_path: dict[tuple[str, str], list[int]]) -> None:
        """Per-path series for at most top_paths paths: a path gets its series when it is among an
        interval's top_paths by bytes (then by calls) while fewer than top_paths have one; from then
        on every interval's I/O on it is counted."""
        room = self.opts.top_paths - len(self._paths)
        if room > 0:

            def busiest(p: tuple[str, str]) -> tuple[int, int, tuple[str, str]]:
                v = per_path[p]
                return (-(v[0] + v[1]), -(v[2] + v[3]), p)

            top = sorted(per_path, key=busiest)[: self.opts.top_paths]
            self._paths.update([p for p in top if p not in self._paths][:room])
        tracked = [(p, v) for p, v in per_path.items() if p in self._paths]
        for name, i in ((PATH_READ_BYTES, 0), (PATH_WRITE_BYTES, 1), (PATH_READS, 2), (PATH_WRITES, 3)):
            self._bump(name, {(self._label(path), kind): v[i] for (path, kind), v in tracked})

    def _add_syscalls(self, table: Any) -> None:
        counts: dict[tuple[str, ...], int] = {}
        by_cgroup: dict[tuple[str, ...], int] = {}
        pid_label = self.opts.pid_label
        for row in table.rows:
            comm = self._label(row.comm)
            for top in row.top:  # every syscall the process made this interval, with its exact count
                key: tuple[str, ...] = (comm, top.name, str(row.pid)) if pid_label else (comm, top.name)
                counts[key] = counts.get(key, 0) + top.count
            group = self._cgroup(getattr(row, "cgroup", 0))
            by_cgroup[group] = by_cgroup.get(group, 0) + row.count
        self._bump(SYSCALLS, counts)
        self._bump(CGROUP_SYSCALLS, by_cgroup)

    def _build(self) -> Snapshot:
        families = [Family(f.spec, dict(f.values)) for f in self._families.values()]
        families += [
            Family(
                Spec(
                    PROBE_LIVE,
                    GAUGE,
                    "1 while the probe's programs are loaded and counting, else 0 (xdp: counting only where "
                    "ebpftop_xdp_attached is 1, which may be nowhere)",
                    ("probe",),
                ),
                {(k,): v for k, v in self._probe_live.items()},
            ),
            Family(
                Spec(
                    XDP_ATTACHED,
                    GAUGE,
                    "1 where our XDP counter is attached, 0 on the other interfaces listed",
                    ("ifname",),
                ),
                dict(self._xdp_attached),
            ),
            Family(Spec(FRAMES, COUNTER, "Intervals counted into these metrics"), {(): self._frames}),
            Family(
                Spec(LAST_FRAME, GAUGE, "Wall clock (Unix seconds) at the end of the latest counted interval"),
                {(): self._time or 0.0},
            ),
            Family(Spec(RSS, GAUGE, "ebpftop's resident memory when the latest interval was counted"), {(): self._rss}),
            Family(
                Spec(SERIES, GAUGE, "Labelled series kept (the families under the --metrics-max-series cap)"),
                {(): self._series},
            ),
            Family(
                Spec(SERIES_LIMIT, GAUGE, "The cap on labelled series (--metrics-max-series)"),
                {(): self.opts.max_series},
            ),
            Family(
                Spec(
                    SERIES_DROPPED,
                    COUNTER,
                    "Label sets refused because the series cap was reached (one per label set per interval)",
                    ("metric",),
                ),
                {(k + "_total",): v for k, v in self._dropped.items()},
            ),
        ]
        return Snapshot(tuple(families), self._frames, self._time)


def totals(snapshot: Snapshot) -> dict[str, dict[tuple[str, ...], float]]:
    """name -> label values -> value (in base units), for tests and tools."""
    return {
        f.spec.name: {k: v / f.spec.divisor if f.spec.divisor != 1 else v for k, v in f.samples.items()}
        for f in snapshot.families
    }
