"""What one refresh produces: probe status plus each pane's view data, immutable once built."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

# Version of the --batch JSON (ebpftop/output/schema.json); bumped when a
# field changes meaning or goes away, not when one is added.
SCHEMA_VERSION = 1


class ProbeState(StrEnum):
    """A probe's life cycle, as shown in the header and in --batch output (the value is the JSON string)."""

    OFF = "off"
    LOADING = "loading"
    LIVE = "live"
    UNAVAILABLE = "unavailable"  # this kernel or setup cannot run it; reason says why
    ERROR = "error"  # it was running or loading and failed; reason says why


OFF, LOADING, LIVE, UNAVAILABLE, ERROR = ProbeState


class PaneData(Protocol):
    """View data of one pane for one interval.

    A table may also have ``notices() -> tuple[str, ...]``: one-line warnings for the user
    (``--batch`` says each on stderr once); see ``notices_of``.
    """

    def to_json(self) -> Any: ...


def notices_of(frame: Frame) -> tuple[str, ...]:
    """Every pane's notices in this frame (tables without ``notices`` have none)."""
    return tuple(text for table in frame.panes.values() for text in getattr(table, "notices", tuple)())


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(frozen=True, slots=True)
class ProbeStatus:
    """One probe's state, what it counted this interval, and what its BPF programs cost.

    None is "not measured": no read yet since the probe came on, or no BPF-stats
    window closed yet. Events/s is this interval's count over this probe's own
    read window (``window_start`` .. + ``window_s``); run time per event and
    CPU% come from the last sampled BPF-stats window, which closed
    ``cost_age_s`` seconds before this frame.
    """

    name: str
    state: ProbeState
    reason: str | None = None
    events_per_s: float | None = None
    avg_ns: float | None = None
    cpu_pct: float | None = None  # kernel time spent in this probe's programs, % of one CPU
    # Events not counted (map full, ring buffer full), cumulative since
    # lost_since: the first time this probe went live in this run (epoch
    # seconds; None if it never did). Toggling the probe does not reset it.
    # JSON "lost" (schema.json); *_total is the cumulative name everywhere.
    lost_total: int = 0
    lost_since: float | None = None
    cost_age_s: float | None = None  # seconds since the stats window behind avg_ns/cpu_pct closed
    window_start: float | None = None  # wall clock (epoch s) at the start of this probe's read window
    window_s: float | None = None  # its measured length: events_per_s = count / window_s
    # Run count and run time of this probe's programs summed over every BPF-stats window closed
    # so far in this run (exact kernel counts; intervals outside a window are not in them). Never
    # decrease, toggles included. For --metrics; not in the --batch JSON.
    runs_measured: int = 0
    run_ns_measured: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "reason": self.reason,
            # Not rounded: with window_s to the ns, round(events_per_s * window_s) is the count at any
            # interval (kept to 0.001, 2 events over 3600 s came back as 4).
            "events_per_s": self.events_per_s,
            "avg_ns": _round(self.avg_ns, 1),
            "cpu_pct": _round(self.cpu_pct, 3),
            "cost_age_s": _round(self.cost_age_s, 3),
            "window_start": _round(self.window_start, 6),
            "window_s": _round(self.window_s, 9),  # to the ns
            "lost": self.lost_total,
            "lost_since": round(self.lost_since, 6) if self.lost_since is not None else None,
        }


@dataclass(frozen=True, slots=True)
class Frame:
    """One refresh: when, over how long, every probe's status, and each live pane's data."""

    time: float  # wall clock (epoch seconds) at the end of the interval
    elapsed: float  # measured seconds since the previous frame
    probes: tuple[ProbeStatus, ...]
    panes: dict[str, PaneData] = field(default_factory=dict)
    self_cpu_pct: float = 0.0  # ebpftop's own user+system CPU over the interval
    final: bool = False  # the last frame, flushed at exit
    work_s: float = 0.0  # sampler time spent reading the maps and building this frame
    rss_bytes: int = 0  # ebpftop's resident memory when the frame was built (0: unknown)
    cgroups: dict[int, Any] = field(default_factory=dict)  # cgroup id -> ebpftop.cgroups.Cgroup, for ids in rows

    def to_json(self, top: int | None = None) -> dict[str, Any]:
        """The --batch object. ``top`` keeps the first N entries of every list (each list's order
        is its pane's: hottest first, events in time order); ``rows`` has each list's full length."""
        out: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "time": round(self.time, 6),
            "elapsed": round(self.elapsed, 6),
            "final": self.final,
            "probes": {p.name: p.to_json() for p in self.probes},
            "self_cpu_pct": round(self.self_cpu_pct, 2),
            "work_ms": round(self.work_s * 1000, 3),
            "rss_bytes": self.rss_bytes,
            "top": top,
            "cgroups": {str(cid): cg.to_json() for cid, cg in sorted(self.cgroups.items())},
        }
        rows: dict[str, int] = {}
        for name, data in self.panes.items():
            value = data.to_json()
            if isinstance(value, list):
                rows[name] = len(value)
                value = value[:top] if top is not None else value
            elif isinstance(value, dict):
                value = dict(value)
                for key, item in value.items():
                    if isinstance(item, list):
                        rows[f"{name}.{key}"] = len(item)
                        value[key] = item[:top] if top is not None else item
            out[name] = value
        out["rows"] = rows
        return out
