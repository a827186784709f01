"""Files pane: the hottest files by bytes per second, per path across processes or per process."""

from __future__ import annotations

from typing import Any

from rich.filesize import decimal
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from ebpftop.model.files import BY_PATH, BY_PROCESS, TYPES, UNKNOWN, FileRow, FilesTable
from ebpftop.model.sanitize import elide_middle, sanitize
from ebpftop.ui.fasttable import FastTable
from ebpftop.ui.format import bytes_per_s, cgroup_name, cgroup_names_of, num, safe
from ebpftop.ui.pane import TablePane
from ebpftop.ui.table import Column

MAX_ROWS = 500
PROCESS_WIDTH = 18  # "comm pid +N" (a long comm is elided: PATH needs the room more)


COLUMNS = (
    Column("path", "PATH", lambda r: r.path, False, flex=True),
    Column("type", "TYPE", lambda r: r.type, False, fixed=7),
    Column("process", "PROCESS", lambda r: (r.comm, r.pid), False, fixed=PROCESS_WIDTH),
    Column("reads", "READS/s", lambda r: r.reads_per_s, True, 9, priority=-1),
    Column("writes", "WRITES/s", lambda r: r.writes_per_s, True, 9, priority=-1),
    Column("read_bps", "READ B/s", lambda r: r.read_bps, True, 11),
    Column("write_bps", "WRITE B/s", lambda r: r.write_bps, True, 11),
    # Sorted by id: one group's rows together. The first to give way on a narrow terminal.
    Column("cgroup", "CGROUP", lambda r: r.cgroup, False, cap=24, priority=-2),
)
BY_CGROUP = "cgroup"  # the pane's third grouping: one row per cgroup (built here from the per-process rows)
GROUPINGS = (BY_PATH, BY_PROCESS, BY_CGROUP)
TYPE_WIDTH = max(len(t) for t in TYPES)


def _hottest(r: FileRow) -> tuple[float, float]:
    return (r.read_bps + r.write_bps, r.reads_per_s + r.writes_per_s)


def _summed(items: list[FileRow], **named: Any) -> FileRow:
    """One row for a group of rows (busiest first): their counts and rates summed (rates are linear, so
    the sum of per-file rates is the rate of the total); ``named`` says what names the group."""
    top = items[0]
    fields: dict[str, Any] = {
        "path": top.path,
        "type": top.type,
        "pid": top.pid,
        "comm": top.comm,
        "cgroup": top.cgroup,
        **named,
    }
    return FileRow(
        processes=fields.pop("processes", len(items)),
        reads=sum(r.reads for r in items),
        writes=sum(r.writes for r in items),
        read_bytes=sum(r.read_bytes for r in items),
        write_bytes=sum(r.write_bytes for r in items),
        reads_per_s=sum(r.reads_per_s for r in items),
        writes_per_s=sum(r.writes_per_s for r in items),
        read_bps=sum(r.read_bps for r in items),
        write_bps=sum(r.write_bps for r in items),
        **fields,
    )


def _grouped(rows: tuple[FileRow, ...], key: Any) -> dict[Any, list[FileRow]]:
    groups: dict[Any, list[FileRow]] = {}
    for r in rows:  # busiest first, so each group's first row is its busiest
        groups.setdefault(key(r), []).append(r)
    return groups


def process_totals(rows: tuple[FileRow, ...]) -> list[FileRow]:
    """One row per process: its totals across all its files, named by its busiest file (and its cgroup).

    ``processes`` holds how many files.
    """
    return [_summed(items) for items in _grouped(rows, lambda r: r.pid).values()]


def cgroup_totals(rows: tuple[FileRow, ...], names: dict[int, Any]) -> list[FileRow]:
    """One row per cgroup: its totals across its processes' files, the busiest process named; ``processes``
    holds how many processes, ``path`` the group's readable name."""
    return [
        _summed(items, path=cgroup_name(names, cgroup), type="cgroup", processes=len({r.pid for r in items}))
        for cgroup, items in _grouped(rows, lambda r: r.cgroup).items()
    ]


