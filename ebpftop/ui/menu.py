"""A small keyboard menu screen that owns every key from the moment it is pushed.

No focusable widget inside: keys go to the screen itself, so a burst typed
before the screen has mounted (``F6 down Enter`` in one read over SSH) is
handled in order by the menu, never by the app's bindings behind it (a
modal screen ends the binding chain).
"""

from __future__ import annotations

from typing import ClassVar, Generic, TypeVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

T = TypeVar("T")


class MenuScreen(ModalScreen[T | None], Generic[T]):
    """A title, a list of (label, value) items with a cursor; Enter dismisses with the value, Esc with None."""

    DEFAULT_CSS = """
    MenuScreen { align: center middle; }
    MenuScreen > .menu {
        width: auto; min-width: 30; max-width: 100%;
        height: auto; max-height: 100%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    MenuScreen .menu-title { text-style: bold; }
    MenuScreen .menu-hint { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("home", "edge(0)", "First", show=False),
        Binding("end", "edge(1)", "Last", show=False),
        Binding("enter", "choose", "Choose"),
        Binding("escape,q", "dismiss_none", "Cancel"),
    ]

    def __init__(self, title: Text | str, items: list[tuple[str, T]], index: int = 0, hint: str = "") -> None:
        super().__init__()
        self.title_text = title if isinstance(title, Text) else Text(title)
        self.items = items
        self.index = max(0, min(index, len(items) - 1))
        self.hint = hint or "↑↓ move · Enter choose · Esc cancel"

    def compose(self) -> ComposeResult:
        with Vertical(classes="menu"):
            yield Static(self.title_text, classes="menu-title")
            yield Static(self._body(), id="menu-body")
            yield Static(Text(self.hint), classes="menu-hint")

    def _body(self) -> Table:
        body = Table.grid(padding=(0, 1))
        body.add_column(no_wrap=True)
        body.add_column(no_wrap=True)
        for i, (label, _value) in enumerate(self.items):
            chosen = i == self.index
            body.add_row(Text("▶" if chosen else " "), Text(label, style="reverse" if chosen else ""))
        return body

    def _redraw(self) -> None:
        if self.is_mounted:
            self.query_one("#menu-body", Static).update(self._body())

    def action_move(self, step: int) -> None:
        self.index = (self.index + step) % len(self.items)
        self._redraw()

    def action_edge(self, end: int) -> None:
        self.index = len(self.items) - 1 if end else 0
        self._redraw()

    def action_choose(self) -> None:
        self.dismiss(self.items[self.index][1])

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

    @property
    def chosen_label(self) -> str:
        return self.items[self.index][0]
