"""The TUI on a recording (--replay): step forward and back, jump, pause and play, filter, probe toggles,
no signals; what the panes show at each step is what the recorded frame holds.

data/recording-real.gz is a real recording: the recorder's output for real frames of all four probes
(tests/kernel/recordframes.py in a network namespace: 1000 getppid calls and three `sh -c 'exit 3'`
spawns from processes named rrwork, UDP on lo), made on this project's test machine.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from textual.widgets import Static, TabbedContent

from ebpftop.replay import ReplaySource, load
from ebpftop.settings import Settings
from ebpftop.ui.fasttable import FastTable
from ebpftop.ui.replayapp import ReplayApp

FIXTURE = Path(__file__).parent / "data" / "recording-real.gz"
WORKLOAD = "rrwork"


def recorded(index: int) -> dict[str, Any]:
    return json.loads(load(str(FIXTURE)).entries[index].line)


def make_app(pane: str = "syscalls") -> tuple[ReplayApp, ReplaySource]:
    recording = load(str(FIXTURE))
    source = ReplaySource(recording, paused=True)
    settings = Settings(interval=recording.header["interval"], probes=tuple(recording.header["probes"]))
    return ReplayApp(settings, source, initial_pane=pane), source


def cells(table: FastTable, column: int) -> list[str]:
    return [str(table.get_row_at(i)[column]).strip() for i in range(table.row_count)]


def header(app: ReplayApp) -> str:
    return str(app.query_one("#selfcpu", Static).content)


async def settle(pilot: Any, condition: Any) -> None:
    for _ in range(400):
        if condition():
            await pilot.pause()
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not met")


def shows(app: ReplayApp, source: ReplaySource, index: int) -> bool:
    return app.displayed is not None and app.displayed.time == source.entries[index].time


async def test_step_jump_pause_and_what_the_syscalls_pane_shows() -> None:
    app, source = make_app()
    count = len(source.entries)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot, lambda: shows(app, source, 0))
        table = app.query_one("#syscalls-table", FastTable)

        def rows_match(index: int) -> None:
            want = {str(r["pid"]): f"{r['count']:,}" for r in recorded(index)["syscalls"]}
            got = dict(zip(cells(table, 0), cells(table, 3), strict=True))
            assert got == {pid: want[pid] for pid in got}  # each shown row is the recorded one
            assert len(got) == min(len(want), table.row_count)

        rows_match(0)
        assert f"REPLAY 1/{count}" in header(app) and "PAUSED" in header(app)

        # Frame 2 holds the 1000 getppid calls of the workload.
        await pilot.press("full_stop")
        await settle(pilot, lambda: shows(app, source, 1))
        rows_match(1)
        assert f"REPLAY 2/{count}" in header(app)
        (workload,) = [r for r in recorded(1)["syscalls"] if r["comm"] == WORKLOAD and r["top"][0]["name"] == "getppid"]
        assert workload["top"][0]["count"] == 1000
        assert str(workload["pid"]) in cells(table, 0)

        await pilot.press("comma")
        await settle(pilot, lambda: shows(app, source, 0))
        rows_match(0)
        await pilot.press("comma")  # at the first frame already: stays
        await pilot.pause()
        assert source.index == 0

        # j: a prompt; #4 is the fourth frame, +S seconds from the start.
        await pilot.press("j", "#", "4", "enter")
        await settle(pilot, lambda: shows(app, source, 3))
        rows_match(3)
        assert f"REPLAY 4/{count}" in header(app)
        await pilot.press("j", "+", "1", "0", "0", "0", "enter")  # past the end: the last frame
        await settle(pilot, lambda: shows(app, source, count - 1))
        await pilot.press("j", "n", "o", "w", "enter")  # not a time: said, and the frame stays
        await pilot.pause()
        assert source.index == count - 1
        assert any("not a time" in str(n.message) for n in app._notifications)

        # space plays (as fast as > makes it) until the end; space again pauses.
        await pilot.press("j", "#", "1", "enter")
        await settle(pilot, lambda: shows(app, source, 0))
        for _ in range(4):
            await pilot.press("greater_than_sign")
        assert source.speed == 16
        assert "x16" in header(app)
        await pilot.press("space")
        assert not source.paused and "PAUSED" not in header(app)
        await settle(pilot, lambda: shows(app, source, count - 1))  # it played every frame to the end
        await pilot.press("space")
        assert source.paused and "PAUSED" in header(app)
        await pilot.press("less_than_sign")
        assert source.speed == 8


async def test_filter_in_user_space_and_probe_toggles_hide_data() -> None:
    app, source = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot, lambda: shows(app, source, 0))
        await pilot.press("full_stop")
        await settle(pilot, lambda: shows(app, source, 1))
        table = app.query_one("#syscalls-table", FastTable)
        assert len(set(cells(table, 1))) > 1
        # A name of the recording's, not of this machine's /proc: filtered here, no kernel involved.
        await pilot.press("slash", *WORKLOAD, "enter")
        await settle(pilot, lambda: set(cells(table, 1)) == {WORKLOAD})
        want = sorted(str(r["pid"]) for r in recorded(1)["syscalls"] if r["comm"] == WORKLOAD)
        assert sorted(cells(table, 0)) == want
        assert app.displayed is not None
        tree = app.displayed.panes["procs"]
        assert all(e.pid in {int(p) for p in want} or e.ppid in {int(p) for p in want} or e.comm == WORKLOAD
                   for e in tree.events)  # fmt: skip
        # The tree, filtered to the workload's subtrees: its `sh -c 'exit 3'` children, as recorded.
        await pilot.press("f5")
        await settle(pilot, lambda: app.query_one("#tabs", TabbedContent).active == "tab-procs")
        await pilot.pause(0.2)
        shown = list(app.displayed.panes["procs"].walk())  # type: ignore[attr-defined]
        assert {v.comm for v in shown if v.exit_code == 3} == {"sh"}
        assert all(v.comm in (WORKLOAD, "sh") or not v.exited for v in shown)
        text = html.unescape(app.export_screenshot())
        ends = re.findall(r"\[exit\xa03\xa0after", text)  # how each ended (its argv also says exit 3)
        assert len(ends) == sum(v.exit_code == 3 for v in shown) > 0
        assert WORKLOAD in text
        await pilot.press("escape")  # the filter cleared; back to the syscalls tab
        app.query_one("#tabs", TabbedContent).active = "tab-syscalls"
        await settle(pilot, lambda: len(set(cells(table, 1))) > 1)

        # 2 switches the syscalls probe "off": its data is hidden, its badge says off; again: back.
        await pilot.press("2")
        await settle(pilot, lambda: app.displayed is not None and "syscalls" not in app.displayed.panes)
        assert app.states["syscalls"] == "off"
        await pilot.press("2")
        await settle(pilot, lambda: app.displayed is not None and "syscalls" in app.displayed.panes)


async def test_nothing_is_signalled_or_read_from_this_machine() -> None:
    app, source = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot, lambda: shows(app, source, 0))
        await pilot.press("k")
        await pilot.pause()
        assert any("no signal is sent" in str(n.message) for n in app._notifications)
        assert len(app.screen_stack) == 1  # no kill menu
        await pilot.press("v")
        await pilot.pause()
        screen = app.screen
        assert type(screen).__name__ == "ProcessScreen" and screen.read_proc is False  # type: ignore[attr-defined]
        await pilot.press("escape")
        await pilot.press("plus")  # the interval is the recording's
        await pilot.pause()
        assert any("change the speed" in str(n.message) for n in app._notifications)


async def test_help_tells_the_keys_as_they_act_on_a_recording() -> None:
    """The help screen of a replay names each player key once with what it does, and does not say that
    1-4 load BPF programs or that + and - change the interval (neither happens on a recording)."""
    app, _source = make_app()
    keys = dict(app.key_bindings())
    assert keys["space"] == "pause / play the recording (the header says PAUSED)"
    assert keys[", ."] == "step back / forward one frame (pauses)"
    assert keys["< >"] == "play slower / faster (x1/16 to x64)"
    assert keys["j"].startswith("jump: HH:MM[:SS]")
    assert not {",", ",/.", "<", "</>"} & set(keys)
    assert keys["1"] == "Files: hide / show the recorded data of this probe (nothing is loaded)"
    assert keys["+, -"].startswith("nothing: the interval is the recording's")
    assert keys["k"].startswith("Kill: nothing is sent")
    async with app.run_test(size=(120, 40)) as pilot:
        assert "slower" not in [b.binding.action for b in app.active_bindings.values() if b.binding.show]
        await pilot.press("question_mark")
        await pilot.pause()
        screen = app.screen
        shown = [*screen.bindings, *screen.notes, ("", screen.layout_note)]  # type: ignore[attr-defined]
        text = " ".join(f"{key} {meaning}" for key, meaning in shown)
        assert "loads" not in text and "BPF programs" not in text, text
        assert "REPLAY 12/300" in text and "the recording's interval" in text


async def test_the_tui_with_record_writes_every_frame_it_gets(tmp_path: Path) -> None:
    """--record with the TUI: a RecordingSource hands each frame to the recorder on its way to the app."""
    from ebpftop.model.syscalls import SyscallsModel
    from ebpftop.output.batch import dumps
    from ebpftop.output.record import Recorder, RecordingSource, header
    from ebpftop.ui.app import EbpftopApp
    from tests.ui.scripted import ScriptedSource, syscall_frame

    inner = ScriptedSource()
    recorder = Recorder(str(tmp_path / "tui.gz"), header(1.0, ("syscalls",)))
    app = EbpftopApp(Settings(), RecordingSource(inner, recorder), initial_pane="syscalls")
    model = SyscallsModel()
    sent = [syscall_frame(model, extra_pid=100 + i) for i in range(3)]
    async with app.run_test(size=(120, 30)) as pilot:
        for frame in sent:
            inner.emit(frame)
            await pilot.pause()
        table = app.query_one("#syscalls-table", FastTable)
        assert "102" in cells(table, 0)  # the app got them too
    assert recorder.close(10.0) == 0
    assert [e.line for e in load(str(tmp_path / "tui.gz")).entries] == [dumps(f) for f in sent]


async def test_the_replay_header_keeps_the_filter_on_screen_at_200_columns() -> None:
    """At 200 columns the live header puts the badges and the status line on one line; a replay's status
    line is ~50 columns longer (its position, time and speed), which pushed the filter, self and the
    interval past the edge. A replay keeps two lines there, the status line whole."""
    from ebpftop.ui.probebar import ProbeBar

    app, source = make_app()
    async with app.run_test(size=(200, 60)) as pilot:
        await settle(pilot, lambda: shows(app, source, 0))
        app.set_pids(app.parse_filter(WORKLOAD))
        await pilot.pause()
        bar = app.query_one(ProbeBar)
        assert bar.has_class("-two-lines")
        status = app.query_one("#selfcpu", Static)
        text = str(status.content)
        assert text.startswith("REPLAY 1/") and f"PID {WORKLOAD}" in text and text.endswith("every 0.4s"), text
        assert len(text) <= status.size.width, (len(text), status.size.width)


async def test_the_header_counts_the_cgroups_of_a_filter() -> None:
    """'PID docker:3ef8 +1' for a filter of two cgroups, as for two PIDs; the count left cgroups out,
    which drew '+…' (as if the number were unknown)."""
    from ebpftop.pids import PidFilter

    app, source = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: shows(app, source, 0))
        specs = frozenset({"docker:3ef8", "nuweb.service"})
        app.set_pids(PidFilter(frozenset(), frozenset(), frozenset(), frozenset({7, 8}), specs, frozenset(), 1 << 64))
        await pilot.pause()
        assert "PID docker:3ef8 +1  self" in str(app.query_one("#selfcpu", Static).content)


async def test_the_dashboard_boxes_say_the_state_was_recorded_and_what_the_keys_do() -> None:
    """The boxes said '· live' and '1: probe and box on/off' on a recording, where nothing is live or loaded."""
    from textual.widgets import TabPane

    app, source = make_app()
    async with app.run_test(size=(200, 60)) as pilot:
        await settle(pilot, lambda: shows(app, source, 0))
        assert app.dashboard
        states = {name: p["state"] for name, p in recorded(0)["probes"].items()}
        panes = {str(p.id).removeprefix("tab-"): p for p in app.query(TabPane)}
        keys = {"files": "1", "syscalls": "2", "procs": "3", "xdp": "4"}
        probe_of = {"files": "files", "syscalls": "syscalls", "procs": "proctree", "xdp": "xdp"}
        for pane, box in panes.items():
            state = states[probe_of[pane]]
            assert str(box.border_title).endswith(f" · {state} when recorded"), box.border_title
            assert str(box.border_subtitle) == f"{keys[pane]}: show / hide recorded data"
        await pilot.press("2")  # hides the recorded syscalls: the viewer's doing, not an "off when recorded"
        await settle(pilot, lambda: str(panes["syscalls"].border_title).endswith(" · hidden"))
        from ebpftop.ui.probebar import ProbeBadge

        badge = app.query_one("#badge-syscalls", ProbeBadge)
        assert str(badge.render()) == "2 syscalls hidden"  # it said "off", like a probe off when recorded
        await pilot.press("2")
        again = f" · {states['syscalls']} when recorded"
        await settle(pilot, lambda: str(panes["syscalls"].border_title).endswith(again))
