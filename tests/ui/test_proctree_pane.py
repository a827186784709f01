"""Process tree pane driven by Pilot against a scripted source: nodes, hostile argv, selection, sort, lost."""

from __future__ import annotations

from textual.widgets import Static, TabbedContent, Tree

from ebpftop.model.frame import LIVE, Frame, ProbeStatus
from ebpftop.model.proctree import EXEC, EXIT, FORK, ProcEvent, ProcSample, ProcSeed, ProcTreeModel
from ebpftop.registry import SPECS
from ebpftop.settings import Settings
from ebpftop.ui.app import EbpftopApp
from ebpftop.ui.proctree_pane import ProcTreePane, age
from tests.ui.scripted import ScriptedSource

T0 = 1_700_000_000.0
HOSTILE_ARGV = ("/bin/evil", "\x1b]0;pwned\x07", "[bold red]m[/]", "a\nb", "\udcff\udcfe", "\u202ee")
SEED = (
    ProcSeed(1, 0, "systemd", ("/sbin/init",), T0 - 1000),
    ProcSeed(2, 0, "kthreadd", (), T0 - 1000),
    ProcSeed(3, 2, "kworker/0:0", (), T0 - 1000),
    ProcSeed(100, 1, "sshd", ("sshd", "-D"), T0 - 900),
    ProcSeed(200, 100, "bash", ("-bash",), T0 - 500),
    ProcSeed(500, 1, "cron", ("cron", "-f"), T0 - 800),
)


def procs_frame(model: ProcTreeModel, sample: ProcSample, elapsed: float = 1.0) -> Frame:
    data = model.update(sample, elapsed)
    statuses = tuple(ProbeStatus(s.name, LIVE) for s in SPECS)
    return Frame(time=sample.now, elapsed=elapsed, probes=statuses, panes={"procs": data})


def first_sample(events: tuple[ProcEvent, ...] = (), lost: int = 0) -> ProcSample:
    return ProcSample(events, lost, T0, seed=SEED, scan_time=T0)


def find_node(tree: Tree, pid: int):  # type: ignore[no-untyped-def,type-arg]
    stack = list(tree.root.children)
    while stack:
        node = stack.pop()
        if node.data is not None and node.data[0] == pid:
            return node
        stack.extend(node.children)
    raise AssertionError(f"no node for pid {pid}")


def labels(tree: Tree) -> list[str]:  # type: ignore[type-arg]
    out = []
    stack = list(reversed(tree.root.children))
    while stack:
        node = stack.pop()
        out.append(str(node.label))
        stack.extend(reversed(node.children))
    return out


async def open_tree(pilot, app: EbpftopApp) -> ProcTreePane:  # type: ignore[no-untyped-def]
    # Let start-up focus messages land first: a late TabPane.Focused from the
    # first pane would switch the tab back.
    await pilot.pause()
    app.query_one("#tabs", TabbedContent).active = "tab-procs"
    await pilot.pause()
    pane = app.query_one(ProcTreePane)
    assert app.active_pane() is pane
    pane.proc_tree.focus()
    await pilot.pause()
    return pane


async def test_nodes_show_command_pid_argv_age_and_rates() -> None:
    source = ScriptedSource()
    app, model = EbpftopApp(Settings(), source), ProcTreeModel()
    events = (
        ProcEvent(FORK, 300, 200, "bash", T0 - 0.5),
        ProcEvent(EXEC, 300, 200, "make", T0 - 0.4, filename="/usr/bin/make", argv=("make", "-j4", "all")),
        ProcEvent(FORK, 301, 300, "make", T0 - 0.3),
    )
    async with app.run_test(size=(160, 40)) as pilot:
        pane = await open_tree(pilot, app)
        source.emit(procs_frame(model, first_sample(events)))
        await pilot.pause()
        text = labels(pane.proc_tree)
        assert any(t.startswith("systemd 1  /sbin/init  16m40s") for t in text), text
        make = next(t for t in text if t.startswith("make 300"))
        assert "make -j4 all" in make and "1 forks/s 1 execs/s" in make
        bash = next(t for t in text if t.startswith("bash 200"))
        assert "2 forks/s 1 execs/s" in bash  # its subtree's
        # kthreadd starts collapsed: its kernel threads are not lines.
        kthreadd = next(n for n in pane.proc_tree.root.children if n.data and n.data[0] == 2)
        assert not kthreadd.is_expanded
        summary = str(app.query_one("#proctree-summary", Static).render())
        assert "8 processes" in summary and "events lost" not in summary


async def test_hostile_argv_is_harmless() -> None:
    source = ScriptedSource()
    app, model = EbpftopApp(Settings(), source), ProcTreeModel()
    events = (
        ProcEvent(FORK, 300, 200, "bash", T0 - 0.5),
        ProcEvent(EXEC, 300, 200, "\x1b[31mevil", T0 - 0.4, filename="/bin/evil", argv=HOSTILE_ARGV),
    )
    async with app.run_test(size=(200, 40)) as pilot:
        pane = await open_tree(pilot, app)
        source.emit(procs_frame(model, first_sample(events)))
        await pilot.pause()
        line = next(t for t in labels(pane.proc_tree) if " 300 " in t)
        shown = "\\x1b[31mevil 300  /bin/evil \\x1b]0;pwned\\x07 [bold red]m[/] a\\x0ab \\xff\\xfe \\u202ee  "
        assert line.startswith(shown)
        assert "\x1b" not in line and "\n" not in line and "\u202e" not in line
        svg = app.export_screenshot()
        assert "\x1b" not in svg and "pwned\x07" not in svg
        assert "[bold&#160;red]m[/]" in svg or "[bold red]m[/]" in svg  # literal, never parsed as markup


