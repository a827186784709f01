"""The app driven by Pilot against a scripted source: start, render, sort, keys, quit."""

from __future__ import annotations

from textual.widgets import DataTable

from ebpftop.settings import Settings
from ebpftop.ui.app import EbpftopApp
from ebpftop.ui.syscalls_pane import SyscallsPane
from tests.ui.scripted import HOSTILE, ScriptedSource, syscall_frame


def make_app() -> tuple[EbpftopApp, ScriptedSource]:
    source = ScriptedSource()
    return EbpftopApp(Settings(), source), source


def cell_texts(table: DataTable, column: int) -> list[str]:
    return [str(table.get_row_at(i)[column]).strip() for i in range(table.row_count)]


async def test_starts_renders_rows_sorted_by_rate() -> None:
    app, source = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        source.emit(syscall_frame())
        await pilot.pause()
        table = app.query_one("#syscalls-table", DataTable)
        assert cell_texts(table, 0) == ["4242", "1337", "777", "1"]


async def test_hostile_name_is_visible_text_not_escape_or_markup() -> None:
    app, source = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        source.emit(syscall_frame())
        await pilot.pause()
        table = app.query_one("#syscalls-table", DataTable)
        names = cell_texts(table, 1)
        assert "\\x1b[2J[bold]x" in names
        assert "[link=http://x]y" in names
        assert not any("\x1b" in n for n in names)
        # What reaches the screen: the name as visible text, no ESC byte, no markup applied.
        svg = app.export_screenshot()
        assert "\x1b" not in svg
        assert "\\x1b[2J[bold]x" in svg
        assert "[link=http://x]y" in svg


async def test_sort_keys_cycle_and_reverse() -> None:
    app, source = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        source.emit(syscall_frame())
        await pilot.pause()
        pane = app.query_one(SyscallsPane)
        table = app.query_one("#syscalls-table", DataTable)
        await pilot.press("s")  # -> COUNT
        assert pane.sort_index == 3
        await pilot.press("s", "s", "s")  # -> TOP, PID, COMMAND... wraps to PID
        assert pane.sort_index == 1
        await pilot.press("s", "s", "s", "s")  # -> PID (ascending)
        assert pane.sort_index == 0
        assert cell_texts(table, 0) == ["1", "777", "1337", "4242"]
        await pilot.press("r")
        assert cell_texts(table, 0) == ["4242", "1337", "777", "1"]


async def test_header_click_sorts() -> None:
    app, source = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        source.emit(syscall_frame())
        await pilot.pause()
        table = app.query_one("#syscalls-table", DataTable)
        await pilot.click("#syscalls-table", offset=(2, 0))  # the PID header
        await pilot.pause()
        assert cell_texts(table, 0) == ["1", "777", "1337", "4242"]


async def test_cursor_stays_on_same_pid_across_frames() -> None:
    app, source = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        source.emit(syscall_frame())
        await pilot.pause()
        await pilot.press("down", "down")
        pane = app.query_one(SyscallsPane)
        assert pane.selected_pid() == 777
        source.emit(syscall_frame())
        await pilot.pause()
        assert pane.selected_pid() == 777


async def test_pause_holds_the_screen() -> None:
    app, source = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("space")
        source.emit(syscall_frame())
        await pilot.pause()
        assert app.query_one("#syscalls-table", DataTable).row_count == 0
        await pilot.press("space")
        await pilot.pause()
        assert app.query_one("#syscalls-table", DataTable).row_count == 4


async def test_interval_keys_ask_the_source() -> None:
    app, source = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("plus", "minus", "minus")
        assert source.intervals == [2.0, 1.0, 0.5]


async def test_probe_key_toggles_probe() -> None:
    app, source = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("2")
        assert source.toggled == ["syscalls"]


async def test_q_quits() -> None:
    app, source = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code in (0, None)
    assert not app.is_running