def path_cell(row: FileRow, grouping: str, width: int) -> Text:
    """The path, elided in the middle to width; per process: how many files, then the busiest."""
    marker = " (deleted)" if row.deleted else ""
    path = row.path
    if marker and path.endswith(marker):
        # The kernel's name already ends with the marker (as d_path's does):
        # elide the path alone so the marker is never cut off, and show it once.
        path = path[: -len(marker)]
    if grouping == BY_CGROUP:
        head = f"{row.processes} process{'es' if row.processes != 1 else ''}: "
        text = Text(head, style="dim", no_wrap=True)
        text.append(elide_middle(sanitize(path, 4096), max(1, width - len(head))))
        return text
    if grouping == BY_PROCESS:
        head = f"{row.processes} file{'s' if row.processes != 1 else ''}: "
        text = Text(head, style="dim", no_wrap=True)
        text.append(elide_middle(sanitize(path, 4096), max(1, width - len(head) - len(marker))))
    else:
        text = Text(elide_middle(sanitize(path, 4096), max(1, width - len(marker))), no_wrap=True)
    if marker:
        text.append(marker, style="bold")
    return text


def row_key(row: FileRow, grouping: str) -> str:
    """Unique within one grouping, stable across frames (the cursor follows it)."""
    if grouping == BY_CGROUP:
        return f"cgroup\0{row.cgroup}"  # one row per cgroup
    if grouping == BY_PROCESS:
        return str(row.pid)  # one row per process
    if row.type == UNKNOWN:
        return f"{row.pid}\0{row.type}\0{row.path}"
    return f"{row.type}\0{row.path}"


def process_cell(row: FileRow, grouping: str) -> Text:
    text = safe(row.comm, 16)
    text.append(f" {row.pid}")
    if grouping == BY_PATH and row.processes > 1:
        text.append(f" +{row.processes - 1}", style="dim")
    return text


