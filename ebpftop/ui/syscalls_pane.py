"""Syscall pane: processes by syscalls per second, with their top syscalls and a rate sparkline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Sparkline, Static

from ebpftop.model.syscalls import HISTORY, SyscallRow, SyscallTable
from ebpftop.ui.format import count, num, right, safe, si

TOP_SHOWN = 4
MAX_ROWS = 500


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    sort: Callable[[SyscallRow], object]
    descending: bool
    width: int = 0  # right-aligned numeric column of this width


COLUMNS = (
    Column("pid", "PID", lambda r: r.pid, False, 7),
    Column("comm", "COMMAND", lambda r: r.comm, False),
    Column("rate", "SYSCALLS/s", lambda r: r.rate, True, 12),
    Column("count", "COUNT", lambda r: r.count, True, 12),
    Column("top", "TOP SYSCALLS", lambda r: r.top[0].name if r.top else "", False),
)


def _top(row: SyscallRow) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    for i, t in enumerate(row.top[:TOP_SHOWN]):
        if i:
            text.append("  ")
        text.append(t.name)
        text.append(f" {si(t.count)}", style="dim")
    return text


class SyscallsPane(Vertical):
    """Rows are rebuilt each frame; the cursor stays on the same PID."""

    def __init__(self) -> None:
        super().__init__(id="syscalls-pane")
        self.sort_index = 2  # SYSCALLS/s
        self.reverse = False
        self.data: SyscallTable | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="syscalls-summary", classes="summary")
        yield Sparkline([], id="syscalls-spark", summary_function=max)
        table: DataTable[Text] = DataTable(id="syscalls-table", cursor_type="row", zebra_stripes=True)
        for col in COLUMNS:
            table.add_column(col.label, key=col.key)
        yield table

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#syscalls-table", DataTable)

    def sort_by(self, key: str) -> None:
        index = next(i for i, c in enumerate(COLUMNS) if c.key == key)
        if index == self.sort_index:
            self.reverse = not self.reverse
        else:
            self.sort_index, self.reverse = index, False
        self.refresh_rows()

    def sort_next(self) -> None:
        self.sort_index = (self.sort_index + 1) % len(COLUMNS)
        self.reverse = False
        self.refresh_rows()

    def sort_reverse(self) -> None:
        self.reverse = not self.reverse
        self.refresh_rows()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.sort_by(str(event.column_key.value))

    def show(self, data: SyscallTable | None) -> None:
        self.data = data
        spark = self.query_one("#syscalls-spark", Sparkline)
        summary = self.query_one("#syscalls-summary", Static)
        if data is None:
            spark.data = []
            summary.update("syscall probe off")
        else:
            spark.data = [0.0] * (HISTORY - len(data.history)) + list(data.history)
            line = f"{si(data.total_rate)} syscalls/s from {len(data.rows)} processes"
            if data.drops:
                line += f"  ·  {data.drops:,} events dropped (map full)"
            summary.update(Text(line, no_wrap=True))
        self.refresh_rows()

    def selected_pid(self) -> int | None:
        table = self.table
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return int(key) if key is not None else None

    def refresh_rows(self) -> None:
        table = self.table
        col = COLUMNS[self.sort_index]
        for i, c in enumerate(COLUMNS):
            arrow = (" ▲" if (c.descending == self.reverse) else " ▼") if i == self.sort_index else ""
            label = c.label + arrow
            table.columns[c.key].label = Text(label.rjust(c.width) if c.width else label)  # type: ignore[index]
        rows = list(self.data.rows) if self.data else []
        rows.sort(key=col.sort, reverse=col.descending != self.reverse)
        selected = self.selected_pid()
        table.clear()
        for r in rows[:MAX_ROWS]:
            table.add_row(
                right(str(r.pid), 7),
                safe(r.comm, 64),
                num(r.rate, 12),
                count(r.count, 12),
                _top(r),
                key=str(r.pid),
            )
        if selected is not None:
            try:
                table.move_cursor(row=table.get_row_index(str(selected)), animate=False)
            except Exception:  # noqa: BLE001 - that process is gone this interval
                pass
