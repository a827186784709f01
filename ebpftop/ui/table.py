"""What every table pane shares: column specs, sort by key or header click, arrowed header labels."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text

from ebpftop.ui.fasttable import FastTable


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    sort: Callable[[Any], Any]
    descending: bool  # natural order: biggest first for rates
    width: int = 0  # right-aligned numeric column of this width (0: sized by content)
    flex: bool = False  # takes the width the others leave (PATH, ARGV)
    cap: int = 0  # a content-sized column grows to this at most
    priority: int = 0  # negative: hidden on a narrow terminal, the lowest first
    fixed: int = 0  # a left-aligned column of exactly this width (0: sized by content, or by width)

    def header(self, arrow: str = "") -> str:
        # The arrow has its own cell in every header (a blank when unsorted): a width that never changes.
        label = self.label + (arrow or " ")
        return label.rjust(self.width) if self.width else label


def add_columns(table: FastTable, columns: tuple[Column, ...]) -> None:
    for col in columns:
        fixed = max(col.width, len(col.label) + 1) if col.width else col.fixed
        table.add_column(col.header(), key=col.key, fixed=fixed, flex=col.flex, cap=col.cap, priority=col.priority)


class SortableTable:
    """Mixin for a pane with ``COLUMNS``, ``sort_index`` (None: the pane's own default order),
    ``reverse``, a ``table`` property and ``refresh_rows()``."""

    COLUMNS: ClassVar[tuple[Column, ...]]
    sort_index: int | None
    reverse: bool

    @property
    def table(self) -> FastTable:
        raise NotImplementedError

    def refresh_rows(self) -> None:
        raise NotImplementedError

    def sort_by(self, key: str) -> None:
        """Sort by that column; the same column again flips the order."""
        index = next(i for i, c in enumerate(self.COLUMNS) if c.key == key)
        if index == self.sort_index:
            self.reverse = not self.reverse
        else:
            self.sort_index, self.reverse = index, False
        self.refresh_rows()

    def sort_next(self) -> None:
        self.sort_index = ((self.sort_index if self.sort_index is not None else -1) + 1) % len(self.COLUMNS)
        self.reverse = False
        self.refresh_rows()

    def sort_reverse(self) -> None:
        self.reverse = not self.reverse
        self.refresh_rows()

    def on_fast_table_header_selected(self, event: FastTable.HeaderSelected) -> None:
        event.stop()
        self.sort_by(event.column_key)

    def sorted_rows(self, rows: list[Any]) -> list[Any]:
        """Rows in the chosen order, and the header arrows to match."""
        for i, c in enumerate(self.COLUMNS):
            arrow = ("▲" if c.descending == self.reverse else "▼") if i == self.sort_index else ""
            self.table.set_label(c.key, Text(c.header(arrow)))
        if self.sort_index is not None:
            col = self.COLUMNS[self.sort_index]
            rows.sort(key=col.sort, reverse=col.descending != self.reverse)
        return rows
