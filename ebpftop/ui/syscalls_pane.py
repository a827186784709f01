"""Syscall pane: processes by syscalls per second, with their top syscalls and a rate sparkline."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Sparkline, Static

from ebpftop.model.syscalls import HISTORY, SyscallRow, SyscallTable
from ebpftop.ui.fasttable import FastTable
from ebpftop.ui.format import cgroup_name, cgroup_names_of, count, num, right, safe, si, spark_label
from ebpftop.ui.pane import TablePane, spark_data
from ebpftop.ui.table import Column

TOP_SHOWN = 4
MAX_ROWS = 500


COLUMNS = (
    Column("pid", "PID", lambda r: r.pid, False, 7),
    Column("comm", "COMMAND", lambda r: r.comm, False, fixed=16),
    Column("rate", "SYSCALLS/s", lambda r: r.rate, True, 12),
    Column("count", "COUNT", lambda r: r.count, True, 12),
    Column("top", "TOP SYSCALLS", lambda r: r.top[0].name if r.top else "", False, flex=True),
    # Sorted by id: the rows of one cgroup together. Hidden first on a narrow terminal.
    Column("cgroup", "CGROUP", lambda r: r.cgroup, False, cap=28, priority=-2),
)


def _top(row: SyscallRow) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    for i, t in enumerate(row.top[:TOP_SHOWN]):
        if i:
            text.append("  ")
        text.append(t.name)
        text.append(f" {si(t.count)}", style="dim")
    return text


class SyscallsPane(TablePane):
    """Rows are rebuilt each frame; the cursor stays on the same PID."""

    COLUMNS = COLUMNS
    NAME = "syscalls"
    HTOP_SORTS = {"P": "SYSCALLS/s"}  # no memory or time column here
    MAX_ROWS = MAX_ROWS

    def __init__(self) -> None:
        super().__init__(id="syscalls-pane")
        self.sort_index = 2  # SYSCALLS/s
        self.reverse = False
        self.data: SyscallTable | None = None
        self._shown: list[SyscallRow] = []

    def compose(self) -> ComposeResult:
        yield Static("", id="syscalls-summary", classes="summary")
        yield Static("", id="syscalls-spark-label", classes="spark-label")
        yield Sparkline([], id="syscalls-spark", summary_function=max)
        yield self.new_table()

    def show(self, data: SyscallTable | None) -> None:
        self.data = data
        spark = self.query_one("#syscalls-spark", Sparkline)
        summary = self.query_one("#syscalls-summary", Static)
        if data is None:
            spark.data = []
            summary.update("syscall probe off")
            self.query_one("#syscalls-spark-label", Static).update("")
        else:
            spark.data = spark_data(data.history, HISTORY)
            label = spark_label("syscalls/s", data.history)
            self.query_one("#syscalls-spark-label", Static).update(label, layout=False)
            line = f"{si(data.total_rate)} syscalls/s from {len(data.rows)} processes"
            if data.lost_total:
                line += f"  ·  {data.lost_total:,} events dropped (map full)"
            summary.update(Text(line, no_wrap=True), layout=False)  # one fixed line
        self.refresh_rows()

    def selected_pid(self) -> int | None:
        table = self.table
        if not table.row_count:
            return None
        key = table.cursor_key
        return int(key) if key is not None else None

    def search_lines(self) -> list[str]:
        """F3 finds a process by its name or PID (not by the numbers in its other columns)."""
        return [f"{r.pid} {r.comm}" for r in self._shown]

    def on_fast_table_row_selected(self, event: FastTable.RowSelected) -> None:
        """Enter on a process opens the process view."""
        event.stop()
        self.app.action_process_view()  # type: ignore[attr-defined]

    def rows(self) -> list[SyscallRow]:
        return list(self.data.rows) if self.data else []

    def cells(self, row: SyscallRow) -> tuple[Text, ...]:
        cgroup = safe(cgroup_name(cgroup_names_of(self), row.cgroup), 256, style="dim")
        return (right(str(row.pid), 7), safe(row.comm, 64), num(row.rate, 12), count(row.count, 12), _top(row), cgroup)

    def row_key(self, row: SyscallRow) -> str:
        return str(row.pid)
