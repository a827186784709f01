"""The PID filter prompt: type PIDs or names, Enter applies, Esc closes; a bad entry is explained inline."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static

from ebpftop.pids import PidFilter, parse_pids


class FilterBar(Vertical):
    """Hidden until opened; posts FilterBar.Applied with the PIDs, or Closed."""

    BINDINGS = [Binding("escape", "close", "Close", show=False)]

    class Applied(Message):
        def __init__(self, pids: PidFilter) -> None:
            super().__init__()
            self.pids = pids

    class Closed(Message):
        pass

    def compose(self) -> ComposeResult:
        yield Input(placeholder="PIDs or process names, comma separated (Enter to filter, Esc to cancel)", id="filter-input")
        yield Static("", id="filter-error")

    def open(self, current: str = "") -> None:
        self.display = True
        field = self.query_one(Input)
        field.value = current
        self.query_one("#filter-error", Static).update("")
        field.focus()

    def action_close(self) -> None:
        self.display = False
        self.post_message(self.Closed())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            pids = parse_pids(event.value)
        except ValueError as exc:
            # The previous filter stays; the reason stays on screen until fixed.
            self.query_one("#filter-error", Static).update(Text(f"{exc}: filter unchanged", no_wrap=True))
            return
        self.display = False
        self.post_message(self.Applied(pids))
