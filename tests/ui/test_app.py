"""The app driven by Pilot against a scripted source: start, render, sort, keys, quit."""

from __future__ import annotations

import os

from ebpftop.pids import parse_pids
from ebpftop.settings import Settings
from ebpftop.ui.app import EbpftopApp
from ebpftop.ui.fasttable import FastTable as DataTable
from ebpftop.ui.syscalls_pane import SyscallsPane
from tests.ui.scripted import ScriptedSource, syscall_frame


def make_app(pane: str = "syscalls") -> tuple[EbpftopApp, ScriptedSource]:
    source = ScriptedSource()
    return EbpftopApp(Settings(), source, initial_pane=pane), source


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
        await pilot.press("s", "s", "s", "s")  # -> TOP, CGROUP, PID, COMMAND: wraps round
        assert pane.sort_index == 1
        await pilot.press("s", "s", "s", "s", "s")  # -> PID (ascending)
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
    app, _source = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code in (0, None)
    assert not app.is_running


async def test_slash_filter_applies_valid_pids() -> None:
    import os

    app, source = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("slash")
        await pilot.press(*str(os.getpid()), "enter")
        await pilot.pause()
        assert [f.pids for f in source.pids] == [frozenset({os.getpid()})]
        assert app.pids is not None and app.pids.pids == frozenset({os.getpid()})
        assert not app.query_one("#filterbar").display


async def test_filter_rejects_nonexistent_pid_and_keeps_previous() -> None:
    app, _source = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        init = parse_pids("1")
        app.set_pids(init)
        free = next(p for p in range(30000, 1, -1) if not os.path.exists(f"/proc/{p}"))
        await pilot.press("slash")
        await pilot.press("ctrl+u", *str(free), "enter")
        await pilot.pause()
        error = str(app.query_one("#filter-error").render())
        assert f"no process with PID {free}" in error
        assert app.query_one("#filterbar").display
        assert app.pids == init
        await pilot.press("escape")  # closes the prompt, filter unchanged
        assert not app.query_one("#filterbar").display
        assert app.pids == init


async def test_escape_clears_filter() -> None:
    app, source = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        app.set_pids(parse_pids("1"))
        await pilot.press("escape")
        assert app.pids is None and source.pids[-1] is None


async def test_f_filters_to_selected_process() -> None:
    app, source = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        source.emit(syscall_frame(extra_pid=os.getpid()))  # the last row: a process that exists
        await pilot.pause()
        app.focus_active_pane()
        await pilot.press("end", "f")
        assert app.pids is not None and app.pids.pids == frozenset({os.getpid()})


async def test_help_lists_every_key() -> None:
    app, _source = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        from ebpftop.ui.help import HelpScreen

        assert isinstance(app.screen, HelpScreen)
        shown = {key for key, _ in app.screen.bindings}
        for expected in ("q", "space", "/", "s", "?", "+", "-", "1", "2"):
            assert any(expected in k for k in shown), expected
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_brackets_switch_panes() -> None:
    from ebpftop.ui.panes import PANES

    app, _source = make_app(pane=PANES[0][0])
    async with app.run_test(size=(120, 30)) as pilot:
        tabs = app.query_one("#tabs")
        await pilot.press("right_square_bracket")
        assert tabs.active == f"tab-{PANES[1 % len(PANES)][0]}"
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert tabs.active == f"tab-{PANES[-1][0]}"


async def test_command_palette_offers_every_action() -> None:
    app, _source = make_app()
    async with app.run_test(size=(120, 30)):
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for needle in (
            "Pause",
            "Filter",
            "Sort",
            "Help",
            "Syscalls probe on/off (2)",
            "Show the Syscalls pane",
            "Theme",
        ):
            assert any(needle.lower() in t.lower() for t in titles), needle


async def test_palette_command_runs_the_action() -> None:
    app, _source = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        command = next(c for c in app.get_system_commands(app.screen) if c.title.startswith("Pause"))
        command.callback()
        await pilot.pause()
        assert app.paused


