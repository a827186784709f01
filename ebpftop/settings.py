"""Settings parsed from the command line, shared by the TUI and --batch."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Settings:
    interval: float = 1.0
    probes: tuple[str, ...] = ()
    batch: bool = False
    count: int | None = None
    pids: frozenset[int] | None = None
    xdp_ifaces: tuple[str, ...] | None = None  # None: attach nowhere; ("all",) every interface
    xdp_mode: str = "generic"
    bpf_stats: str = "sampled"  # sampled (1 interval in 10) | always | off
    proc_linger: float = 5.0  # seconds an exited process stays in the tree
    top: int | None = None  # --batch: at most this many entries per list (None: all)
