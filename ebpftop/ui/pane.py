"""What the app asks of every pane (``Pane``), the rows-in-a-table kind (``TablePane``), and what a pane
may ask of its probe (``ProbeRequest``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual.containers import Vertical
from textual.message import Message

from ebpftop.ui.fasttable import FastTable
from ebpftop.ui.table import SortableTable, add_columns


class ProbeRequest(Message):
    """A pane asks its probe for something (XDP: attach to an interface); the app hands it to the source,
    which runs it on the sampler thread as the probe's method ``verb`` (see registry.ProbeCommand)."""

    def __init__(self, probe: str, verb: str, *args: str) -> None:
        super().__init__()
        self.probe = probe
        self.verb = verb
        self.args = args


class Pane(Vertical):
    """One probe's data on screen. The app calls ``show`` with each frame's data for it (None: the probe is
    off), the sort keys, and ``selected_pid`` for f, v and k. A pane that depends on the PID filter reads
    ``app.pids`` (and watches it)."""

    ROWS_ARE_PROCESSES: ClassVar[bool] = True  # False: v and k say its rows are not processes
    KEY_NOTES: ClassVar[dict[str, str]] = {}  # its own keys -> what they do (said when pressed in another pane)

    data: Any

    def show(self, data: Any) -> None:
        raise NotImplementedError

    def sort_next(self) -> None:
        raise NotImplementedError

    def sort_reverse(self) -> None:
        raise NotImplementedError

    def selected_pid(self) -> int | None:
        raise NotImplementedError


class TablePane(SortableTable, Pane):
    """A pane whose rows are a FastTable's, rebuilt each frame with the cursor kept on the same row key.

    A subclass gives ``rows()`` (this frame's, unsorted), ``cells(row)`` and ``row_key(row)``; it may
    change the order (``order``) and redraw what follows the cursor (``after_rows``)."""

    MAX_ROWS: ClassVar[int | None] = None  # rows drawn at most (None: all)
    NAME: ClassVar[str]  # its widgets' ids start with it: "files" -> #files-table, #files-summary

    _shown: list[Any]  # the rows on screen, in order

    def new_table(self) -> FastTable:
        """The pane's table (for compose), with a header cell per column."""
        table = FastTable(id=f"{self.NAME}-table", zebra_stripes=True)
        add_columns(table, self.COLUMNS)
        return table

    @property
    def table(self) -> FastTable:
        return self.query_one(f"#{self.NAME}-table", FastTable)

    def rows(self) -> list[Any]:
        raise NotImplementedError

    def cells(self, row: Any) -> Sequence[Text]:
        raise NotImplementedError

    def row_key(self, row: Any) -> str:
        raise NotImplementedError

    def order(self, rows: list[Any]) -> list[Any]:
        return self.sorted_rows(rows)

    def after_rows(self) -> None:
        """Called after each rebuild (the cursor may be on another row)."""

    def refresh_rows(self) -> None:
        if not self.is_mounted:
            return
        table = self.table
        rows = self.order(self.rows())
        selected = table.cursor_key
        table.clear()
        self._shown = rows[: self.MAX_ROWS]
        for r in self._shown:
            table.add_row(*self.cells(r), key=self.row_key(r))
        if selected is not None:
            try:
                table.move_cursor(row=table.get_row_index(selected), animate=False)
            except KeyError:  # that row is gone this interval
                pass
        self.after_rows()


def spark_data(history: Sequence[float], length: int) -> list[float]:
    """A sparkline's values: the history right-aligned in a fixed length (zeros before it), so its scale and
    position do not jump while the history fills up."""
    return [0.0] * (length - len(history)) + list(history)
