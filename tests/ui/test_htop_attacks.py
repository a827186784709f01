"""Attacks on htop's keys: hostile names in notifications, kill bursts, reused PIDs, self and kernel threads."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time

from textual.widgets._toast import Toast

from ebpftop.model.syscalls import SyscallCount, SyscallSample, SyscallsModel
from ebpftop.ui.killmenu import KillConfirm, KillMenu
from tests.ui.scripted import syscall_frame
from tests.ui.test_htopkeys import burst, make_app, messages, settle, spawn_at

SIZE = (120, 30)


def frame_with(pid: int, comm: str, when: float | None = None):  # type: ignore[no-untyped-def]
    """The scripted frame plus one row for pid named comm, counted in the interval ending at ``when`` (now)."""
    base = syscall_frame()
    table = SyscallsModel().update(SyscallSample((SyscallCount(pid, 39, "getpid", 1, comm),)), 1.0)
    return dataclasses.replace(base, time=time.time() if when is None else when, panes={"syscalls": table})


def shown(app) -> list[str]:  # type: ignore[no-untyped-def]
    """Each notification as its toast draws it (the toast raises on bad markup, and runs [@click] as an action)."""
    out = []
    for n in app._notifications:
        content = Toast(n).render()
        assert not any("@click" in str(span.style) for span in content.spans)
        out.append(content.plain)
    return out


def sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "60"])


def reap(*procs: subprocess.Popen[bytes] | None) -> None:
    for p in procs:
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()


async def test_markup_in_a_name_reaches_the_notification_as_text() -> None:
    """A process named '[/]x' crashed the app when the 'sent' line was drawn (Textual parses notify() as markup);
    '[@click=app.quit]q' made that line a button running an app action."""
    child = sleeper()
    try:
        for comm in ("[/]x", "[@click=app.quit]q"):
            app, source = make_app()
            async with app.run_test(size=SIZE) as pilot:
                source.emit(frame_with(child.pid, comm))
                await settle(pilot)
                burst(app, "k", *["down"] * 6, "enter")  # CONT: harmless to a sleeping sleep
                await settle(pilot)
                assert isinstance(app.screen, KillConfirm) and app.screen.signame == "CONT"
                await pilot.press("y")
                await settle(pilot)
                assert messages(app)[-1] == f"sent CONT to PID {child.pid} ({comm})"
                assert shown(app)[-1] == messages(app)[-1]  # drawn as typed: no markup, no button
                assert child.poll() is None
    finally:
        reap(child)


async def test_search_for_markup_says_not_found_as_text() -> None:
    app, source = make_app()
    async with app.run_test(size=SIZE) as pilot:
        source.emit(syscall_frame())
        await settle(pilot)
        burst(app, "f3", *"[/]", "enter")
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert shown(app)[-1] == "not found in the Syscalls pane: [/]"


async def test_a_burst_cannot_confirm_a_question_never_shown() -> None:
    """k Enter y typed in one read: the y was typed before the question was drawn; it must not send."""
    child = sleeper()
    try:
        app, source = make_app()
        async with app.run_test(size=SIZE) as pilot:
            source.emit(frame_with(child.pid, "sleep"))
            await settle(pilot)
            burst(app, "k", "enter", "y")
            await settle(pilot)
            assert child.poll() is None
            assert isinstance(app.screen, KillConfirm)  # still asking
            assert "ignored" in str(app.screen.query_one(".menu-hint").render())
            await pilot.press("y")  # typed once the question is on screen
            await settle(pilot)
            assert child.wait(timeout=30) == -signal.SIGTERM
            assert messages(app)[-1] == f"sent TERM to PID {child.pid} (sleep)"
    finally:
        reap(child)


async def test_a_burst_cannot_move_to_yes_and_choose_it() -> None:
    child = sleeper()
    try:
        app, source = make_app()
        async with app.run_test(size=SIZE) as pilot:
            source.emit(frame_with(child.pid, "sleep"))
            await settle(pilot)
            burst(app, "k", "enter", "down", "enter")  # "down" typed ahead is ignored: Enter answers "No"
            await settle(pilot)
            assert messages(app)[-1] == "nothing sent" and child.poll() is None
            assert not isinstance(app.screen, KillConfirm)
            burst(app, "k", "enter", "n")  # declining needs no look: honoured whenever typed
            await settle(pilot)
            assert messages(app)[-2:] == ["nothing sent"] * 2 and child.poll() is None
            burst(app, "k", "enter", "escape")
            await settle(pilot)
            assert messages(app)[-1] == "nothing sent" and not isinstance(app.screen, KillConfirm)
    finally:
        reap(child)


async def test_kill_from_a_row_without_start_time_refuses_a_pid_reused_since_the_frame() -> None:
    """Syscalls row, tree probe off (no start time): the PID was reused after the frame showing it was built."""
    first = sleeper()
    second = None
    try:
        app, source = make_app()
        async with app.run_test(size=SIZE) as pilot:
            frame = frame_with(first.pid, "first")
            source.emit(frame)
            await settle(pilot)
            first.kill()
            first.wait()
            while time.time() <= frame.time + 0.2:  # the frame is older than any process started from here on
                await pilot.pause()
            second = spawn_at(first.pid)
            assert second is not None, "could not get the same PID again"
            burst(app, "k")
            await settle(pilot)
            assert not isinstance(app.screen, KillMenu)
            assert messages(app)[-1].startswith(f"nothing sent: PID {first.pid} now belongs to another process")
            burst(app, "v")  # the process view does not read the newcomer's cwd either
            await settle(pilot)
            screen = app.screen
            while screen.facts.get("cwd") in (None, "…"):
                await pilot.pause()
            assert "another process" in screen.facts["cwd"]
            assert second.poll() is None
    finally:
        reap(first, second)


async def test_kill_refuses_ebpftop_itself_a_kernel_thread_and_a_thread_id() -> None:
    """STOP to ebpftop itself froze the terminal (raw mode, no key works); a kernel thread ignores the
    signal but the line said "sent"; a thread id gave "No such file or directory"."""
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        tid = worker.native_id
        assert tid is not None and tid != os.getpid()
        for pid, comm, why in (
            (os.getpid(), "ebpftop", "is ebpftop itself"),
            (2, "kthreadd", "is a kernel thread"),
            (tid, "worker", f"is a thread of process {os.getpid()}"),
        ):
            app, source = make_app()
            async with app.run_test(size=SIZE) as pilot:
                source.emit(frame_with(pid, comm))
                await settle(pilot)
                burst(app, "k")
                await settle(pilot)
                assert not isinstance(app.screen, KillMenu), comm
                assert messages(app)[-1].startswith(f"nothing sent: PID {pid} {why}"), messages(app)[-1]
    finally:
        stop.set()
        worker.join()


EVIL = "\x1b]0;pwned\x07\x1b[2J[bold red]x[/]\u202eexe.txt\udcff[@click=app.quit]q"


def hostile_frame(pid: int = 999_999):  # type: ignore[no-untyped-def]
    """A tree holding one process whose every string is hostile, a 100 kB argument among them."""
    from ebpftop.model.proctree import ProcSample, ProcSeed, ProcTreeModel

    now = time.time()
    seed = (
        ProcSeed(1, 0, "systemd", ("/sbin/init",), now - 1000),
        ProcSeed(pid, 1, EVIL[:15], (EVIL, "A" * 100_000, "[/]", "\udcff\udcfe"), now - 5, exe="/tmp/" + EVIL),
    )
    procs = ProcTreeModel().update(ProcSample((), 0, now, seed=seed, scan_time=now), 1.0)
    table = SyscallsModel().update(SyscallSample((SyscallCount(pid, 39, "getpid", 1, EVIL[:15]),)), 1.0)
    return dataclasses.replace(syscall_frame(), time=now, panes={"procs": procs, "syscalls": table})


async def test_process_view_and_search_keep_hostile_strings_inert_at_every_size() -> None:
    from ebpftop.ui.procview import ProcessScreen

    for size in ((80, 24), (10, 5), (160, 50)):
        app, source = make_app("procs")
        async with app.run_test(size=size) as pilot:
            source.emit(hostile_frame())
            await settle(pilot)
            burst(app, "f3", *"[/]", "enter")  # markup-looking search text: found in argv, no crash
            await settle(pilot)
            assert app.active_pane().selected_pid() == 999_999
            burst(app, "v")
            await settle(pilot)
            assert isinstance(app.screen, ProcessScreen)
            await pilot.resize_terminal(size[0] + 7, size[1] + 3)  # resized while open
            await settle(pilot)
            svg = app.export_screenshot()
            for raw in ("\x1b", "\x07", "\u202e", "\udcff"):
                assert raw not in svg, (size, repr(raw))
            if size[0] >= 80:
                assert "\\u202e" in svg and "red]x[/]" in svg
            burst(app, "end", "pagedown", "escape")
            await settle(pilot)
            assert not isinstance(app.screen, ProcessScreen)


async def test_keys_before_any_frame_and_menus_through_resizes_at_10x5() -> None:
    app, _source = make_app()
    async with app.run_test(size=(10, 5)) as pilot:
        for key in ("k", "v", "n", "P", "I", "g", "x", "f6", "enter", "f3", "z", "enter", "f9", "f5", "k", "v"):
            await pilot.press(key)  # no frame yet: empty panes, every key says why or acts
        await settle(pilot)
        assert app.is_running and app.screen is app.screen_stack[0]
        assert any("no process selected" in m for m in messages(app))


async def test_the_signal_goes_to_the_row_chosen_when_frames_move_rows_under_the_open_menu() -> None:
    """Menu open on A; frames arrive where A is gone and B sits under the cursor; resized meanwhile."""
    a, b = sleeper(), sleeper()
    try:
        app, source = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            source.emit(frame_with(a.pid, "aaa"))
            await settle(pilot)
            await pilot.press("k")
            assert isinstance(app.screen, KillMenu) and app.screen.ident.pid == a.pid
            source.emit(frame_with(b.pid, "bbb"))
            await pilot.resize_terminal(10, 5)
            await settle(pilot)
            await pilot.press(*["down"] * 5, "enter")  # STOP
            await pilot.resize_terminal(80, 24)
            source.emit(frame_with(b.pid, "bbb"))
            await settle(pilot)
            assert isinstance(app.screen, KillConfirm) and app.screen.signame == "STOP"
            await pilot.press("y")
            await settle(pilot)
            assert messages(app)[-1] == f"sent STOP to PID {a.pid} (aaa)"
            while state(a.pid) != "T":  # stopped (delivery is asynchronous)
                await pilot.pause()
            assert state(b.pid) == "S"
    finally:
        reap(a, b)


def state(pid: int) -> str:
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    return stat[stat.rfind(b")") + 2 :].split()[0].decode()


def test_kill_refuses_when_ebpftop_runs_in_a_child_pid_namespace() -> None:
    """The probes report PIDs of the initial namespace; in a container's own namespace the same number
    names another process (here PID 1 is the container's init, not the host's)."""
    code = (
        "from ebpftop.procinfo import Pinned; from ebpftop.ui.procview import read_facts; "
        "print(Pinned.open(1), read_facts(1, None, False))"
    )
    out = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", f'{sys.executable} -c "{code}"; true'],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
    ).stdout
    assert out.startswith("PID 1: ebpftop runs in a child PID namespace"), out
    assert "'cwd': 'unknown (child PID namespace)'" in out


async def test_a_burst_through_the_search_prompt_cannot_confirm_either() -> None:
    """F3 PID Enter k Enter y in one read: the keys after the search's Enter are passed back to the app."""
    child = sleeper()
    try:
        app, source = make_app()
        async with app.run_test(size=SIZE) as pilot:
            source.emit(frame_with(child.pid, "sleep"))
            await settle(pilot)
            burst(app, "f3", *str(child.pid), "enter", "k", "enter", "y")
            await settle(pilot)
            assert isinstance(app.screen, KillConfirm) and child.poll() is None
            await pilot.press("escape")
    finally:
        reap(child)
