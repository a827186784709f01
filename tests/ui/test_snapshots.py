"""Snapshot of every pane against fixed frames (update with `make test PYTEST=--snapshot-update` after a deliberate change)."""

from __future__ import annotations

from ebpftop.model.syscalls import SyscallModel
from ebpftop.settings import Settings
from ebpftop.ui.app import EbpftopApp
from tests.ui.scripted import ScriptedSource, syscall_frame

SIZE = (120, 30)


def _app() -> tuple[EbpftopApp, ScriptedSource]:
    source = ScriptedSource()
    return EbpftopApp(Settings(), source, initial_pane="syscalls"), source


def test_syscalls_pane(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, source = _app()

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        model = SyscallModel()
        for elapsed in (1.0, 0.5, 2.0, 1.0):  # some history for the sparkline
            source.emit(syscall_frame(model, elapsed))
            await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
