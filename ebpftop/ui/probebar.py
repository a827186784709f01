"""The header strip: each probe's state and BPF cost, plus ebpftop's own CPU."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from ebpftop.model import frame as fr
from ebpftop.model.frame import ProbeStatus
from ebpftop.registry import ProbeSpec
from ebpftop.ui.format import nanos, si

_STATES = (fr.OFF, fr.LOADING, fr.LIVE, fr.UNAVAILABLE, fr.ERROR)


class ProbeBadge(Static):
    """One probe: key, name, state; when live its events/s, ns/event and CPU%."""

    def __init__(self, spec: ProbeSpec) -> None:
        super().__init__(id=f"badge-{spec.name}", classes="badge -off")
        self.spec = spec
        self.status = ProbeStatus(spec.name, fr.OFF)
        self._width = -1

    def on_mount(self) -> None:
        self.show(self.status)

    def show(self, status: ProbeStatus) -> None:
        self.status = status
        for state in _STATES:
            self.set_class(status.state == state, f"-{state}")
        text = Text(f"{self.spec.key} {self.spec.name} ", no_wrap=True)
        if status.state == fr.LIVE:
            # Compact: four badges and ebpftop's own CPU must fit in 80 columns.
            text.append(f"{si(status.events_per_s)}/s {nanos(status.avg_ns)} {status.cpu_pct:.1f}%")
            if status.lost:
                text.append(f" lost {si(status.lost)}", style="bold")
        else:
            text.append(status.state)
        # Same width as before: no layout pass (a reflow of the whole screen every interval otherwise).
        self.update(text, layout=text.cell_len != self._width)
        self._width = text.cell_len
        # The reason can be long (a compiler error): full text on hover.
        self.tooltip = status.reason


class ProbeBar(Horizontal):
    """All badges, then ebpftop's own CPU% and the pause marker."""

    def __init__(self, specs: tuple[ProbeSpec, ...]) -> None:
        super().__init__(id="probebar")
        self.specs = specs

    def compose(self) -> ComposeResult:
        for spec in self.specs:
            yield ProbeBadge(spec)
        yield Static("", id="selfcpu")

    def show(self, statuses: tuple[ProbeStatus, ...]) -> None:
        for status in statuses:
            for badge in self.query(ProbeBadge):
                if badge.spec.name == status.name:
                    badge.show(status)

    def show_self(self, cpu_pct: float, interval: float, paused: bool, pids: str = "", rss_bytes: int = 0) -> None:
        label = Text(no_wrap=True, overflow="ellipsis")
        if pids:
            label.append(f"PID {pids}", style="bold")
            label.append("  ")
        label.append(f"self {cpu_pct:.1f}%")
        if rss_bytes:
            label.append(f" {rss_bytes / 2**20:.0f}MiB")
        label.append(f" {interval:g}s")
        if paused:
            label.append("  PAUSED", style="bold reverse")
        self.query_one("#selfcpu", Static).update(label, layout=False)  # 1fr wide: its text never moves anything
