"""The help screen: every key, read from the live bindings so it can never go stale."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

PANE_NOTES = (
    ("Files", "rows are open files (per path; g: per process); sockets, pipes and ttys included"),
    ("Syscalls", "processes by syscalls per second; top syscalls of each"),
    ("Tree", "the live process tree; exited processes stay dimmed for a while"),
    ("XDP", "packets per interface and protocol; counts only, never drops"),
)


def key_table(bindings: list[tuple[str, str]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for key, description in bindings:
        table.add_row(Text(key), Text(description))
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,question_mark,f1", "dismiss", "Close"),
    ]

    def __init__(self, bindings: list[tuple[str, str]]) -> None:
        super().__init__()
        self.bindings = bindings

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(Text("ebpftop keys", style="bold"))
            yield Static(key_table(self.bindings))
            yield Static(Text("\nPanes", style="bold"))
            yield Static(key_table(list(PANE_NOTES)))
            yield Static(Text("\nEsc, q, ? or F1 closes this screen.", style="dim"))
