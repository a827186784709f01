"""Snapshots of every pane, the help screen and a filtered view, against fixed frames.

After a deliberate change to what is drawn: `make test PYTEST="tests/ui --snapshot-update"`,
then look at the SVGs in tests/ui/__snapshots__/ before committing them.
"""

from __future__ import annotations

from ebpftop.model.proctree import EXEC, FORK, ProcEvent, ProcTreeModel
from ebpftop.model.syscalls import SyscallModel
from ebpftop.model.xdp import XdpModel
from ebpftop.settings import Settings
from ebpftop.ui.app import EbpftopApp
from tests.ui.scripted import ScriptedSource, syscall_frame
from tests.ui.test_files_pane import files_frame
from tests.ui.test_proctree_pane import T0, first_sample, procs_frame
from tests.ui.test_xdp_pane import xdp_frame

SIZE = (120, 30)


def _app(pane: str, pids: frozenset[int] | None = None) -> tuple[EbpftopApp, ScriptedSource]:
    source = ScriptedSource()
    return EbpftopApp(Settings(pids=pids), source, initial_pane=pane), source


def test_syscalls_pane(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, source = _app("syscalls")

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        model = SyscallModel()
        for elapsed in (1.0, 0.5, 2.0, 1.0):  # some history for the sparkline
            source.emit(syscall_frame(model, elapsed))
            await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_files_pane(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, source = _app("files")

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        source.emit(files_frame())
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_tree_pane(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, source = _app("procs")

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        model = ProcTreeModel()
        events = (
            ProcEvent(FORK, 300, 200, "bash", time=T0 - 0.5),
            ProcEvent(EXEC, 300, 200, "make", filename="/usr/bin/make", argv=("make", "-j2", "test"), time=T0 - 0.4),
        )
        source.emit(procs_frame(model, first_sample(events)))
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_xdp_pane(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, source = _app("xdp")

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        model = XdpModel()
        source.emit(xdp_frame(model))
        await pilot.pause()
        source.emit(xdp_frame(model))
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_help_screen(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, source = _app("syscalls")
    assert snap_compare(app, terminal_size=(120, 40), press=["question_mark"])


def test_filtered_view(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, source = _app("syscalls", pids=frozenset({4242}))

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        from ebpftop.model.frame import Frame

        frame = syscall_frame(SyscallModel())
        table = frame.panes["syscalls"]
        rows = tuple(r for r in table.rows if r.pid == 4242)  # what the sampler's model filter yields
        filtered = type(table)(rows, table.total_rate, table.history, table.drops)
        source.emit(Frame(frame.time, frame.elapsed, frame.probes, {"syscalls": filtered}, frame.self_cpu_pct))
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
