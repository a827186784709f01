"""Snapshots of the process view and the kill menu at 80x24 and 200x60, against fixed frames.

After a deliberate change: `.venv/bin/python -m pytest tests/ui/test_htop_snapshots.py --snapshot-update`,
then look at the SVGs in tests/ui/__snapshots__/ before committing them.
"""

from __future__ import annotations

import time

import pytest

from ebpftop.procinfo import Identity, Pinned
from ebpftop.settings import Settings
from ebpftop.ui.app import EbpftopApp
from ebpftop.ui.killmenu import KillConfirm, KillMenu
from ebpftop.ui.procview import ProcessScreen, target_for
from tests.ui.scripted import ScriptedSource
from tests.ui.test_htopkeys import all_panes_frame

SIZES = [(80, 24), (200, 60)]


def _app() -> tuple[EbpftopApp, ScriptedSource]:
    source = ScriptedSource()
    return EbpftopApp(Settings(), source, initial_pane="syscalls"), source


@pytest.fixture
def utc(monkeypatch):  # type: ignore[no-untyped-def]
    """The process view shows local time: pin the zone so the snapshot is the same everywhere."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "200x60"])
def test_process_view(snap_compare, size, utc) -> None:  # type: ignore[no-untyped-def]
    app, source = _app()

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        frame = all_panes_frame()
        source.emit(frame)
        await pilot.pause()
        # No /proc reads: PID 300 here is made up, its cwd and cgroup show "unknown".
        await app.push_screen(ProcessScreen(target_for(frame, 300), frame, read_proc=False))
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "200x60"])
def test_kill_menu(snap_compare, size) -> None:  # type: ignore[no-untyped-def]
    app, source = _app()

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        source.emit(all_panes_frame())
        await pilot.pause()
        await app.push_screen(KillMenu(Identity(300, 12345), "make\x1b[2J"))
        await pilot.press("down")

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_kill_confirmation(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, source = _app()

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        source.emit(all_panes_frame())
        await pilot.pause()
        await app.push_screen(KillConfirm(Pinned(Identity(300, 12345), None), "make", 15))
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
