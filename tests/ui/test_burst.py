"""Keys that arrive in one burst (a paste, a laggy SSH link) after a key that opens a prompt belong to the prompt."""

from __future__ import annotations

import os

from textual import events
from textual.app import App

from ebpftop.settings import Settings
from ebpftop.ui.app import EbpftopApp
from ebpftop.ui.help import HelpScreen
from tests.ui.scripted import ScriptedSource, syscall_frame

_NAMES = {"\x10": "ctrl+p", "/": "slash", "?": "question_mark", "\r": "enter", " ": "space", "+": "plus", "-": "minus"}


def burst(app: App, text: str) -> None:
    """Queue every key of text before the app handles any: what the driver does with one read() of a burst."""
    driver = app._driver
    assert driver is not None
    for char in text:
        key = _NAMES.get(char, char)
        event = events.Key(key, None if char == "\r" else char)
        event.set_sender(app)
        driver.send_message(event)


def make_app() -> tuple[EbpftopApp, ScriptedSource]:
    source = ScriptedSource()
    return EbpftopApp(Settings(), source, initial_pane="syscalls"), source


async def test_burst_after_slash_goes_to_the_prompt() -> None:
    app, source = make_app()
    pid = os.getpid()
    async with app.run_test(size=(120, 30)) as pilot:
        source.emit(syscall_frame())
        await pilot.pause()
        burst(app, f"/{pid}s+-\r")  # digits toggle probes, s sorts, +/- change the interval when they leak
        await pilot.pause()
        await pilot.pause()
        assert source.toggled == []
        assert source.intervals == []
        assert source.pids == []  # "12345s+-" is not a valid filter: the prompt stays open with its reason
        assert app.query_one("#filter-input").value == f"{pid}s+-"
        assert app.query_one("#filterbar").display


async def test_burst_filter_applies() -> None:
    app, source = make_app()
    pid = os.getpid()
    async with app.run_test(size=(120, 30)) as pilot:
        burst(app, f"/{pid}\r")
        await pilot.pause()
        await pilot.pause()
        assert source.toggled == [] and source.intervals == []
        assert source.pids == [frozenset({pid})]
        assert not app.query_one("#filterbar").display


async def test_burst_after_help_goes_to_the_help_screen() -> None:
    app, source = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        burst(app, "?1q")  # q closes help; it must not reach the app (quit) and 1 must not toggle
        await pilot.pause()
        await pilot.pause()
        assert app.is_running
        assert source.toggled == []
        assert not isinstance(app.screen, HelpScreen)


async def test_slash_can_be_typed_inside_the_prompt() -> None:
    app, _source = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        burst(app, "/kworker/0")
        await pilot.pause()
        await pilot.pause()
        assert app.query_one("#filter-input").value == "kworker/0"


async def test_keys_after_enter_are_commands_again() -> None:
    app, source = make_app()
    pid = os.getpid()
    async with app.run_test(size=(120, 30)) as pilot:
        burst(app, f"/{pid}\r1")
        await pilot.pause()
        await pilot.pause()
        assert source.pids == [frozenset({pid})]
        assert source.toggled == ["files"]
        assert app.query_one("#filter-input").value == str(pid)


async def test_burst_after_ctrl_p_goes_to_the_palette() -> None:
    from textual.command import CommandPalette

    app, source = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        burst(app, "\x10")
        burst(app, "12")
        await pilot.pause()
        await pilot.pause()
        assert source.toggled == []
        assert isinstance(app.screen, CommandPalette)


async def test_editing_keys_in_a_burst_act_in_order() -> None:
    app, _source = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        burst(app, "/99")
        event = events.Key("ctrl+u", None)  # clears what was typed before it, not after
        event.set_sender(app)
        app._driver.send_message(event)
        burst(app, "12x")
        event = events.Key("backspace", None)
        event.set_sender(app)
        app._driver.send_message(event)
        burst(app, "3")
        await pilot.pause()
        await pilot.pause()
        assert app.query_one("#filter-input").value == "123"
