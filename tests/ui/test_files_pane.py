"""The files pane driven by Pilot with scripted frames: rows, sorting, grouping, hostile names, elision."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import Static, TabbedContent

from ebpftop.model.files import BY_PATH, BY_PROCESS, DEVICE, FILE, SOCKET, FileIO, FilesModel, FilesSample
from ebpftop.model.frame import Frame, ProbeStatus
from ebpftop.registry import SPECS
from ebpftop.settings import Settings
from ebpftop.ui.app import EbpftopApp
from ebpftop.ui.fasttable import FastTable as DataTable
from ebpftop.ui.files_pane import COLUMNS, FilesPane
from tests.ui.scripted import ScriptedSource

HOSTILE_PATH = "/tmp/evil\x1b[2J\x1b]0;pwned\x07\nline2[bold red]x[/] [link=http://x]y"
LONG_PATH = "/very/" + "deep/" * 40 + "leaf-file.bin"


def io(tgid: int, fd: int, path: str, kind: str, comm: str, r: int, w: int, rb: int, wb: int, gen: int = 9) -> FileIO:
    return FileIO(tgid, fd, gen, path, kind, comm, r, w, rb, wb)


SAMPLE = FilesSample(
    (
        io(100, 3, "/var/log/app.log", FILE, "writer", 0, 50, 0, 50_000),
        io(200, 4, "/var/log/app.log", FILE, "other", 0, 5, 0, 500),
        io(300, 5, "/dev/null", DEVICE, "dd", 0, 10, 0, 1_000_000),
        io(400, 6, "socket:[1234]", SOCKET, "nginx", 20, 20, 2_000, 3_000),
        io(500, 7, HOSTILE_PATH, FILE, "\x1b[31mevil", 1, 0, 10, 0),
        io(600, 8, LONG_PATH, FILE, "deep", 2, 0, 7, 0),
    ),
    lost_total=3,
)


def files_frame(sample: FilesSample = SAMPLE, elapsed: float = 1.0) -> Frame:
    table = FilesModel().update(sample, elapsed)
    statuses = tuple(ProbeStatus(s.name, "live") for s in SPECS)
    return Frame(time=1_700_000_000.0, elapsed=elapsed, probes=statuses, panes={"files": table})


def paths(table: DataTable) -> list[str]:
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


async def _open(
    pilot: Pilot, app: EbpftopApp, source: ScriptedSource, frame: Frame | None = None
) -> tuple[FilesPane, DataTable]:
    app.query_one("#tabs", TabbedContent).active = "tab-files"
    source.emit(frame or files_frame())
    await pilot.pause()
    return app.query_one(FilesPane), app.query_one("#files-table", DataTable)


def make_app() -> tuple[EbpftopApp, ScriptedSource]:
    source = ScriptedSource()
    return EbpftopApp(Settings(), source), source


async def test_files_is_first_tab_and_rows_hottest_first() -> None:
    app, source = make_app()
    async with app.run_test(size=(160, 30)) as pilot:
        assert app.query_one("#tabs", TabbedContent).active == "tab-files"
        _pane, table = await _open(pilot, app, source)
        assert paths(table)[:3] == ["/dev/null", "/var/log/app.log", "socket:[1234]"]
        row = table.get_row_at(1)
        assert str(row[1]).strip() == "file"
        assert str(row[2]) == "writer 100 +1"  # top process and how many others
        assert str(row[4]).strip() == "55"  # writes/s summed over both processes
        assert str(row[6]).strip() == "50.5 kB/s"
        summary = str(app.query_one("#files-summary", Static).render())
        assert "3 lost" in summary


async def test_toggle_grouping_gives_rows_per_process() -> None:
    app, source = make_app()
    async with app.run_test(size=(160, 30)) as pilot:
        pane, table = await _open(pilot, app, source)
        assert table.row_count == 5
        await pilot.press("g")
        assert pane.grouping == BY_PROCESS
        assert table.row_count == 6
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        procs = sorted(
            str(row[2]) for row in rows if str(row[0]) == "1 file: /var/log/app.log"
        )  # one row per process, its busiest file named
        assert procs == ["other 200", "writer 100"]
        pane.toggle_grouping()  # per cgroup (all of these in one: the kernel gave none)
        assert pane.grouping == "cgroup"
        pane.toggle_grouping()
        assert pane.grouping == BY_PATH
        assert table.row_count == 5


async def test_sort_every_column_by_key_and_reverse() -> None:
    app, source = make_app()
    async with app.run_test(size=(160, 30)) as pilot:
        pane, table = await _open(pilot, app, source)
        await pilot.press("s")  # PATH ascending
        assert pane.sort_index == 0
        got = paths(table)
        assert got == sorted(got)
        await pilot.press("r")
        assert paths(table) == sorted(got, reverse=True)
        for index in range(1, len(COLUMNS)):
            await pilot.press("s")
            assert pane.sort_index == index
        # READ B/s .. WRITE B/s sort descending: /dev/null writes the most.
        assert paths(table)[0] == "/dev/null"
        await pilot.press("s")
        assert pane.sort_index is None  # back to hottest first


async def test_header_click_sorts_by_that_column() -> None:
    app, source = make_app()
    async with app.run_test(size=(160, 30)) as pilot:
        pane, table = await _open(pilot, app, source)
        pane.sort_by("reads")
        assert paths(table)[0] == "socket:[1234]"
        await pilot.click("#files-table", offset=(2, 0))  # the PATH header
        await pilot.pause()
        assert pane.sort_index == 0
        assert paths(table) == sorted(paths(table))


async def test_hostile_path_and_comm_are_inert_text() -> None:
    app, source = make_app()
    async with app.run_test(size=(200, 30)) as pilot:
        _pane, table = await _open(pilot, app, source)
        cells = [str(c) for i in range(table.row_count) for c in table.get_row_at(i)]
        assert not any("\x1b" in c or "\n" in c or "\x07" in c for c in cells)
        hostile = next(c for c in cells if c.startswith("/tmp/evil"))
        assert hostile.startswith("/tmp/evil\\x1b[2J\\x1b]0;pwned\\x07\\x0aline2[bold red]x[/]")
        assert "\\x1b[31mevil 500" in cells
        svg = app.export_screenshot()
        assert "\x1b" not in svg
        assert "[bold&#160;red]x[/]" in svg or "[bold red]x[/]" in svg  # markup shown, not applied


async def test_long_path_elided_in_the_middle_to_fit() -> None:
    app, source = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        pane, table = await _open(pilot, app, source)
        cell = next(p for p in paths(table) if p.startswith("/very/"))
        assert cell.endswith("leaf-file.bin")
        assert "\u2026" in cell
        assert len(cell) == pane.path_width()
        await pilot.resize_terminal(200, 30)
        await pilot.pause()
        wider = next(p for p in paths(table) if p.startswith("/very/"))
        assert len(wider) > len(cell) and wider.endswith("leaf-file.bin")


async def test_cursor_follows_the_file_and_selected_pid() -> None:
    app, source = make_app()
    async with app.run_test(size=(160, 30)) as pilot:
        pane, table = await _open(pilot, app, source)
        table.move_cursor(row=paths(table).index("socket:[1234]"))
        assert pane.selected_pid() == 400
        source.emit(files_frame())
        await pilot.pause()
        assert pane.selected_pid() == 400


async def test_probe_off_and_empty() -> None:
    app, source = make_app()
    async with app.run_test(size=(160, 30)) as pilot:
        pane, table = await _open(pilot, app, source, files_frame(FilesSample(())))
        assert table.row_count == 0
        assert pane.selected_pid() is None
        pane.show(None)
        assert "off" in str(app.query_one("#files-summary", Static).render())


async def test_the_summary_names_the_hottest_order_no_header_carries() -> None:
    """Hottest first is read + write B/s, a sum no column shows: no header had the arrow, and the rows
    looked unsorted (11.2 + 11.2 kB/s above a 22.1 kB/s read). The summary says it, and follows s and r."""
    app, source = make_app()
    async with app.run_test(size=(160, 30)) as pilot:
        pane, _table = await _open(pilot, app, source)

        def summary() -> str:
            return str(app.query_one("#files-summary", Static).render())

        assert "sort: hottest  ·" in summary()
        await pilot.press("r")
        await pilot.pause()
        assert "sort: hottest last" in summary()
        await pilot.press("s")  # PATH: its header has the arrow now
        await pilot.pause()
        assert pane.sort_index == 0 and "sort:" not in summary()
