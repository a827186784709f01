"""A table that redraws a few hundred changing rows every interval for a fraction of DataTable's cost.

Textual's DataTable measures every cell of every added row and renders each
cell through Rich's layout engine, with caches keyed on an update counter
that a refresh-every-interval table bumps every time. Profiled on a 160x40
terminal with 500 files rows: ~114 ms of CPU per refresh, over 10% of a core
at a 1 s interval. This table keeps the rows as rich Text, measures a column
once per refresh, and builds only the visible lines as Strips (the Line API),
each cached until the rows, the cursor or the width change.

It keeps the subset of DataTable's interface the panes use (add_column,
add_row, clear, row_count, get_row_at, get_row_index, move_cursor, columns),
plus ``cursor_key``. Cells must be rich Text, one line each (the panes build
them through ui.format, which never parses markup).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

PADDING = 1  # blank cells on each side of every column


@dataclass(slots=True)
class TableColumn:
    key: str
    label: Text
    width: int = 0  # computed per refresh (fixed, content, or what is left for a flex column)
    fixed: int = 0  # this many cells whatever the content (stable: numbers do not jump each second)
    flex: bool = False  # takes the width the other columns leave (PATH, ARGV), at least MIN_FLEX
    cap: int = 0  # a content-sized column grows to this at most (PROCESS)
    priority: int = 0  # when the columns do not fit, the lowest priority is hidden first
    hidden: bool = False


MIN_FLEX = 16
HIDE_BELOW = 32  # low-priority columns are hidden before a flex column (PATH, ARGV) gets narrower than this


class FastTable(ScrollView, can_focus=True):
    """Rows of Text cells under a fixed header, with a row cursor, zebra stripes and header clicks."""

    DEFAULT_CSS = """
    FastTable {
        background: $surface;
        color: $foreground;
        height: 1fr;
        & > .fasttable--header { text-style: bold; background: $panel; color: $foreground; }
        & > .fasttable--even-row { background: $surface-lighten-1 50%; }
        & > .fasttable--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:dark > .fasttable--even-row { background: $surface-darken-1 40%; }
        &:focus {
            background-tint: $foreground 5%;
            & > .fasttable--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
        }
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"fasttable--header", "fasttable--even-row", "fasttable--cursor"}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "edge(0)", "First row", show=False),
        Binding("end", "edge(1)", "Last row", show=False),
        Binding("enter", "select", "Select", show=False),
    ]

    cursor_row: reactive[int] = reactive(0, always_update=False)

    class _Event(Message):
        def __init__(self, table: FastTable) -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> FastTable:
            return self.table

    class RowHighlighted(_Event):
        """The cursor is on another row (or another row came under it)."""

        def __init__(self, table: FastTable, row_key: str | None) -> None:
            super().__init__(table)
            self.row_key = row_key

    class RowSelected(_Event):
        """Enter on a row, or a click on the row under the cursor."""

        def __init__(self, table: FastTable, row_key: str | None) -> None:
            super().__init__(table)
            self.row_key = row_key

    class HeaderSelected(_Event):
        """A click on a column header."""

        def __init__(self, table: FastTable, column_key: str) -> None:
            super().__init__(table)
            self.column_key = column_key

    def __init__(self, *, zebra_stripes: bool = True, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.zebra_stripes = zebra_stripes
        self.columns: dict[str, TableColumn] = {}
        self._keys: list[str] = []
        self._cells: list[tuple[Text, ...]] = []
        self._index: dict[str, int] = {}
        self._widths_valid = False
        self._lines: dict[tuple[int, bool], Strip] = {}  # (row index, under cursor) -> full-width strip
        self._header: Strip | None = None
        self._highlighted: str | None = None
        self._apply_pending = False
        self._styles: dict[str, Style] = {}  # resolved once per style change, not per line

    # -- DataTable-compatible building ------------------------------------------
    def add_column(
        self, label: str | Text, key: str, *, fixed: int = 0, flex: bool = False, cap: int = 0, priority: int = 0
    ) -> str:
        text = label if isinstance(label, Text) else Text(label)
        self.columns[key] = TableColumn(key, text, fixed=fixed, flex=flex, cap=cap, priority=priority)
        self._changed()
        return key

    def set_label(self, key: str, label: Text) -> None:
        """A new header label (the sort arrow moved)."""
        column = self.columns[key]
        if column.label != label:
            column.label = label
            self._changed()

    def add_row(self, *cells: Text, key: str) -> str:
        self._index[key] = len(self._keys)
        self._keys.append(key)
        self._cells.append(cells)
        self._changed()
        return key

    def clear(self) -> None:
        self._keys, self._cells, self._index = [], [], {}
        self._changed()

    @property
    def row_count(self) -> int:
        return len(self._keys)

    def get_row_at(self, index: int) -> list[Text]:
        return list(self._cells[index])

    def get_row_index(self, key: str) -> int:
        return self._index[key]  # KeyError, like DataTable's RowDoesNotExist, when it is not there

    @property
    def cursor_key(self) -> str | None:
        """The key of the row under the cursor, None when the table is empty."""
        if not self._keys:
            return None
        return self._keys[min(self.cursor_row, len(self._keys) - 1)]

    def move_cursor(self, *, row: int, animate: bool = False, scroll: bool = True) -> None:
        self.cursor_row = max(0, min(row, len(self._keys) - 1)) if self._keys else 0
        if scroll:
            self.call_after_refresh(self._scroll_cursor_into_view)

    # -- state changes ------------------------------------------------------------
    def _changed(self) -> None:
        """Rows or columns changed: drop the cached lines now, size and announce once, later."""
        self._widths_valid = False
        self._lines.clear()
        self._header = None
        if not self._apply_pending:
            self._apply_pending = True
            self.call_later(self._apply)

    def _apply(self) -> None:
        self._apply_pending = False
        self._styles = {}  # resolved once per style change, not per line
        if self._keys and self.cursor_row >= len(self._keys):
            self.cursor_row = len(self._keys) - 1
        self._measure()
        self.refresh()
        self._announce()

    def _announce(self) -> None:
        key = self.cursor_key
        if key != self._highlighted:
            self._highlighted = key
            self.post_message(self.RowHighlighted(self, key))

    def watch_cursor_row(self, old: int, new: int) -> None:
        for flag_row in (old, new):
            self._lines.pop((flag_row, True), None)
            self._lines.pop((flag_row, False), None)
        self.refresh()
        self._announce()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._restyle()

    def on_focus(self) -> None:
        self._restyle()
        self.refresh()

    def on_blur(self) -> None:
        self._restyle()
        self.refresh()

    def _restyle(self) -> None:
        self._styles.clear()
        self._lines.clear()
        self._header = None

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            base = self.rich_style
            style = self._styles[name] = base if name == "base" else base + self.get_component_rich_style(name)
        return style

    def on_resize(self, _event: events.Resize) -> None:
        self._lines.clear()
        self._header = None
        self._widths_valid = False  # flex and hidden columns follow the width

    # -- layout -------------------------------------------------------------------
    def _measure(self) -> None:
        if self._widths_valid:
            return
        columns = list(self.columns.values())
        for i, column in enumerate(columns):
            if column.fixed:
                column.width = column.fixed
                continue
            width = column.label.cell_len
            for cells in self._cells:
                if i < len(cells):
                    width = max(width, cells[i].cell_len)
            column.width = min(width, column.cap) if column.cap else width
        self._fit(columns)
        total = sum(c.width + 2 * PADDING for c in columns if not c.hidden)
        self.virtual_size = Size(total, len(self._keys) + 1)
        self._widths_valid = True

    def _available_width(self) -> int:
        """The columns' width: the content's, less the vertical scrollbar whenever the rows need one.

        Measured from the scrollbars on screen, the rows that would bring the vertical scrollbar
        were laid out before it came: 2 cells too wide, so a horizontal scrollbar appeared and hid
        the last column (WRITE B/s at 80x24 once the files outgrew the pane).
        """
        region = self.content_region
        width = region.width
        if self.styles.overflow_y != "hidden" and len(self._keys) + 1 > region.height:
            width -= self.styles.scrollbar_size_vertical
        return width

    def _fit(self, columns: list[TableColumn]) -> None:
        """Hide the lowest-priority columns until the rest fit; a flex column takes what is left."""
        available = self._available_width()
        for column in columns:
            column.hidden = False
        if available <= 0:
            return

        def need() -> int:
            return sum((HIDE_BELOW if c.flex else c.width) + 2 * PADDING for c in columns if not c.hidden)

        for column in sorted((c for c in columns if c.priority < 0), key=lambda c: c.priority):
            if need() <= available:
                break
            column.hidden = True
        flex = [c for c in columns if c.flex and not c.hidden]
        if flex:
            left = available - sum(c.width + 2 * PADDING for c in columns if not c.hidden and not c.flex)
            share = max(MIN_FLEX, left // len(flex) - 2 * PADDING)
            for column in flex:
                column.width = share

    def flex_width(self, key: str) -> int:
        """The width a flex column gets at the current size (cells can be elided to it before adding)."""
        self._widths_valid = False
        self._measure()
        return self.columns[key].width

    def _body_height(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _scroll_cursor_into_view(self) -> None:
        top = round(self.scroll_y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row >= top + self._body_height():
            self.scroll_to(y=self.cursor_row - self._body_height() + 1, animate=False)

    # -- rendering ----------------------------------------------------------------
    def _line(self, cells: tuple[Text, ...] | list[Text], style: Style, post: Style | None = None) -> Strip:
        console = self.app.console
        segments: list[Segment] = []
        pad = " " * PADDING
        for column, cell in zip(self.columns.values(), cells, strict=False):
            if column.hidden:
                continue
            if cell.cell_len > column.width:
                cell = cell.copy()
                cell.truncate(column.width, overflow="ellipsis")
            segments.append(Segment(pad))
            rendered = list(cell.render(console, end=""))
            segments.extend(Segment.adjust_line_length(rendered, column.width, pad=True))
            segments.append(Segment(pad))
        width = sum(c.width + 2 * PADDING for c in self.columns.values() if not c.hidden)
        return Strip(list(Segment.apply_style(segments, style, post)), width)

    def _row_line(self, index: int, cursor: bool) -> Strip:
        key = (index, cursor)
        line = self._lines.get(key)
        if line is None:
            base = self._style("fasttable--even-row" if self.zebra_stripes and index % 2 == 1 else "base")
            post = self.get_component_rich_style("fasttable--cursor") if cursor else None
            line = self._lines[key] = self._line(self._cells[index], base, post)
        return line

    def render_line(self, y: int) -> Strip:
        self._measure()
        width = self.scrollable_content_region.width
        scroll_x, scroll_y = self.scroll_offset
        if y == 0:
            fill = self._style("fasttable--header")
            if self._header is None:
                self._header = self._line([c.label for c in self.columns.values()], fill)
            line = self._header
        else:
            index = y - 1 + scroll_y
            if index >= len(self._keys):
                return Strip.blank(width, self._style("base"))
            cursor = index == self.cursor_row
            line = self._row_line(index, cursor)
            fill = self._style("fasttable--cursor" if cursor else "base")
        return line.crop_extend(scroll_x, scroll_x + width, fill)

    # -- input --------------------------------------------------------------------
    def action_cursor(self, step: int) -> None:
        self.move_cursor(row=self.cursor_row + step)

    def action_page(self, direction: int) -> None:
        self.move_cursor(row=self.cursor_row + direction * self._body_height())

    def action_edge(self, end: int) -> None:
        self.move_cursor(row=len(self._keys) - 1 if end else 0)

    def action_select(self) -> None:
        if self._keys:
            self.post_message(self.RowSelected(self, self.cursor_key))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            x = offset.x + round(self.scroll_x)
            for column in self.columns.values():
                if column.hidden:
                    continue
                x -= column.width + 2 * PADDING
                if x < 0:
                    self.post_message(self.HeaderSelected(self, column.key))
                    return
            return
        row = offset.y - 1 + round(self.scroll_y)
        if row < len(self._keys):
            if row == self.cursor_row:
                self.action_select()
            self.move_cursor(row=row)
