"""FastTable on its own: rows, cursor keys, scrolling, header clicks, selection, literal cells."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult

from ebpftop.ui.fasttable import FastTable


class TableApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[object] = []

    def compose(self) -> ComposeResult:
        table = FastTable(id="t")
        table.add_column(Text("NAME"), key="name")
        table.add_column(Text("   N"), key="n")
        yield table

    def on_fast_table_header_selected(self, event: FastTable.HeaderSelected) -> None:
        self.messages.append(("header", event.column_key))

    def on_fast_table_row_selected(self, event: FastTable.RowSelected) -> None:
        self.messages.append(("selected", event.row_key))

    def on_fast_table_row_highlighted(self, event: FastTable.RowHighlighted) -> None:
        self.messages.append(("highlighted", event.row_key))


def fill(table: FastTable, n: int) -> None:
    table.clear()
    for i in range(n):
        table.add_row(Text(f"row{i}"), Text(str(i).rjust(4)), key=f"k{i}")


async def test_rows_render_aligned_and_hostile_cells_stay_literal() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 10)) as pilot:
        table = app.query_one(FastTable)
        table.add_row(Text("\\x1b[2J[bold]x"), Text("   7"), key="evil")
        table.add_row(Text("ok"), Text("  12"), key="ok")
        await pilot.pause()
        lines = [table.render_line(y).text.rstrip() for y in range(3)]
        # Each column as wide as its widest cell, one blank either side.
        evil = "\\x1b[2J[bold]x"
        assert lines == [f" {'NAME':<{len(evil)}}     N", f" {evil}     7", f" {'ok':<{len(evil)}}    12"]
        assert (table.row_count, table.get_row_index("ok"), table.cursor_key) == (2, 1, "evil")
        assert [str(c) for c in table.get_row_at(1)] == ["ok", "  12"]


async def test_cursor_keys_scroll_and_announce() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 10)) as pilot:
        table = app.query_one(FastTable)
        fill(table, 50)
        table.focus()
        await pilot.pause()
        await pilot.press("down", "down")
        assert table.cursor_key == "k2"
        await pilot.press("end")
        await pilot.pause()
        assert table.cursor_key == "k49"
        assert table.scroll_y == table.max_scroll_y > 0  # the last row is on screen
        assert table.render_line(table.size.height - 1).text.startswith(" row49")
        await pilot.press("home", "pagedown")
        assert table.cursor_row == table.size.height - 1  # one page of body rows (the header stays)
        await pilot.press("enter")
        await pilot.pause()
        assert ("highlighted", "k2") in app.messages
        assert app.messages[-1] == ("selected", table.cursor_key)


async def test_header_click_names_the_column_and_row_click_moves_the_cursor() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 10)) as pilot:
        table = app.query_one(FastTable)
        fill(table, 5)
        await pilot.pause()
        await pilot.click(FastTable, offset=(8, 0))  # the N column starts after ' row4 ' padding
        await pilot.click(FastTable, offset=(2, 0))
        await pilot.click(FastTable, offset=(2, 3))
        await pilot.pause()
        assert app.messages.count(("header", "n")) == 1 and app.messages.count(("header", "name")) == 1
        assert table.cursor_key == "k2"


async def test_refill_keeps_the_cursor_in_range() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 10)) as pilot:
        table = app.query_one(FastTable)
        fill(table, 20)
        table.move_cursor(row=15)
        fill(table, 3)
        await pilot.pause()
        assert table.cursor_key == "k2"
        table.clear()
        await pilot.pause()
        assert table.cursor_key is None and table.row_count == 0
