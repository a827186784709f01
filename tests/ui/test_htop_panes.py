"""Per-pane habits from htop/btop: the tree's cursor from the first frame, coloured exit codes and signals,
x hiding exited processes, argv using the width, counts that follow the PID filter; Files' g as per-process totals."""

from __future__ import annotations

from textual.widgets import Static

from ebpftop.model.files import BY_PATH, BY_PROCESS, FILE, FileIO, FilesSample
from ebpftop.model.proctree import EXEC, EXIT, FORK, ProcEvent, ProcTreeModel
from ebpftop.pids import PidFilter
from ebpftop.settings import Settings
from ebpftop.ui.app import EbpftopApp
from ebpftop.ui.fasttable import FastTable
from tests.ui.scripted import ScriptedSource
from tests.ui.test_files_pane import _open, files_frame
from tests.ui.test_proctree_pane import T0, find_node, first_sample, open_tree, procs_frame

EVENTS = (
    ProcEvent(FORK, 300, 200, "bash", T0 - 0.5),
    ProcEvent(EXEC, 300, 200, "make", T0 - 0.4, filename="/usr/bin/make", argv=("make", "-j4", "x" * 100, "END")),
    ProcEvent(FORK, 301, 300, "make", T0 - 0.3),
    ProcEvent(EXIT, 301, 300, "make", T0 - 0.2, exit_code=2),
    ProcEvent(FORK, 302, 300, "make", T0 - 0.2),
    ProcEvent(EXIT, 302, 300, "make", T0 - 0.1, signal="KILL"),
    ProcEvent(FORK, 303, 300, "make", T0 - 0.2),
    ProcEvent(EXIT, 303, 300, "make", T0 - 0.1, exit_code=0),
)


def span_styles(label) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(label.plain[s.start : s.end], str(s.style)) for s in label.spans]


async def test_tree_cursor_colours_hide_and_width() -> None:
    source = ScriptedSource()
    app, model = EbpftopApp(Settings(), source), ProcTreeModel(linger=60.0)
    async with app.run_test(size=(200, 40)) as pilot:
        pane = await open_tree(pilot, app)
        source.emit(procs_frame(model, first_sample(EVENTS)))
        await pilot.pause()
        assert pane.proc_tree.cursor_line == 0  # visible from the first frame
        colors = app.get_css_variables()
        exit2 = dict(span_styles(find_node(pane.proc_tree, 301).label))
        killed = dict(span_styles(find_node(pane.proc_tree, 302).label))
        clean = dict(span_styles(find_node(pane.proc_tree, 303).label))
        assert exit2["[exit 2 after 0.1s]"] == f"bold {colors['warning']}"
        assert killed["[killed by KILL after 0.1s]"] == f"bold {colors['error']}"
        assert (
            colors["error"] not in clean["[exit 0 after 0.1s]"]
            and colors["warning"] not in clean["[exit 0 after 0.1s]"]
        )
        # argv uses the width: 100 x's and the last argument fit on a 200-column line.
        assert "x" * 100 + " END" in str(find_node(pane.proc_tree, 300).label)
        await pilot.press("x")
        await pilot.pause()
        pids: set[int] = set()
        stack = list(pane.proc_tree.root.children)
        while stack:
            node = stack.pop()
            pids.add(node.data[0])
            stack.extend(node.children)
        assert {301, 302, 303}.isdisjoint(pids) and 300 in pids
        assert "(hidden, x)" in str(app.query_one("#proctree-summary", Static).render())
        await pilot.press("x")
        await pilot.pause()
        assert find_node(pane.proc_tree, 302) is not None