async def test_xdp_attach_key_reaches_the_source() -> None:
    from ebpftop.ui.pane import ProbeRequest
    from ebpftop.ui.xdp_pane import XdpPane

    app, source = make_app(pane="xdp")
    async with app.run_test(size=(120, 30)) as pilot:
        app.query_one(XdpPane).post_message(ProbeRequest("xdp", "attach_iface", "lo"))
        await pilot.pause()
        assert source.commands == [("xdp", "attach_iface", "lo")]


async def test_small_and_large_terminals_and_resizes() -> None:
    app, source = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        source.emit(syscall_frame())
        await pilot.pause()
        for size in ((200, 60), (10, 5), (80, 24)):
            await pilot.resize_terminal(*size)
            source.emit(syscall_frame())
            await pilot.pause()
        assert app.is_running
        assert app.query_one("#syscalls-table", DataTable).row_count == 4


async def test_xdp_pane_says_the_pid_filter_does_not_apply() -> None:
    from ebpftop.model.xdp import XdpModel
    from tests.ui.test_xdp_pane import xdp_frame

    app, source = make_app(pane="xdp")
    async with app.run_test(size=(200, 30)) as pilot:
        source.emit(xdp_frame(XdpModel()))
        await pilot.pause()
        app.set_pids(parse_pids("1"))
        await pilot.pause()
        assert "does not apply" in str(app.query_one("#xdp-summary").render())
        app.set_pids(None)
        await pilot.pause()
        assert "does not apply" not in str(app.query_one("#xdp-summary").render())


async def test_hidden_panes_are_not_redrawn_and_catch_up_when_shown() -> None:
    app, source = make_app(pane="files")
    async with app.run_test(size=(120, 30)) as pilot:
        source.emit(syscall_frame())
        await pilot.pause()
        # The Syscalls tab is hidden: its table is left alone (no work for an unseen pane).
        assert app.query_one("#syscalls-table", DataTable).row_count == 0
        await pilot.press("right_square_bracket")  # Files -> Syscalls
        await pilot.pause()
        assert cell_texts(app.query_one("#syscalls-table", DataTable), 0) == ["4242", "1337", "777", "1"]


async def test_paused_tab_switch_shows_the_frozen_frame() -> None:
    app, source = make_app(pane="files")
    async with app.run_test(size=(120, 30)) as pilot:
        source.emit(syscall_frame())
        await pilot.pause()
        await pilot.press("space")
        source.emit(syscall_frame(extra_pid=9999))
        await pilot.pause()
        await pilot.press("right_square_bracket")
        await pilot.pause()
        # What was on screen when paused, not the frame that arrived after.
        assert cell_texts(app.query_one("#syscalls-table", DataTable), 0) == ["4242", "1337", "777", "1"]


async def test_bracket_bursts_land_where_the_keys_say() -> None:
    """[ and ] typed fast: each steps from where the previous one went (a tab's own focus message, handled
    after the next key, once pulled the tabs back; seen under load in CI rehearsals)."""
    from ebpftop.ui.panes import PANES

    app, source = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        source.emit(syscall_frame())
        await pilot.pause()
        tabs = app.query_one("#tabs")
        start = [key for key, _t, _w in PANES].index("syscalls")
        keys = ["left_square_bracket"] * 2 + ["right_square_bracket"] * 7 + ["left_square_bracket"] * 3
        for burst in range(3):
            await pilot.press(*keys)
            await pilot.pause()
            end = (start + (burst + 1) * (7 - 2 - 3)) % len(PANES)
            assert tabs.active == f"tab-{PANES[end][0]}", burst


async def test_a_stale_tab_focus_does_not_pull_the_tabs_back() -> None:
    """The mechanism behind the burst race, made to happen: ] moves on, and the focus message of the tab
    it left (what focusing that tab's table posts) is handled after it. The tab the key chose stays."""
    from textual.widgets import TabbedContent, TabPane

    from ebpftop.ui.panes import PANES

    app, source = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        source.emit(syscall_frame())
        await pilot.pause()
        tabs = app.query_one("#tabs", TabbedContent)
        left = tabs.active
        stale = tabs.get_pane(left)
        app.action_next_pane()
        tabs.post_message(TabPane.Focused(stale))
        await pilot.pause()
        await pilot.pause()
        ids = [f"tab-{key}" for key, _t, _w in PANES]
        assert tabs.active == ids[(ids.index(left) + 1) % len(ids)]
