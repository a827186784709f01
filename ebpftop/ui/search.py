"""F3: incremental search within the visible list (htop's F3), and n/N to repeat it.

The PID filter (``/``, F4) narrows what is counted; this only moves the
cursor to the next row whose name, PID, path or argv holds the text
(case-insensitive), from the row the search started on, wrapping.

The prompt is a modal screen without a focusable widget: it takes every key
from the moment it is pushed, so ``F3 n g i n x`` typed in one burst all
land in the prompt, never in the app's bindings.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import Static


def lines(pane: Any) -> list[str]:
    """What each row of the pane can be found by, in display order."""
    if hasattr(pane, "search_lines"):
        return list(pane.search_lines())
    table = pane.table
    return [" ".join(str(c) for c in table.get_row_at(i)) for i in range(table.row_count)]


def cursor(pane: Any) -> int:
    if hasattr(pane, "search_cursor"):
        return pane.search_cursor()
    return pane.table.cursor_row


def move(pane: Any, index: int) -> None:
    if hasattr(pane, "search_move"):
        pane.search_move(index)
    else:
        pane.table.move_cursor(row=index)


def find(haystack: list[str], needle: str, start: int, step: int = 1) -> int | None:
    """The first row from ``start`` (included) in direction ``step`` that holds needle, wrapping; None if none."""
    if not needle or not haystack:
        return None
    needle = needle.casefold()
    n = len(haystack)
    for k in range(n):
        i = (start + step * k) % n
        if needle in haystack[i].casefold():
            return i
    return None


def jump(pane: Any, needle: str, step: int, include_current: bool = False) -> bool:
    """Move the pane's cursor to the next (step 1) or previous (-1) match; False when nothing matches."""
    rows = lines(pane)
    here = cursor(pane)
    found = find(rows, needle, here if include_current else here + step, step)
    if found is None:
        return False
    move(pane, found)
    return True


class SearchScreen(ModalScreen[str]):
    """A one-line prompt at the bottom; the pane behind stays visible and its cursor follows the text."""

    DEFAULT_CSS = """
    SearchScreen { align: left bottom; background: transparent; }
    SearchScreen > #search-line { height: 1; width: 100%; background: $panel; padding: 0 1; margin-bottom: 1; }
    SearchScreen > #search-line.-missing { background: $error-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f3,down", "next(1)", "Next", show=False),
        Binding("shift+f3,up", "next(-1)", "Previous", show=False),
        Binding("enter,escape", "done", "Done", show=False),
    ]

    def __init__(self, pane: Any, initial: str = "") -> None:
        super().__init__()
        self.pane = pane
        self.text = initial
        self.origin = cursor(pane)
        self.missing = False
        self.closing = False

    def compose(self) -> ComposeResult:
        yield Static(self._line(), id="search-line")

    def _line(self) -> Text:
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append("Search: ", style="bold")
        line.append(self.text)  # typed by the user, shown as plain text
        line.append("▏")
        hint = "  not found" if self.missing else ""
        line.append(hint + "   F3/↓ next · ↑ previous · Enter/Esc done", style="dim")
        return line

    def _redraw(self) -> None:
        if self.is_mounted:
            widget = self.query_one("#search-line", Static)
            widget.update(self._line())
            widget.set_class(self.missing, "-missing")

    def on_mount(self) -> None:
        self._redraw()

    def _retype(self) -> None:
        """Incremental: the first match from where the search began."""
        if self.text:
            found = find(lines(self.pane), self.text, self.origin)
            self.missing = found is None
            if found is not None:
                move(self.pane, found)
        else:
            self.missing = False
        self._redraw()

    def on_key(self, event: events.Key) -> None:
        if self.closing:
            # Typed after Enter/Esc in the same burst: routed here before the
            # prompt closed. They belong to the app, in the order typed.
            event.stop()
            event.prevent_default()
            again = events.Key(event.key, event.character)
            again.time = event.time  # when it was typed: a kill confirmation ignores keys typed before it showed
            self.app.post_message(again)
            return
        if event.key in ("enter", "escape"):
            event.stop()
            event.prevent_default()
            self.action_done()
            return
        if event.key == "backspace":
            self.text = self.text[:-1]
        elif event.is_printable and event.character and event.key not in ("enter",):
            self.text += event.character
        else:
            return  # to the bindings
        event.stop()
        event.prevent_default()
        self._retype()

    def action_next(self, step: int) -> None:
        if self.text:
            self.missing = not jump(self.pane, self.text, step)
            self._redraw()

    def action_done(self) -> None:
        if not self.closing:
            self.closing = True
            self.dismiss(self.text)