async def test_tree_summary_counts_follow_the_filter() -> None:
    source = ScriptedSource()
    app, model = EbpftopApp(Settings(pids=frozenset({300})), source), ProcTreeModel(linger=60.0)
    async with app.run_test(size=(160, 40)) as pilot:
        await open_tree(pilot, app)
        # What the sampler hands in with a PID filter: the model's filtered view.
        frame = procs_frame(model, first_sample(EVENTS))
        # (The scripted events carry no start, so the filter's start is never compared.)
        pids = PidFilter(frozenset({(300, 0)}))
        filtered = ProcTreeModel(linger=60.0).update(first_sample(EVENTS), 1.0, pids=pids)
        source.emit(type(frame)(frame.time, frame.elapsed, frame.probes, {"procs": filtered}))
        await pilot.pause()
        summary = str(app.query_one("#proctree-summary", Static).render())
        # make 300 and its three exited children; not systemd, sshd, bash (shown only as its ancestors).
        assert summary.startswith("1 processes  ·  3 exited"), summary
        assert "3 forks/s" in summary and "3 exits/s" in summary and "filtered" in summary


async def test_files_g_gives_per_process_totals() -> None:
    sample = FilesSample(
        (
            FileIO(100, 3, 1, "/var/log/a.log", FILE, "writer", 0, 10, 0, 10_000),
            FileIO(100, 4, 1, "/var/log/b.log", FILE, "writer", 2, 30, 200, 30_000),
            FileIO(200, 3, 1, "/var/log/a.log", FILE, "other", 1, 0, 100, 0),
        )
    )
    source = ScriptedSource()
    app = EbpftopApp(Settings(), source)
    async with app.run_test(size=(160, 30)) as pilot:
        pane, table = await _open(pilot, app, source, files_frame(sample))
        await pilot.press("g")
        rows = [[str(c).strip() for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert rows[0][0] == "2 files: /var/log/b.log" and rows[0][2] == "writer 100"
        assert rows[0][3:7] == ["2", "40", "200 bytes/s", "40.0 kB/s"]  # both files summed
        assert rows[1][0] == "1 file: /var/log/a.log" and rows[1][2] == "other 200"
        assert "2 processes" in str(app.query_one("#files-summary", Static).render())
        assert pane.selected_pid() == 100
        await pilot.press("enter")  # the process view of that process
        from ebpftop.ui.procview import ProcessScreen

        assert isinstance(app.screen, ProcessScreen) and app.screen.target.pid == 100
        assert isinstance(table, FastTable)


async def test_tree_argv_follows_a_resize() -> None:
    source = ScriptedSource()
    app, model = EbpftopApp(Settings(), source), ProcTreeModel(linger=60.0)
    async with app.run_test(size=(100, 40)) as pilot:
        pane = await open_tree(pilot, app)
        source.emit(procs_frame(model, first_sample(EVENTS)))
        await pilot.pause()
        assert "…" in str(find_node(pane.proc_tree, 300).label)  # elided in the middle at 100 columns
        await pilot.resize_terminal(240, 40)
        await pilot.pause()
        await pilot.pause()
        assert "x" * 100 + " END" in str(find_node(pane.proc_tree, 300).label)  # whole, with no new frame


def test_files_path_cell_shows_deleted_once_and_never_cut() -> None:
    """The kernel's name of an unlinked file ends with ' (deleted)' (as d_path's): shown once, after the elision."""
    import dataclasses

    from ebpftop.model.files import FileRow
    from ebpftop.ui.files_pane import path_cell

    row = FileRow("/tmp/" + "d" * 60 + ".log (deleted)", FILE, 1, "x", 1, 0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0)
    row = dataclasses.replace(row, deleted=True)
    cell = path_cell(row, BY_PATH, 40)
    assert str(cell) == "/tmp/ddddddddd…ddddddddddd.log (deleted)" and cell.cell_len == 40
    assert str(cell).count("(deleted)") == 1
    assert str(path_cell(row, BY_PROCESS, 40)).startswith("1 file: /tmp/d")
    wide = path_cell(row, BY_PATH, 200)
    assert str(wide) == "/tmp/" + "d" * 60 + ".log (deleted)"
