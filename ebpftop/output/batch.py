"""--batch: one JSON object per interval on stdout, probe problems as one line each on stderr."""

from __future__ import annotations

import json
import signal
import sys
from typing import TextIO

from ebpftop.model import frame as fr
from ebpftop.model import xdp
from ebpftop.model.frame import Frame, ProbeStatus
from ebpftop.registry import SPECS
from ebpftop.sampler import Sampler
from ebpftop.settings import Settings


def dumps(frame: Frame, top: int | None = None) -> str:
    # ensure_ascii keeps every control character escaped and carries
    # undecodable bytes (surrogate escapes) exactly; see model.sanitize.decode.
    return json.dumps(frame.to_json(top), ensure_ascii=True, separators=(",", ":"))


def busy_ifaces(frame: Frame, asked: tuple[str, ...] | None) -> list[tuple[str, str]]:
    """(interface, what holds it) for each interface --xdp asked for where another XDP program sits."""
    table = frame.panes.get("xdp")
    if not asked or table is None:
        return []
    return [
        (r.ifname, f"program {r.prog_name or '?'} id {r.prog_id}" + (f" ({r.mode})" if r.mode else ""))
        for r in getattr(table, "rows", ())
        if r.state == xdp.BUSY and ("all" in asked or r.ifname in asked)
    ]


def run(settings: Settings, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    reported: dict[str, str | None] = {}

    def on_status(statuses: tuple[ProbeStatus, ...]) -> None:
        for s in statuses:
            if s.state in (fr.ERROR, fr.UNAVAILABLE) and reported.get(s.name) != s.reason:
                reported[s.name] = s.reason
                print(f"ebpftop: probe {s.name} {s.state}: {s.reason}", file=err, flush=True)

    warned: set[str] = set()

    def on_frame(frame: Frame) -> None:
        for ifname, holder in busy_ifaces(frame, settings.xdp_ifaces):
            if ifname not in warned:
                warned.add(ifname)
                print(f"ebpftop: xdp {ifname} is busy: {holder} is attached; not counting there", file=err, flush=True)
        try:
            out.write(dumps(frame, settings.top) + "\n")
            out.flush()
        except (BrokenPipeError, ValueError):  # reader went away / stdout closed
            sampler.stop()

    sampler = Sampler(
        SPECS,
        settings.probes,
        settings.interval,
        on_frame,
        on_status=on_status,
        count=settings.count,
        pids=settings.pids,
        stats=settings.bpf_stats,
        settings=settings,
    )

    def on_signal(signum: int, _frame: object) -> None:
        # Flush the partial interval so Ctrl-C never loses counted events.
        sampler.stop(flush=True)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, on_signal)
    sampler.start()
    while sampler.is_alive():
        sampler.join(0.25)
    if sampler.error is not None:
        print(f"ebpftop: {type(sampler.error).__name__}: {sampler.error}", file=err)
        return 1
    return 0
