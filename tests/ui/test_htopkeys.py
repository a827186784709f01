"""htop's keys driven by Pilot: F3 search (burst typed), n/N, F4, F5, F6, P/M/T/I, F10, v/Enter process view,
a key that cannot act says why, and F9/k against real child processes (TERM delivered, a reused PID refused)."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import time

from textual import events
from textual.widgets import TabbedContent

from ebpftop import procinfo
from ebpftop.model.files import FileIO, FilesModel, FilesSample
from ebpftop.model.frame import Frame
from ebpftop.model.proctree import EXEC, EXIT, FORK, ProcEvent, ProcSample, ProcSeed, ProcTreeModel
from ebpftop.model.syscalls import SyscallsModel
from ebpftop.settings import Settings
from ebpftop.ui.app import EbpftopApp
from ebpftop.ui.fasttable import FastTable
from ebpftop.ui.killmenu import KillConfirm, KillMenu
from ebpftop.ui.procview import ProcessScreen
from ebpftop.ui.search import SearchScreen
from ebpftop.ui.sortmenu import SortMenu
from ebpftop.ui.syscalls_pane import SyscallsPane
from tests.ui.scripted import ScriptedSource, syscall_frame
from tests.ui.test_proctree_pane import SEED, T0

SIZE = (120, 30)


def make_app(pane: str = "syscalls", pids: frozenset[int] | None = None) -> tuple[EbpftopApp, ScriptedSource]:
    source = ScriptedSource()
    return EbpftopApp(Settings(pids=pids), source, initial_pane=pane), source


def burst(app: EbpftopApp, *keys: str) -> None:
    """Keys as one read from the terminal delivers them: all queued before the app handles the first."""
    assert app._driver is not None
    for key in keys:
        char = key if len(key) == 1 else (" " if key == "space" else None)
        event = events.Key(key, char)
        event.set_sender(app)
        app._driver.send_message(event)


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    for _ in range(4):
        await pilot.pause()


def messages(app: EbpftopApp) -> list[str]:
    return [n.message for n in app._notifications]


def now(frame: Frame) -> Frame:
    """The frame as built now: a row names the process that had its PID then, not one started later."""
    return dataclasses.replace(frame, time=time.time())


def pids_shown(app: EbpftopApp) -> list[str]:
    table = app.query_one("#syscalls-table", FastTable)
    return [str(table.get_row_at(i)[0]).strip() for i in range(table.row_count)]


# -- F3 search ------------------------------------------------------------------------
async def test_f3_search_typed_in_one_burst_reaches_the_prompt_only() -> None:
    app, source = make_app()
    async with app.run_test(size=SIZE) as pilot:
        source.emit(syscall_frame())
        await settle(pilot)
        pane = app.query_one(SyscallsPane)
        table = pane.table
        before = (pane.sort_index, app.interval)
        # "s" sorts, "1" toggles a probe, "+" changes the interval: all of them belong to the prompt here.
        burst(app, "f3", "s", "y", "s", "t", "1", "+", "backspace", "backspace", "enter")
        await settle(pilot)
        assert not isinstance(app.screen, SearchScreen)
        assert source.toggled == [] and source.intervals == []
        assert (pane.sort_index, app.interval) == before
        assert app.last_search == "syst"
        assert pids_shown(app)[table.cursor_row] == "1"  # systemd


async def test_search_is_incremental_and_n_N_repeat_it() -> None:
    app, source = make_app()
    async with app.run_test(size=SIZE) as pilot:
        source.emit(syscall_frame())
        await settle(pilot)
        table = app.query_one("#syscalls-table", FastTable)
        await pilot.press("n")
        assert "nothing searched yet" in messages(app)[-1]
        await pilot.press("f3", "1")  # from 4242 down: 1337 is the first PID or name holding "1"
        assert isinstance(app.screen, SearchScreen)
        assert pids_shown(app)[table.cursor_row] == "1337"
        await pilot.press("f3")  # next match: 1 (systemd)
        assert pids_shown(app)[table.cursor_row] == "1"
        await pilot.press("enter")
        await pilot.press("n")  # wraps to 1337
        assert pids_shown(app)[table.cursor_row] == "1337"
        await pilot.press("N")
        assert pids_shown(app)[table.cursor_row] == "1"
        await pilot.press("f3", "z", "z", "z", "escape")
        await pilot.press("n")
        assert "not found in the Syscalls pane: zzz" in messages(app)[-1]


async def test_search_finds_argv_in_the_tree() -> None:
    app, source = make_app("procs")
    model = ProcTreeModel()
    async with app.run_test(size=SIZE) as pilot:
        source.emit(
            Frame(
                T0,
                1.0,
                syscall_frame().probes,
                {"procs": model.update(ProcSample((), 0, T0, seed=SEED, scan_time=T0), 1.0)},
            )
        )
        await settle(pilot)
        burst(app, "f3", *"cron -f", "enter")
        await settle(pilot)
        assert app.active_pane().selected_pid() == 500


# -- F4 F5 F6 F10, P M T I --------------------------------------------------------------
async def test_f4_opens_the_filter_and_f5_shows_the_tree() -> None:
    app, _source = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        assert app.query_one("#filterbar").display
        await pilot.press("escape")
        await pilot.press("f5")
        await settle(pilot)
        assert app.query_one("#tabs", TabbedContent).active == "tab-procs"


async def test_f6_sort_menu_in_one_burst() -> None:
    app, source = make_app()
    async with app.run_test(size=SIZE) as pilot:
        source.emit(syscall_frame())
        await settle(pilot)
        burst(app, "f6", "home", "enter")  # PID, the first choice
        await settle(pilot)
        assert not isinstance(app.screen, SortMenu)
        assert app.query_one(SyscallsPane).sort_index == 0
        assert pids_shown(app) == ["1", "777", "1337", "4242"]
        burst(app, "f6", "down", "escape")  # cancelled: unchanged
        await settle(pilot)
        assert app.query_one(SyscallsPane).sort_index == 0


async def test_htop_sort_letters_act_or_say_why() -> None:
    app, source = make_app()
    async with app.run_test(size=SIZE) as pilot:
        source.emit(syscall_frame())
        await settle(pilot)
        pane = app.query_one(SyscallsPane)
        pane.sort_index = 0
        await pilot.press("P")
        assert pane.sort_index == 2 and messages(app)[-1] == "sorted by SYSCALLS/s"
        await pilot.press("M")
        assert "the Syscalls pane has no such column" in messages(app)[-1]
        await pilot.press("T")
        assert "the Syscalls pane has no such column" in messages(app)[-1]
        await pilot.press("I")
        assert pids_shown(app) == ["1", "777", "1337", "4242"]
        app.query_one("#tabs", TabbedContent).active = "tab-procs"
        await settle(pilot)
        await pilot.press("T")
        assert app.active_pane().sort_index == 3  # age


async def test_f10_quits() -> None:
    app, _source = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f10")
        await pilot.pause()
    assert not app.is_running


async def test_kill_and_view_on_xdp_say_why() -> None:
    app, _source = make_app("xdp")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("k")
        assert "the XDP pane's rows are not processes" in messages(app)[-1]
        await pilot.press("v")
        assert "the XDP pane's rows are not processes" in messages(app)[-1]
        assert not isinstance(app.screen, (KillMenu, ProcessScreen))


# -- the process view -------------------------------------------------------------------
def all_panes_frame(count: int = 200_000) -> Frame:
    """Syscalls, files and tree data that agree on PID 300 (make, with argv needing quotes)."""
    base = syscall_frame(SyscallsModel())
    events_ = (
        ProcEvent(FORK, 300, 200, "bash", T0 - 0.5),
        ProcEvent(
            EXEC,
            300,
            200,
            "make",
            T0 - 0.4,
            filename="/usr/bin/make",
            argv=("make", "-C", "dir with space", "\x1b[2Jx"),
        ),
        ProcEvent(FORK, 301, 300, "make", T0 - 0.3),
        ProcEvent(EXIT, 301, 300, "make", T0 - 0.2, exit_code=2),
        ProcEvent(FORK, 302, 300, "make", T0 - 0.2),
        ProcEvent(EXIT, 302, 300, "make", T0 - 0.1, signal="KILL"),
    )
    procs = ProcTreeModel().update(ProcSample(events_, 0, T0, seed=SEED, scan_time=T0), 1.0)
    io = (
        FileIO(300, 3, 1, "/src/Makefile", "file", "make", 4, 0, 4096, 0),
        FileIO(300, 4, 1, "/tmp/out.o", "file", "make", 0, 2, 0, count),
    )
    files = FilesModel().update(FilesSample(io), 1.0)
    from ebpftop.model.syscalls import SyscallCount, SyscallSample

    sys_table = SyscallsModel().update(
        SyscallSample((SyscallCount(300, 0, "read", count, "make"), SyscallCount(300, 1, "write", 7, "make"))), 1.0
    )
    return Frame(T0, 1.0, base.probes, {"syscalls": sys_table, "files": files, "procs": procs})


async def test_enter_in_syscalls_opens_the_process_view_and_it_follows_frames() -> None:
    app, source = make_app()
    async with app.run_test(size=(160, 50)) as pilot:
        source.emit(all_panes_frame())
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ProcessScreen)
        text = app.export_screenshot()
        assert "make -C &#x27;dir with space&#x27;" in text or "make -C 'dir with space'" in text.replace(
            "&#x27;", "'"
        ).replace("&#160;", " ")
        plain = text.replace("&#160;", " ").replace("&#x27;", "'")
        assert "'\\x1b[2Jx'" in plain and "\x1b[2J" not in text  # quoted, sanitized, unelided
        assert "/tmp/out.o" in plain and "/src/Makefile" in plain
        assert "200.0k/s" in plain  # its syscalls
        assert "exit 2" in plain and "killed by KILL" in plain  # the subtree and how each child ended
        source.emit(all_panes_frame(count=300_000))
        await settle(pilot)
        assert "300.0k/s" in app.export_screenshot()
        await pilot.press("escape")
        assert not isinstance(app.screen, ProcessScreen)


async def test_v_in_the_tree_opens_the_view_of_the_selected_process() -> None:
    app, source = make_app("procs")
    async with app.run_test(size=(160, 50)) as pilot:
        source.emit(all_panes_frame())
        await settle(pilot)
        burst(app, "f3", *"dir with", "enter", "v")
        await settle(pilot)
        assert isinstance(app.screen, ProcessScreen)
        assert app.screen.target.pid == 300 and app.screen.target.start == T0 - 0.5


async def test_process_view_reads_cwd_of_a_real_process() -> None:
    child = subprocess.Popen(["sleep", "60"], cwd="/tmp")
    try:
        ticks = None
        while ticks is None:
            ticks = procinfo.starttime_ticks(child.pid)
        start = procinfo.ticks_to_epoch(ticks)
        seed = (*SEED, ProcSeed(child.pid, os.getpid(), "sleep", ("sleep", "60"), start))
        procs = ProcTreeModel().update(ProcSample((), 0, time.time(), seed=seed, scan_time=time.time()), 1.0)
        frame = Frame(time.time(), 1.0, syscall_frame().probes, {"procs": procs})
        app, source = make_app("procs")
        async with app.run_test(size=(160, 40)) as pilot:
            source.emit(frame)
            await settle(pilot)
            burst(app, "f3", *str(child.pid), "enter", "v")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, ProcessScreen)
            while screen.facts.get("cwd") in (None, "…"):
                await pilot.pause()
            assert screen.facts["cwd"] == "/tmp"
            assert screen.facts["cgroup"] not in ("", "…")
            await pilot.press("k")  # from the view: the signal menu for this very process
            assert isinstance(app.screen, KillMenu) and app.screen.ident == procinfo.Identity(child.pid, ticks)
            await pilot.press("escape")
            assert isinstance(app.screen, ProcessScreen)
    finally:
        child.kill()
        child.wait()


# -- F9 / k against real processes --------------------------------------------------------
async def test_kill_sends_term_to_a_real_child_after_confirmation() -> None:
    child = subprocess.Popen(["sleep", "60"])
    try:
        app, source = make_app()
        async with app.run_test(size=SIZE) as pilot:
            source.emit(now(syscall_frame(extra_pid=child.pid)))
            await settle(pilot)
            burst(app, "f3", *str(child.pid), "enter")
            await settle(pilot)
            burst(app, "k", "enter", "n")  # asked, and declined
            await settle(pilot)
            assert messages(app)[-1] == "nothing sent" and child.poll() is None
            burst(app, "k")  # the menu opens on TERM
            await settle(pilot)
            assert isinstance(app.screen, KillMenu)
            assert str(app.screen.title_text) == f"Send a signal to PID {child.pid} (extra)"
            burst(app, "enter")
            await settle(pilot)
            assert isinstance(app.screen, KillConfirm)
            assert child.poll() is None  # nothing sent before the confirmation
            burst(app, "y")
            await settle(pilot)
            assert child.wait(timeout=30) == -signal.SIGTERM
            assert messages(app)[-1] == f"sent TERM to PID {child.pid} (extra)"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def spawn_at(pid: int, attempts: int = 500) -> subprocess.Popen[bytes] | None:
    """A new `sleep` that gets exactly this PID (root: ns_last_pid), or None if other forks kept taking it."""
    for _ in range(attempts):
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(str(pid - 1))
        proc = subprocess.Popen(["sleep", "60"])
        if proc.pid == pid:
            return proc
        proc.kill()
        proc.wait()
    return None


async def test_kill_refuses_a_pid_that_now_belongs_to_another_process() -> None:
    first = subprocess.Popen(["sleep", "60"])
    second = None
    try:
        app, source = make_app()
        async with app.run_test(size=SIZE) as pilot:
            source.emit(now(syscall_frame(extra_pid=first.pid)))
            await settle(pilot)
            burst(app, "f3", *str(first.pid), "enter", "k", "down", "enter")  # KILL, in one burst
            await settle(pilot)
            assert isinstance(app.screen, KillConfirm) and app.screen.signame == "KILL"
            first.kill()
            first.wait()  # reaped: its PID is free
            while procinfo.starttime_ticks(first.pid) is not None:
                await pilot.pause()
            second = spawn_at(first.pid)
            assert second is not None, "could not get the same PID again"
            # Same /proc start tick or not, the pidfd taken when the menu opened names the first process only.
            burst(app, "y")
            await settle(pilot)
            assert "now belongs to another process: nothing sent" in messages(app)[-1]
            assert second.poll() is None  # untouched
    finally:
        first.kill()
        first.wait()
        if second is not None:
            second.kill()
            second.wait()


async def test_a_pane_key_in_another_pane_says_where_it_works() -> None:
    app, source = make_app()
    async with app.run_test(size=SIZE) as pilot:
        source.emit(syscall_frame())
        await settle(pilot)
        for key, where in (("g", "Files"), ("x", "Tree"), ("a", "XDP")):
            await pilot.press(key)
            assert f"it works in the {where} pane, not in Syscalls" in messages(app)[-1]
        count = len(messages(app))
        app.query_one("#tabs", TabbedContent).active = "tab-procs"
        await settle(pilot)
        app.active_pane().proc_tree.focus()
        await pilot.press("x")  # the Tree's own key: acts, no "works in" line
        assert app.active_pane().hide_exited
        assert not any("it works in" in m for m in messages(app)[count:])


async def test_lists_move_with_arrows_pages_home_end() -> None:
    from ebpftop.model.proctree import ProcSeed

    app, source = make_app("procs")
    seed = SEED + tuple(ProcSeed(1000 + i, 1, "sleep", ("sleep", "1h"), T0 - 10) for i in range(80))
    async with app.run_test(size=(100, 24)) as pilot:
        source.emit(
            Frame(
                T0,
                1.0,
                syscall_frame().probes,
                {"procs": ProcTreeModel().update(ProcSample((), 0, T0, seed=seed, scan_time=T0), 1.0)},
            )
        )
        await settle(pilot)
        tree = app.active_pane().proc_tree
        tree.focus()
        await pilot.press("down")
        assert tree.cursor_line == 1
        await pilot.press("pagedown")
        assert tree.cursor_line > 10
        await pilot.press("end")
        assert tree.cursor_line == tree.last_line
        await pilot.press("pageup")
        assert tree.cursor_line < tree.last_line - 10
        await pilot.press("home")
        assert tree.cursor_line == 0
        app.query_one("#tabs", TabbedContent).active = "tab-syscalls"
        source.emit(syscall_frame())
        await settle(pilot)
        table = app.query_one("#syscalls-table", FastTable)
        table.focus()
        await pilot.press("end")
        assert table.cursor_row == table.row_count - 1
        await pilot.press("home", "down")
        assert table.cursor_row == 1
        await pilot.press("pagedown")
        assert table.cursor_row == table.row_count - 1
        await pilot.press("pageup")
        assert table.cursor_row == 0


async def test_kill_from_the_tree_checks_the_start_time_the_tree_saw() -> None:
    """The row is stale: the tree saw a process start at PID N 100 s before the one now at N."""
    child = subprocess.Popen(["sleep", "60"])
    try:
        ticks = None
        while ticks is None:
            ticks = procinfo.starttime_ticks(child.pid)
        real_start = procinfo.ticks_to_epoch(ticks)
        for claimed, opens in ((real_start - 100.0, False), (real_start, True)):
            seed = (*SEED, ProcSeed(child.pid, 1, "sleep", ("sleep", "60"), claimed))
            procs = ProcTreeModel().update(ProcSample((), 0, time.time(), seed=seed, scan_time=time.time()), 1.0)
            app, source = make_app("procs")
            async with app.run_test(size=(160, 40)) as pilot:
                source.emit(Frame(time.time(), 1.0, syscall_frame().probes, {"procs": procs}))
                await settle(pilot)
                burst(app, "f3", *str(child.pid), "enter", "k")
                await settle(pilot)
                if opens:
                    assert isinstance(app.screen, KillMenu)
                    burst(app, "escape")
                    await settle(pilot)
                else:
                    assert not isinstance(app.screen, KillMenu)
                    assert f"nothing sent: PID {child.pid} now belongs to another process" in messages(app)[-1]
        assert child.poll() is None
    finally:
        child.kill()
        child.wait()
