"""Files pane: the hottest files by bytes per second, per path across processes or per process."""

from __future__ import annotations


from rich.filesize import decimal
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from ebpftop.model import files as m
from ebpftop.model.files import FileRow, FilesTable
from ebpftop.model.sanitize import elide_middle, sanitize
from ebpftop.ui.fasttable import FastTable
from ebpftop.ui.table import Column, SortableTable, add_columns
from ebpftop.ui.format import bytes_per_s, num, safe

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
)
TYPE_WIDTH = max(len(t) for t in m.TYPES)


def _hottest(r: FileRow) -> object:
    return (r.read_bps + r.write_bps, r.reads_per_s + r.writes_per_s)


def row_key(row: FileRow, grouping: str) -> str:
    """Unique within one grouping, stable across frames (the cursor follows it)."""
    if grouping == m.BY_PROCESS or row.type == m.UNKNOWN:
        return f"{row.pid}\0{row.type}\0{row.path}"
    return f"{row.type}\0{row.path}"


def process_cell(row: FileRow, grouping: str) -> Text:
    text = safe(row.comm, 16)
    text.append(f" {row.pid}")
    if grouping == m.BY_PATH and row.processes > 1:
        text.append(f" +{row.processes - 1}", style="dim")
    return text


class FilesPane(SortableTable, Vertical):
    """Rows are rebuilt each frame; the cursor stays on the same file.

    ``g`` (or :meth:`toggle_grouping`) switches between one row per path
    (all processes summed, the busiest one named) and one row per process
    and path. Sorting starts hottest first (read + write bytes/s); ``s``
    cycles through the columns, ``r`` reverses, a header click sorts by it.
    """

    COLUMNS = COLUMNS
    BINDINGS = [Binding("g", "toggle_grouping", "Per path/process")]

    DEFAULT_CSS = """
    FilesPane { height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__(id="files-pane")
        self.sort_index: int | None = None  # None: hottest first
        self.reverse = False
        self.grouping = m.BY_PATH
        self.data: FilesTable | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="files-summary", classes="summary")
        table = FastTable(id="files-table", zebra_stripes=True)
        add_columns(table, COLUMNS)
        yield table

    @property
    def table(self) -> FastTable:
        return self.query_one("#files-table", FastTable)

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
        self.refresh_rows()

    def toggle_grouping(self) -> None:
        self.grouping = m.BY_PROCESS if self.grouping == m.BY_PATH else m.BY_PATH
        self.show(self.data)

    def action_toggle_grouping(self) -> None:
        self.toggle_grouping()

    def selected_row(self) -> FileRow | None:
        table = self.table
        if not table.row_count or self.data is None:
            return None
        key = table.cursor_key
        return next((r for r in self.data.rows(self.grouping) if row_key(r, self.grouping) == key), None)

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
            rows = data.rows(self.grouping)
            noun = "files" if self.grouping == m.BY_PATH else "process/file pairs"
            line = f"{len(rows)} {noun}  ·  read {decimal(int(data.read_bps))}/s"
            line += f"  write {decimal(int(data.write_bps))}/s"
            other = "per process" if self.grouping == m.BY_PATH else "per path"
            line += f"  ·  g: {other}"
            if data.lost:
                line += f"  ·  {data.lost:,} lost (map full or name evicted)"
            summary.update(Text(line, no_wrap=True, overflow="ellipsis"), layout=False)  # one fixed line
        self.refresh_rows()

    def path_width(self) -> int:
        """What the table leaves for PATH at its current width (other columns fixed, low-priority ones hidden)."""
        return self.table.flex_width("path")

    def refresh_rows(self) -> None:
        if not self.is_mounted:
            return
        table = self.table
        rows = self.sorted_rows(list(self.data.rows(self.grouping)) if self.data else [])
        if self.sort_index is None:
            rows.sort(key=_hottest, reverse=not self.reverse)
        selected = None
        if table.row_count:
            selected = table.cursor_key
        width = self.path_width()
        table.clear()
        for r in rows[:MAX_ROWS]:
            table.add_row(
                Text(elide_middle(sanitize(r.path, 4096), width), no_wrap=True),
                Text(r.type.ljust(TYPE_WIDTH), no_wrap=True),
                process_cell(r, self.grouping),
                num(r.reads_per_s, 9),
                num(r.writes_per_s, 9),
                bytes_per_s(r.read_bps, 11),
                bytes_per_s(r.write_bps, 11),
                key=row_key(r, self.grouping),
            )
        if selected is not None:
            try:
                table.move_cursor(row=table.get_row_index(selected), animate=False)
            except Exception:  # noqa: BLE001 - that file had no I/O this interval
                pass
