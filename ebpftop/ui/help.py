"""The help screen: every key, read from the live bindings so it can never go stale."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ebpftop.registry import SPECS

HEADER_NOTES = (
    ("2 syscalls", "the probe's key and name; 2 switches it (and its box) on and off"),
    ("loading / off", "compiling and attaching / not loaded; unavailable or error: hover for why"),
    ("139.4k/s", "events the probe counted this interval, over its own measured read window"),
    ("41ns 0.9%", "BPF run time per event and % of one CPU, from the last sampled BPF-stats window"),
    ("6s ago", "the age of that window (stats are on one interval in ten: they cost every program)"),
    ("–", "not measured yet (no read since the probe came on, no stats window closed)"),
    (
        "lost N",
        "events the probe could not count (map or ring buffer full), since it first went live in "
        "this run: it never goes down, switching the probe off and on keeps it; a narrow badge drops its "
        "cost, rate, then name before it drops this",
    ),
    (
        "PID 1542 +2",
        "the filter (its first item, and how many more): PIDs, names, and cgroups (a unit such as "
        "nginx.service, a v2 path such as /user.slice, a container docker:3f2a, a pod pod:1234abcd), each "
        "cgroup with every group below it",
    ),
    ("self 1.2% 70MiB", "ebpftop's own CPU (user+system, % of one CPU) and resident memory"),
    ("every 1s", "the refresh interval (+ and - change it); PAUSED: the screen is frozen, probes run on"),
)

LAYOUT_NOTE = (
    "At 180x45 or more every pane is on screen at once, each in a box titled with its key and its probe's "
    "state; smaller terminals show one pane at a time in tabs ([ and ] switch). 1-4 do not just switch "
    "panes: each loads or unloads its probe's BPF programs, and switching one on also shows its pane."
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

    def __init__(
        self,
        bindings: list[tuple[str, str]],
        notes: tuple[tuple[str, str], ...] = HEADER_NOTES,
        layout: str = LAYOUT_NOTE,
    ) -> None:
        super().__init__()
        self.bindings = bindings
        self.notes = notes
        self.layout_note = layout

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(Text("ebpftop keys", style="bold"))
            yield Static(key_table(self.bindings))
            yield Static(Text("\nThe header", style="bold"))
            yield Static(key_table(list(self.notes)))
            yield Static(Text("\nLayout", style="bold"))
            yield Static(Text(self.layout_note))
            yield Static(Text("\nPanes", style="bold"))
            yield Static(key_table([(spec.title, spec.help) for spec in SPECS]))
            yield Static(Text("\nEsc, q, ? or F1 closes this screen.", style="dim"))
