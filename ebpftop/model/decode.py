"""Recorded frames back into Frames: the --batch JSON plus the few view-only fields the TUI draws.

A recording (ebpftop/output/record.py) keeps, per frame, exactly the line
--batch prints (``Frame.to_json``) and a second object, ``view_json``, with
what the panes draw but --batch leaves out: the process tree's nodes (the
batch JSON has its events only), the sparkline histories, XDP's counts since
attach, each pane's model elapsed time and totals. ``frame_from_json`` builds
a Frame from the two such that ``Frame.to_json`` gives the recorded object
again and the panes draw what they drew live.

A recording may come from another machine: every value is type-checked here
(``DecodeError`` on anything else), strings are kept exact (the panes
sanitize them as they do live ones), and a PID filter is applied in user
space, since there is no kernel to apply it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ebpftop.cgroups import Cgroup
from ebpftop.model.files import BY_PROCESS, FileIO, FileRow, FilesTable, group
from ebpftop.model.frame import Frame, ProbeState, ProbeStatus
from ebpftop.model.proctree import ProcEvent, ProcTree, ProcView
from ebpftop.model.rates import rate
from ebpftop.model.syscalls import SyscallRow, SyscallTable, TopSyscall
from ebpftop.model.xdp import IfaceState, LinkCounters, ProtoStat, XdpRow, XdpTable

if TYPE_CHECKING:
    from ebpftop.pids import PidFilter

MAX_DEPTH = 200  # as the live tree (model.proctree.MAX_DEPTH): deeper nodes are not recorded

# The reason of a probe hidden with its key in a replay: the badge says "hidden", not "off".
HIDDEN = "hidden in this replay (its key shows it again)"


class DecodeError(ValueError):
    """A recorded value is not what ebpftop writes (a corrupt or forged recording)."""


# -- checked accessors ------------------------------------------------------------
def _get(obj: Any, key: str) -> Any:
    if not isinstance(obj, dict):
        raise DecodeError(f"expected an object holding {key!r}, got {type(obj).__name__}")
    if key not in obj:
        raise DecodeError(f"missing {key!r}")
    return obj[key]


def _int(obj: Any, key: str) -> int:
    value = _get(obj, key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise DecodeError(f"{key!r} is not an integer")
    if not -(1 << 64) < value < 1 << 64:  # JSON bounds no integer; the kernel's are 64-bit
        raise DecodeError(f"{key!r} is out of range")
    return value


def _opt_int(obj: Any, key: str) -> int | None:
    return None if _get(obj, key) is None else _int(obj, key)


def _int_or(obj: Any, key: str, default: int = 0) -> int:
    """A field newer than some recordings (cgroups came with schema 1's later frames): default when absent."""
    if not isinstance(obj, dict) or obj.get(key) is None:
        return default
    return _int(obj, key)


def _float(obj: Any, key: str) -> float:
    value = _get(obj, key)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise DecodeError(f"{key!r} is not a number")
    try:
        number = float(value)  # an integer past a float's range: OverflowError
    except OverflowError:
        raise DecodeError(f"{key!r} is out of range") from None
    if not math.isfinite(number):
        raise DecodeError(f"{key!r} is not a number")
    return number


def _opt_float(obj: Any, key: str) -> float | None:
    return None if _get(obj, key) is None else _float(obj, key)


def _str(obj: Any, key: str) -> str:
    value = _get(obj, key)
    if not isinstance(value, str):
        raise DecodeError(f"{key!r} is not a string")
    return value


def _opt_str(obj: Any, key: str) -> str | None:
    return None if _get(obj, key) is None else _str(obj, key)


def _bool(obj: Any, key: str) -> bool:
    value = _get(obj, key)
    if not isinstance(value, bool):
        raise DecodeError(f"{key!r} is not true/false")
    return value


def _list(obj: Any, key: str) -> list[Any]:
    value = _get(obj, key)
    if not isinstance(value, list):
        raise DecodeError(f"{key!r} is not a list")
    return value


def _floats(obj: Any, key: str) -> tuple[float, ...]:
    values = _list(obj, key)
    return tuple(_float({key: v}, key) for v in values)


def _strs(values: Any, key: str) -> tuple[str, ...]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise DecodeError(f"{key!r} is not a list of strings")
    return tuple(values)


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


# -- ProbeStatus --------------------------------------------------------------------
def status_from_json(name: str, obj: Any) -> ProbeStatus:
    try:
        state = ProbeState(_str(obj, "state"))
    except ValueError:
        raise DecodeError(f"probe {name!r}: unknown state") from None
    return ProbeStatus(
        name=name,
        state=state,
        reason=_opt_str(obj, "reason"),
        events_per_s=_opt_float(obj, "events_per_s"),
        avg_ns=_opt_float(obj, "avg_ns"),
        cpu_pct=_opt_float(obj, "cpu_pct"),
        lost_total=_int(obj, "lost"),
        lost_since=_opt_float(obj, "lost_since"),
        cost_age_s=_opt_float(obj, "cost_age_s"),
        window_start=_opt_float(obj, "window_start"),
        window_s=_opt_float(obj, "window_s"),
    )


# -- what the batch JSON leaves out ---------------------------------------------------
def _view_json(view: ProcView, depth: int = 0) -> dict[str, Any]:
    return {
        "pid": view.pid,
        "ppid": view.ppid,
        "start": round(view.start, 6),
        "comm": view.comm,
        "filename": view.filename,
        "argv": list(view.argv),
        "argv_truncated": view.argv_truncated,
        "state": view.state,
        "age": round(view.age, 3),
        "exit_code": view.exit_code,
        "signal": view.signal,
        "core": view.core,
        "forks_per_s": round(view.forks_per_s, 3),
        "execs_per_s": round(view.execs_per_s, 3),
        "argv_unknown": view.argv_unknown,
        "cgroup": view.cgroup,
        "ns_pid": view.ns_pid,
        "ns_level": view.ns_level,
        "children": [_view_json(c, depth + 1) for c in view.children] if depth < MAX_DEPTH else [],
    }


def _elapsed_of(probe: str, frame: Frame) -> float:
    """The elapsed time the model divided by: the probe's read window (a table keeps rates only)."""
    status = next((p for p in frame.probes if p.name == probe), None)
    return status.window_s if status is not None and status.window_s is not None else 0.0


def view_json(frame: Frame) -> dict[str, Any]:
    """Per pane, what the TUI draws that ``Frame.to_json`` does not carry (see the module docstring)."""
    out: dict[str, Any] = {}
    for name, data in frame.panes.items():
        if isinstance(data, FilesTable):
            out[name] = {
                "elapsed": data.elapsed,
                "read_bps": round(data.read_bps, 3),
                "write_bps": round(data.write_bps, 3),
                "lost_total": data.lost_total,
            }
        elif isinstance(data, SyscallTable):
            out[name] = {
                "elapsed": _elapsed_of("syscalls", frame),
                "history": [round(v, 3) for v in data.history],
                "lost_total": data.lost_total,
            }
        elif isinstance(data, ProcTree):
            out[name] = {
                "roots": [_view_json(r) for r in data.roots],
                "live": data.live,
                "exited": data.exited,
                "forks_per_s": round(data.forks_per_s, 3),
                "execs_per_s": round(data.execs_per_s, 3),
                "exits_per_s": round(data.exits_per_s, 3),
                "cores": [i for i, e in enumerate(data.events) if e.core],
            }
        elif isinstance(data, XdpTable):
            out[name] = {
                "elapsed": _elapsed_of("xdp", frame),
                "history": [round(v, 3) for v in data.history],
                "lost_total": data.lost_total,
                "asked": list(data.asked) if data.asked is not None else None,
                "rows": [
                    {
                        "history": [round(v, 3) for v in r.history],
                        "since_attach": {p: [s.packets, s.bytes] for p, s in r.since_attach.items()},
                    }
                    for r in data.rows
                ],
            }
    return out


# -- panes ------------------------------------------------------------------------------
def _keeps(pids: PidFilter | None, pid: int, comm: str, cgroup: int | None = None) -> bool:
    # Recorded data carries no process start: a PID, a name or a cgroup in the filter admits it.
    return pids is None or pids.keeps(pid, None, comm, cgroup or None)


def files_from_json(rows: Any, view: Any, pids: PidFilter | None = None) -> FilesTable:
    if not isinstance(rows, list):
        raise DecodeError("files is not a list")
    elapsed = _float(view, "elapsed")
    decoded = []
    for obj in rows:
        reads, writes = _int(obj, "reads"), _int(obj, "writes")
        decoded.append(
            FileRow(
                path=_str(obj, "path"),
                type=_str(obj, "type"),
                pid=_int(obj, "pid"),
                comm=_str(obj, "comm"),
                processes=1,
                reads=reads,
                writes=writes,
                read_bytes=_int(obj, "read_bytes"),
                write_bytes=_int(obj, "write_bytes"),
                reads_per_s=rate(reads, elapsed),
                writes_per_s=rate(writes, elapsed),
                # From the exact elapsed time, as live (the JSON has them rounded).
                read_bps=rate(_int(obj, "read_bytes"), elapsed),
                write_bps=rate(_int(obj, "write_bytes"), elapsed),
                dev=_opt_int(obj, "dev"),
                ino=_opt_int(obj, "ino"),
                deleted=_bool(obj, "deleted"),
                truncated=_bool(obj, "truncated"),
                cgroup=_int_or(obj, "cgroup"),
            )
        )
    kept = [r for r in decoded if _keeps(pids, r.pid, r.comm, r.cgroup)]
    # A row per process and path is the sum of that process's fds on the path: as one FileIO each,
    # grouping them per path gives the live per-path rows (same sums, same busiest process).
    io = tuple(
        FileIO(r.pid, -1, 0, r.path, r.type, r.comm, r.reads, r.writes, r.read_bytes, r.write_bytes,
               r.dev, r.ino, r.deleted, r.truncated, r.cgroup)
        for r in kept
    )  # fmt: skip
    if pids is None:
        built = {BY_PROCESS: tuple(decoded)}
        read_bps, write_bps = _float(view, "read_bps"), _float(view, "write_bps")
    else:
        built = {BY_PROCESS: group(io, elapsed, None, BY_PROCESS)}
        read_bps = rate(sum(r.read_bytes for r in kept), elapsed)
        write_bps = rate(sum(r.write_bytes for r in kept), elapsed)
    return FilesTable(io, elapsed, None, read_bps, write_bps, _int(view, "lost_total"), _built=built)


def syscalls_from_json(rows: Any, view: Any, pids: PidFilter | None = None) -> SyscallTable:
    if not isinstance(rows, list):
        raise DecodeError("syscalls is not a list")
    elapsed = _float(view, "elapsed")
    decoded = []
    for obj in rows:
        top = tuple(TopSyscall(_str(t, "name"), _int(t, "count")) for t in _list(obj, "top"))
        count = _int(obj, "count")
        decoded.append(
            SyscallRow(_int(obj, "pid"), _str(obj, "comm"), count, rate(count, elapsed), top, _int_or(obj, "cgroup"))
        )
    kept = tuple(r for r in decoded if _keeps(pids, r.pid, r.comm, r.cgroup))
    # As the live model: this interval's total over the exact elapsed time (JSON rates are rounded).
    total = rate(sum(r.count for r in kept), elapsed)
    return SyscallTable(kept, total, _floats(view, "history"), _int(view, "lost_total"))


def _event(obj: Any, core: bool) -> ProcEvent:
    argv = _get(obj, "argv")
    truncated = _get(obj, "argv_truncated")
    if truncated is not None and not isinstance(truncated, bool):
        raise DecodeError("'argv_truncated' is not true/false")
    return ProcEvent(
        type=_str(obj, "type"),
        pid=_int(obj, "pid"),
        ppid=_int(obj, "ppid"),
        comm=_str(obj, "comm"),
        time=_float(obj, "time"),
        filename=_opt_str(obj, "filename"),
        argv=_strs(argv, "argv") if argv is not None else None,
        argv_truncated=bool(truncated),
        exit_code=_opt_int(obj, "exit_code"),
        signal=_opt_str(obj, "signal"),
        core=core,
        cgroup=_int_or(obj, "cgroup"),
        ns_pid=_int_or(obj, "ns_pid"),
        ns_level=_int_or(obj, "ns_level"),
    )


def _view(obj: Any, depth: int = 0) -> ProcView:
    if depth > MAX_DEPTH:
        raise DecodeError("process tree deeper than ebpftop records")
    return ProcView(
        pid=_int(obj, "pid"),
        ppid=_int(obj, "ppid"),
        start=_float(obj, "start"),
        comm=_str(obj, "comm"),
        filename=_opt_str(obj, "filename"),
        argv=_strs(_get(obj, "argv"), "argv"),
        argv_truncated=_bool(obj, "argv_truncated"),
        state=_str(obj, "state"),
        age=_float(obj, "age"),
        exit_code=_opt_int(obj, "exit_code"),
        signal=_opt_str(obj, "signal"),
        core=_bool(obj, "core"),
        forks_per_s=_float(obj, "forks_per_s"),
        execs_per_s=_float(obj, "execs_per_s"),
        children=tuple(_view(c, depth + 1) for c in _list(obj, "children")),
        argv_unknown=_opt_str(obj, "argv_unknown"),
        cgroup=_int_or(obj, "cgroup"),
        ns_pid=_int_or(obj, "ns_pid"),
        ns_level=_int_or(obj, "ns_level"),
    )


def _filter_views(views: tuple[ProcView, ...], pids: PidFilter) -> tuple[ProcView, ...]:
    """As the live model: the matching processes with their subtrees, and their ancestors for context."""
    out = []
    for v in views:
        if pids.keeps(v.pid, None, v.comm, v.cgroup or None):
            out.append(v)
            continue
        kids = _filter_views(v.children, pids)
        if kids:
            out.append(_replace_children(v, kids))
    return tuple(out)


def _replace_children(v: ProcView, children: tuple[ProcView, ...]) -> ProcView:
    import dataclasses

    return dataclasses.replace(v, children=children)


def _subtree_pids(views: tuple[ProcView, ...], pids: PidFilter, inside: bool = False) -> set[int]:
    out: set[int] = set()
    for v in views:
        here = inside or pids.keeps(v.pid, None, v.comm, v.cgroup or None)
        if here:
            out.add(v.pid)
        out |= _subtree_pids(v.children, pids, here)
    return out


def proctree_from_json(obj: Any, view: Any, pids: PidFilter | None = None) -> ProcTree:
    cores = set(_list(view, "cores"))
    events = tuple(_event(e, i in cores) for i, e in enumerate(_list(obj, "events")))
    roots = tuple(_view(r) for r in _list(view, "roots"))
    if pids is not None:
        keep = _subtree_pids(roots, pids)
        keep |= {e.pid for e in events if pids.keeps(e.pid, None, e.comm, e.cgroup or None)}
        events = tuple(e for e in events if e.pid in keep or e.ppid in keep)
        roots = _filter_views(roots, pids)
    return ProcTree(
        roots=roots,
        events=events,
        lost_interval=_int(obj, "lost"),
        lost_total=_int(obj, "lost_total"),
        live=_int(view, "live"),
        exited=_int(view, "exited"),
        forks_per_s=_float(view, "forks_per_s"),
        execs_per_s=_float(view, "execs_per_s"),
        exits_per_s=_float(view, "exits_per_s"),
    )


def _proto(obj: Any, key: str) -> ProtoStat:
    return ProtoStat(_int(obj, "packets"), _int(obj, "bytes"))


def xdp_from_json(rows: Any, view: Any) -> XdpTable:
    if not isinstance(rows, list):
        raise DecodeError("xdp is not a list")
    extra = _list(view, "rows")
    if len(extra) != len(rows):
        raise DecodeError("xdp rows and their view data differ in number")
    elapsed = _float(view, "elapsed")
    decoded = []
    for obj, more in zip(rows, extra, strict=True):
        k = _get(obj, "kernel")
        link = LinkCounters(
            _int(k, "rx_packets"),
            _int(k, "rx_bytes"),
            _int(k, "rx_dropped"),
            _int(k, "tx_packets"),
            _int(k, "tx_bytes"),
            _int(k, "tx_dropped"),
        )
        packets, nbytes = _int(obj, "packets"), _int(obj, "bytes")
        try:
            state = IfaceState(_str(obj, "state"))
        except ValueError:
            raise DecodeError("xdp: unknown interface state") from None
        by_proto = _get(obj, "by_proto")
        since = _get(more, "since_attach")
        if not isinstance(by_proto, dict) or not isinstance(since, dict):
            raise DecodeError("xdp: protocol counts are not objects")
        since_attach = {}
        for proto, pair in since.items():
            if not (isinstance(pair, list) and len(pair) == 2):
                raise DecodeError("xdp: since_attach is not [packets, bytes]")
            since_attach[proto] = ProtoStat(_int({"v": pair[0]}, "v"), _int({"v": pair[1]}, "v"))
        decoded.append(
            XdpRow(
                ifname=_str(obj, "ifname"),
                ifindex=_int(obj, "ifindex"),
                state=state,
                up=_bool(obj, "up"),
                mode=_opt_str(obj, "mode"),
                packets=packets,
                bytes=nbytes,
                # Rates from the exact elapsed time, as live (the JSON has them rounded).
                pps=rate(packets, elapsed),
                bps=rate(nbytes, elapsed),
                by_proto={p: _proto(s, p) for p, s in by_proto.items()},
                rx_pps=rate(link.rx_packets, elapsed),
                rx_bps=rate(link.rx_bytes, elapsed),
                tx_pps=rate(link.tx_packets, elapsed),
                tx_bps=rate(link.tx_bytes, elapsed),
                rx_drops_ps=rate(link.rx_dropped, elapsed),
                tx_drops_ps=rate(link.tx_dropped, elapsed),
                link_delta=link,
                history=_floats(more, "history"),
                prog_id=_int(obj, "prog_id"),
                prog_name=_str(obj, "prog_name"),
                reason=_opt_str(obj, "reason"),
                since_attach=since_attach,
            )
        )
    asked = _get(view, "asked")
    return XdpTable(
        tuple(decoded),
        rate(sum(r.packets for r in decoded), elapsed),
        _floats(view, "history"),
        _int(view, "lost_total"),
        _strs(asked, "asked") if asked is not None else None,
        _int_or(rows[0], "netns") if rows else 0,
    )


def cgroups_from_json(obj: Any) -> dict[int, Cgroup]:
    """The frame's cgroup names (absent in recordings made before cgroups were recorded)."""
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        raise DecodeError("'cgroups' is not an object")
    out = {}
    for key, value in obj.items():
        if not (isinstance(key, str) and key.isascii() and key.isdigit()):
            raise DecodeError("a cgroup id is not a decimal number")
        path, runtime = _get(value, "path"), _get(value, "runtime")
        if (path is not None and not isinstance(path, str)) or (runtime is not None and not isinstance(runtime, str)):
            raise DecodeError("a cgroup's path or runtime is not a string")
        out[int(key)] = Cgroup(int(key), path, _str(value, "name"), _str(value, "kind"), runtime)
    return out


DECODERS = {
    "files": lambda value, view, pids: files_from_json(value, view, pids),
    "syscalls": lambda value, view, pids: syscalls_from_json(value, view, pids),
    "procs": lambda value, view, pids: proctree_from_json(value, view, pids),
    "xdp": lambda value, view, _pids: xdp_from_json(value, view),
}
HEADER_KEYS = frozenset(
    {"schema", "time", "elapsed", "final", "probes", "self_cpu_pct", "work_ms", "rss_bytes", "top", "cgroups"}
)


def frame_from_json(
    obj: Any,
    view: Any,
    pids: PidFilter | None = None,
    hidden: frozenset[str] = frozenset(),
    hidden_panes: frozenset[str] = frozenset(),
) -> Frame:
    """The Frame behind a recorded --batch object and its ``view_json``.

    ``pids`` filters every pane as the live model would (in user space);
    ``hidden`` names probes switched off in the replay (their status says
    off, with the reason HIDDEN) and ``hidden_panes`` their panes' keys (left out).
    """
    if not isinstance(view, dict):
        raise DecodeError("view data is not an object")
    probes_obj = _get(obj, "probes")
    if not isinstance(probes_obj, dict):
        raise DecodeError("'probes' is not an object")
    probes = tuple(
        ProbeStatus(name, ProbeState.OFF, HIDDEN) if name in hidden else status_from_json(name, value)
        for name, value in probes_obj.items()
    )
    panes: dict[str, Any] = {}
    for name, decoder in DECODERS.items():
        if name not in obj or name in hidden_panes:
            continue
        if name not in view:
            raise DecodeError(f"no view data for pane {name!r}")
        panes[name] = decoder(obj[name], view[name], pids)
    top = _get(obj, "top")
    if top is not None:
        raise DecodeError("a frame cut by --top cannot be drawn (the recorder keeps every row)")
    return Frame(
        time=_float(obj, "time"),
        elapsed=_float(obj, "elapsed"),
        probes=probes,
        panes=panes,
        self_cpu_pct=_float(obj, "self_cpu_pct"),
        final=_bool(obj, "final"),
        work_s=_float(obj, "work_ms") / 1000,
        rss_bytes=_int(obj, "rss_bytes"),
        cgroups=cgroups_from_json(obj.get("cgroups")),
    )
