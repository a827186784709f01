"""Snapshots of every pane and the help screen at 80x24 (tabs) and 200x60 (the dashboard), against fixed frames.

After a deliberate change to what is drawn: `make test PYTEST="tests/ui --snapshot-update"`,
then look at the SVGs in tests/ui/__snapshots__/ before committing them.
"""

from __future__ import annotations

import pytest

from ebpftop.model.frame import LIVE, Frame, ProbeStatus
from ebpftop.model.proctree import EXEC, FORK, ProcEvent, ProcTreeModel
from ebpftop.model.syscalls import SyscallsModel
from ebpftop.model.xdp import XdpModel
from ebpftop.settings import Settings
from ebpftop.ui.app import EbpftopApp
from tests.ui.scripted import ScriptedSource, syscall_frame
from tests.ui.test_files_pane import files_frame
from tests.ui.test_proctree_pane import T0, first_sample, procs_frame
from tests.ui.test_xdp_pane import xdp_frame

SMALL = (80, 24)
LARGE = (200, 60)
SIZES = pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "200x60"])
PANES = pytest.mark.parametrize("pane", ["files", "syscalls", "procs", "xdp"])

# What a live header shows: one probe just switched back on (nothing measured yet: "–"), one off.
STATUSES = (
    ProbeStatus("files", LIVE, events_per_s=1_834.0, avg_ns=312.0, cpu_pct=0.06, cost_age_s=4.0),
    ProbeStatus("syscalls", LIVE, events_per_s=207_186.0, avg_ns=41.5, cpu_pct=0.86, cost_age_s=4.0),
    ProbeStatus("proctree", LIVE),
    ProbeStatus("xdp", LIVE, events_per_s=10_000.0, avg_ns=38.0, cpu_pct=0.04, cost_age_s=4.0, lost_total=3),
)


def _app(pane: str, pids: frozenset[int] | None = None) -> tuple[EbpftopApp, ScriptedSource]:
    source = ScriptedSource()
    return EbpftopApp(Settings(pids=pids), source, initial_pane=pane), source


async def _feed(source: ScriptedSource, pilot) -> None:  # type: ignore[no-untyped-def]
    """Two intervals of every pane's data in one frame each (sparklines get a history)."""
    syscalls, xdp, procs = SyscallsModel(), XdpModel(), ProcTreeModel()
    events = (
        ProcEvent(FORK, 300, 200, "bash", time=T0 - 0.5),
        ProcEvent(EXEC, 300, 200, "make", filename="/usr/bin/make", argv=("make", "-j2", "test"), time=T0 - 0.4),
    )
    tree = procs_frame(procs, first_sample(events))
    for elapsed in (1.0, 0.5, 2.0, 1.0):
        panes = {
            **files_frame().panes,
            **syscall_frame(syscalls, elapsed).panes,
            **xdp_frame(xdp).panes,
            **tree.panes,
        }
        source.emit(Frame(1_700_000_000.0, elapsed, STATUSES, panes, self_cpu_pct=1.2, rss_bytes=72 * 2**20))
        await pilot.pause()


@SIZES
@PANES
def test_pane(snap_compare, pane: str, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    app, source = _app(pane)

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await _feed(source, pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@SIZES
def test_help_screen(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    app, source = _app("syscalls")

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await _feed(source, pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_filtered_paused_view(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, source = _app("syscalls", pids=frozenset({4242, 1337, 777, 1, 20001, 30001, 40001}))

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        frame = syscall_frame(SyscallsModel())
        table = frame.panes["syscalls"]
        rows = tuple(r for r in table.rows if r.pid == 4242)  # what the sampler's model filter yields
        filtered = type(table)(rows, table.total_rate, table.history, table.lost_total)
        source.emit(Frame(frame.time, frame.elapsed, STATUSES, {"syscalls": filtered}, frame.self_cpu_pct))
        await pilot.pause()
        await pilot.press("space")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SMALL, run_before=run_before)