class FilesPane(TablePane):
    """Rows are rebuilt each frame; the cursor stays on the same file.

    ``g`` (or :meth:`toggle_grouping`) cycles one row per path (all
    processes summed, the busiest one named), one row per process (all its
    files summed, the busiest one named) and one row per cgroup (all its
    processes summed). Enter opens the process
    view of the row's process. Sorting starts hottest first (read + write bytes/s); ``s``
    cycles through the columns, ``r`` reverses, a header click sorts by it.
    """

    COLUMNS = COLUMNS
    NAME = "files"
    # The footer gets the short label (at 80 columns the long one pushed "1-4 Probes" off the edge);
    # help and the footer's hover show the full one.
    BINDINGS = [Binding("g", "toggle_grouping", "Group", tooltip="Per path/process/cgroup totals")]
    HTOP_SORTS = {"P": "hottest (B/s)"}  # no memory or time column
    KEY_NOTES = {"g": "one row per path, per process, or per cgroup (container, unit)"}
    MAX_ROWS = MAX_ROWS

    DEFAULT_CSS = """
    FilesPane { height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__(id="files-pane")
        self.sort_index: int | None = None  # None: hottest first
        self.reverse = False
        self.grouping = BY_PATH
        self.data: FilesTable | None = None
        self._shown: list[FileRow] = []
        self._path_width = 0  # PATH's width in the rebuild under way

    def compose(self) -> ComposeResult:
        yield Static("", id="files-summary", classes="summary")
        yield self.new_table()

    # -- the app's pane contract ---------------------------------------------
    def sort_next(self) -> None:
        """Hottest -> PATH -> TYPE -> ... -> WRITE B/s -> hottest."""
        if self.sort_index is None:
            self.sort_index = 0
        elif self.sort_index + 1 < len(COLUMNS):
            self.sort_index += 1
        else:
            self.sort_index = None
        self.reverse = False
        self.show(self.data)  # the summary says when the order is hottest first

    def sort_reverse(self) -> None:
        self.reverse = not self.reverse
        self.show(self.data)

    def toggle_grouping(self) -> None:
        self.grouping = GROUPINGS[(GROUPINGS.index(self.grouping) + 1) % len(GROUPINGS)]
        self.show(self.data)

    def action_toggle_grouping(self) -> None:
        self.toggle_grouping()

    def selected_row(self) -> FileRow | None:
        table = self.table
        if not table.row_count or not self._shown:
            return None
        return self._shown[min(table.cursor_row, len(self._shown) - 1)]

    # -- htop's keys ---------------------------------------------------------------
    def sort_choices(self) -> list[str]:
        return ["hottest (B/s)"] + [c.label for c in COLUMNS]

    def current_sort(self) -> int:
        return 0 if self.sort_index is None else self.sort_index + 1

    def set_sort(self, index: int) -> None:
        self.sort_index, self.reverse = (None if index == 0 else index - 1), False
        self.show(self.data)

    def search_lines(self) -> list[str]:
        return [f"{r.path} {r.type} {r.comm} {r.pid}" for r in self._shown]

    def on_fast_table_row_selected(self, event: FastTable.RowSelected) -> None:
        """Enter on a row opens the process view of its process."""
        event.stop()
        self.app.action_process_view()  # type: ignore[attr-defined]

    def selected_pid(self) -> int | None:
        row = self.selected_row()
        return row.pid if row is not None else None

    # -- events ----------------------------------------------------------------
    def on_resize(self, event: events.Resize) -> None:
        # After the table has its new size too: PATH is elided to the width the table gives it.
        self.call_after_refresh(self.refresh_rows)

    # -- rendering ---------------------------------------------------------------
    def show(self, data: FilesTable | None) -> None:
        self.data = data
        summary = self.query_one("#files-summary", Static)
        if data is None:
            summary.update("files probe off")
        else:
            rows = self.rows()
            noun = {BY_PATH: "files", BY_PROCESS: "processes", BY_CGROUP: "cgroups"}[self.grouping]
            line = f"{len(rows)} {noun}  ·  read {decimal(int(data.read_bps))}/s"
            line += f"  write {decimal(int(data.write_bps))}/s"
            if data.lost_total:
                line += f"  ·  {data.lost_total:,} lost (map full or name evicted)"
            if self.sort_index is None:  # read + write B/s is no column: no header carries the arrow
                line += "  ·  sort: hottest" + (" last" if self.reverse else "")
            other = {BY_PATH: "per process", BY_PROCESS: "per cgroup", BY_CGROUP: "per path"}[self.grouping]
            line += f"  ·  g: {other}"
            summary.update(Text(line, no_wrap=True, overflow="ellipsis"), layout=False)  # one fixed line
        self.refresh_rows()

    def path_width(self) -> int:
        """What the table leaves for PATH at its current width (other columns fixed, low-priority ones hidden)."""
        return self.table.flex_width("path")

    def rows(self) -> list[FileRow]:
        if self.data is None:
            return []
        if self.grouping == BY_PROCESS:
            return process_totals(self.data.rows(BY_PROCESS))
        if self.grouping == BY_CGROUP:
            return cgroup_totals(self.data.rows(BY_PROCESS), cgroup_names_of(self))
        return list(self.data.rows(BY_PATH))

    def order(self, rows: list[FileRow]) -> list[FileRow]:
        rows = self.sorted_rows(rows)
        if self.sort_index is None:
            rows.sort(key=_hottest, reverse=not self.reverse)
        return rows

    def refresh_rows(self) -> None:
        if self.is_mounted:
            self._path_width = self.path_width()
        super().refresh_rows()

    def cells(self, row: FileRow) -> tuple[Text, ...]:
        return (
            path_cell(row, self.grouping, self._path_width),
            Text(row.type.ljust(TYPE_WIDTH), no_wrap=True),
            process_cell(row, self.grouping),
            num(row.reads_per_s, 9),
            num(row.writes_per_s, 9),
            bytes_per_s(row.read_bps, 11),
            bytes_per_s(row.write_bps, 11),
            safe(cgroup_name(cgroup_names_of(self), row.cgroup), 256, style="dim"),
        )

    def row_key(self, row: FileRow) -> str:
        return row_key(row, self.grouping)
