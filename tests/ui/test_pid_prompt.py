"""The `/` prompt with PIDs no process can have: one inline line, the old filter kept, the TUI alive."""

from __future__ import annotations

import os

import pytest

from ebpftop.pids import parse_pids
from ebpftop.settings import Settings
from ebpftop.ui.app import EbpftopApp
from tests.ui.scripted import ScriptedSource, syscall_frame


@pytest.mark.parametrize(
    "typed, reason",
    [
        ("2147483648", "PID 2147483648 is out of range: PIDs here are 1 to"),
        ("99999999999999999999999", "is out of range"),
        ("\uff11", "not a PID: '\uff11' (PIDs are ASCII digits 0-9)"),
        ("\u0663", "not a PID: '\u0663'"),
        ("1,\uff12", "not a PID: '\uff12'"),
    ],
)
async def test_bad_pid_at_prompt_is_one_line_and_filter_kept(typed: str, reason: str) -> None:
    source = ScriptedSource()
    app = EbpftopApp(Settings(), source, initial_pane="syscalls")
    async with app.run_test(size=(120, 30)) as pilot:
        before = parse_pids(str(os.getpid()))
        app.set_pids(before)
        await pilot.press("slash", "ctrl+u")
        for ch in typed:
            await pilot.press(ch)
        await pilot.press("enter")
        await pilot.pause()
        error = str(app.query_one("#filter-error").render())
        assert reason in error and error.endswith("filter unchanged") and "\n" not in error
        assert app.pids == before and source.pids == [before]
        # Alive: the prompt closes and frames still render.
        await pilot.press("escape")
        source.emit(syscall_frame())
        await pilot.pause()
        assert app.is_running and app.frame is not None