async def test_selection_and_screen_row_stay_when_tree_changes() -> None:
    source = ScriptedSource()
    app, model = EbpftopApp(Settings(), source), ProcTreeModel(linger=60.0)
    # Taller than the screen, so the tree scrolls.
    seed = SEED + tuple(ProcSeed(210 + i, 200, "sleep", ("sleep", "1h"), T0 - 10) for i in range(10))
    async with app.run_test(size=(160, 14)) as pilot:
        pane = await open_tree(pilot, app)
        source.emit(procs_frame(model, ProcSample((), 0, T0, seed=seed, scan_time=T0)))
        await pilot.pause()
        tree = pane.proc_tree
        tree.move_cursor(find_node(tree, 500))
        await pilot.pause()
        assert pane.selected_pid() == 500
        before_line = tree.cursor_line
        row = before_line - int(tree.scroll_y)
        assert tree.scroll_y > 0 and row >= 0
        # Five new children of bash appear above cron; one of sshd's exits.
        events = tuple(ProcEvent(FORK, 600 + i, 200, "bash", T0 + 0.1 * i) for i in range(5))
        source.emit(procs_frame(model, ProcSample(events, 0, T0 + 1)))
        await pilot.pause()
        assert pane.selected_pid() == 500
        assert tree.cursor_line == before_line + 5
        assert tree.cursor_line - int(tree.scroll_y) == row
        # The selected process exits: it stays (dimmed, with its status) and stays selected.
        killed = ProcEvent(EXIT, 500, 1, "cron", T0 + 1.5, exit_code=None, signal="KILL")
        source.emit(procs_frame(model, ProcSample((killed,), 0, T0 + 2)))
        await pilot.pause()
        assert pane.selected_pid() == 500
        cron = next(t for t in labels(tree) if t.startswith("cron 500"))
        assert "[killed by KILL after" in cron


async def test_vanished_selection_moves_to_its_parent() -> None:
    source = ScriptedSource()
    app, model = EbpftopApp(Settings(), source), ProcTreeModel(linger=0.5)
    async with app.run_test(size=(160, 40)) as pilot:
        pane = await open_tree(pilot, app)
        source.emit(procs_frame(model, first_sample((ProcEvent(FORK, 300, 200, "bash", T0 - 0.1),))))
        await pilot.pause()
        tree = pane.proc_tree
        tree.move_cursor(find_node(tree, 300))
        await pilot.pause()
        assert pane.selected_pid() == 300
        source.emit(procs_frame(model, ProcSample((ProcEvent(EXIT, 300, 200, "bash", T0 + 0.1),), 0, T0 + 1)))
        await pilot.pause()
        source.emit(procs_frame(model, ProcSample((), 0, T0 + 2)))
        await pilot.pause()
        assert pane.selected_pid() == 200


async def test_sort_keys_and_lost_count_shown() -> None:
    source = ScriptedSource()
    app, model = EbpftopApp(Settings(), source), ProcTreeModel()
    async with app.run_test(size=(160, 40)) as pilot:
        pane = await open_tree(pilot, app)
        source.emit(procs_frame(model, first_sample(lost=3)))
        await pilot.pause()
        assert [n.data[0] for n in find_node(pane.proc_tree, 1).children] == [100, 500]  # by pid
        await pilot.press("s")  # by name
        await pilot.pause()
        assert [n.data[0] for n in find_node(pane.proc_tree, 1).children] == [500, 100]  # cron < sshd
        assert [n.data[0] for n in pane.proc_tree.root.children] == [2, 1]  # kthreadd < systemd
        await pilot.press("r")
        await pilot.pause()
        assert [n.data[0] for n in find_node(pane.proc_tree, 1).children] == [100, 500]
        summary = str(app.query_one("#proctree-summary", Static).render())
        assert "3 events lost (+3)" in summary


async def test_probe_off_shows_a_note() -> None:
    source = ScriptedSource()
    app = EbpftopApp(Settings(), source)
    async with app.run_test(size=(120, 30)) as pilot:
        pane = await open_tree(pilot, app)
        source.emit(Frame(time=T0, elapsed=1.0, probes=(), panes={}))
        await pilot.pause()
        assert "probe off" in str(app.query_one("#proctree-summary", Static).render())
        assert pane.selected_pid() is None
        assert labels(pane.proc_tree) == []


def test_age_format() -> None:
    assert age(4.25) == "4.2s"
    assert age(302) == "5m02s"
    assert age(3 * 3600 + 240) == "3h04m"
    assert age(2 * 86400 + 3 * 3600) == "2d03h"
    assert age(-1) == "0.0s"


async def test_space_still_pauses_and_enter_collapses_and_f_filters() -> None:
    source = ScriptedSource()
    app, model = EbpftopApp(Settings(), source), ProcTreeModel()
    async with app.run_test(size=(160, 40)) as pilot:
        pane = await open_tree(pilot, app)
        source.emit(procs_frame(model, first_sample()))
        await pilot.pause()
        tree = pane.proc_tree
        tree.move_cursor(find_node(tree, 100))
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert not find_node(tree, 100).is_expanded
        # The collapse survives a rebuild of the tree.
        source.emit(procs_frame(model, ProcSample((ProcEvent(FORK, 300, 200, "bash", T0 + 0.1),), 0, T0 + 1)))
        await pilot.pause()
        assert not find_node(tree, 100).is_expanded and pane.selected_pid() == 100
        await pilot.press("space")
        await pilot.pause()
        assert app.paused
        await pilot.press("f")
        await pilot.pause()
        assert source.pids[-1] == frozenset({100})
