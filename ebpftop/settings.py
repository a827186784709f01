"""Settings parsed from the command line, shared by the TUI and --batch."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ebpftop.pids import PidFilter


class StatsMode(StrEnum):
    """When BPF run-time stats are on (they cost every BPF program on the box two clock reads per run)."""

    SAMPLED = "sampled"  # one interval in ten
    ALWAYS = "always"
    OFF = "off"


@dataclass(frozen=True, slots=True)
class Settings:
    interval: float = 1.0
    probes: tuple[str, ...] = ()
    batch: bool = False
    count: int | None = None
    pids: PidFilter | frozenset[int] | None = None
    xdp_ifaces: tuple[str, ...] | None = None  # None: attach nowhere; ("all",) every interface
    xdp_mode: str = "generic"
    bpf_stats: str = StatsMode.SAMPLED  # a StatsMode value (--bpf-stats)
    proc_linger: float = 5.0  # seconds an exited process stays in the tree
    top: int | None = None  # --batch: at most this many entries per list (None: all)
    # --metrics (ebpftop/output/metrics.py): where to serve, and the series' bounds.
    metrics: tuple[str, int] | None = None  # (host, port); None: no exporter
    metrics_tui: bool = False  # --tui: the TUI next to the exporter (default headless)
    metrics_max_series: int = 10_000  # labelled series kept at most
    metrics_pid: bool = False  # a pid label on syscall and file series
    metrics_paths: int = 0  # per-path file series for at most this many paths
    # --record / --replay (ebpftop/output/record.py, ebpftop/replay.py)
    record: str | None = None  # append every frame to this file (compressed, rotated by size)
    record_max_size: int = 64 << 20  # compressed bytes per file before it rotates
    record_keep: int = 4  # files kept: FILE, FILE.1, ... FILE.<keep-1>
    replay: str | None = None  # show this recording instead of the live probes
