"""The header: each probe's key, state, events/s and BPF cost, then the filter, ebpftop's own cost and the interval.

Wide terminals get it on one line. Narrower ones get two: the four probe
badges, each in a quarter of the width, then a status line. Nothing is cut:
a badge drops its cost figures before the width would cut it (the help screen
explains every field; ``–`` is "not measured yet").
"""

from __future__ import annotations

import time

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.widgets import Static

from ebpftop.model.decode import HIDDEN
from ebpftop.model.frame import ERROR, LIVE, LOADING, OFF, UNAVAILABLE, ProbeStatus
from ebpftop.registry import ProbeSpec
from ebpftop.ui.format import nanos, si

_STATES = (OFF, LOADING, LIVE, UNAVAILABLE, ERROR)
ONE_LINE = 190  # columns from which badges (full detail) and the status line share one line
FULL_BADGE = 36  # columns a badge needs for its cost figures and their age
UNMEASURED = "–"


def rate_text(value: float | None, compact: bool = False) -> str:
    if value is None:
        return f"{UNMEASURED}/s"
    return f"{si(value, 0 if compact and value >= 1000 else 1)}/s"


def cost_text(status: ProbeStatus) -> str:
    """'41ns 0.9% 6s ago': ns per event and CPU% of the last BPF-stats window, and that window's age."""
    ns = nanos(status.avg_ns) if status.avg_ns is not None else UNMEASURED
    cpu = f"{status.cpu_pct:.1f}%" if status.cpu_pct is not None else UNMEASURED
    if status.cost_age_s is None:
        return f"{ns} {cpu}"
    return f"{ns} {cpu} {status.cost_age_s:.0f}s ago"


def badge_text(spec: ProbeSpec, status: ProbeStatus, full: bool, budget: int = 0) -> Text:
    """The widest of: key name rate cost lost, key name rate lost, key name lost, key lost that fits in budget.

    Losses are never the part that is cut: a narrow badge drops its cost, then its rate, then its name.
    """
    if status.state != LIVE:
        state = "hidden" if status.state == OFF and status.reason == HIDDEN else status.state
        return Text(f"{spec.key} {spec.name} {state}", no_wrap=True, overflow="ellipsis")
    tiers = ((True, True, True), (False, True, True), (False, False, True), (False, False, False))
    text = Text()
    for cost, rate, name in tiers if full else tiers[1:]:
        text = Text(f"{spec.key} {spec.name}" if name else spec.key, no_wrap=True, overflow="ellipsis")
        if rate:
            text.append(f" {rate_text(status.events_per_s, compact=not cost)}")
        if cost:
            text.append(f" {cost_text(status)}", style="dim")
        if status.lost_total:
            text.append(f" lost {si(status.lost_total, 1 if cost else 0)}", style="bold")
        if not budget or text.cell_len <= budget:
            break
    return text


class ProbeBadge(Static):
    """One probe: key, name, state; when live its events/s, and on a wide header ns/event, CPU% and their age."""

    def __init__(self, spec: ProbeSpec) -> None:
        super().__init__(id=f"badge-{spec.name}", classes="badge -off")
        self.spec = spec
        # Until the sampler says otherwise a probe asked for is loading, not off (it compiles first).
        self.status = ProbeStatus(spec.name, LOADING)
        self.full = False
        self.budget = 0  # cells the badge may use (0: as many as it needs)

    def on_mount(self) -> None:
        self.show(self.status)

    def show(self, status: ProbeStatus) -> None:
        self.status = status
        for state in _STATES:
            self.set_class(status.state == state, f"-{state}")
        text = badge_text(self.spec, status, self.full, self.budget)
        # Same width as laid out: no layout pass (a reflow of the whole screen every interval otherwise).
        gridded = self.parent is not None and self.parent.has_class("-two-lines")  # a fixed quarter of the width
        self.update(text, layout=not gridded and text.cell_len != self.content_size.width)
        # The reason can be long (a compiler error): full text on hover.
        lost_note = None
        if status.lost_total and status.lost_since is not None:
            since = time.strftime("%H:%M:%S", time.localtime(status.lost_since))
            lost_note = (
                f"lost {status.lost_total:,}: events not counted since {since} (first live in this run; never reset)"
            )
        self.tooltip = "\n".join(t for t in (status.reason, lost_note) if t) or None


class ProbeBar(Horizontal):
    """All badges, then the filter, ebpftop's own CPU and memory, the interval and the pause marker."""

    def __init__(
        self, specs: tuple[ProbeSpec, ...], wanted: frozenset[str] | None = None, one_line: int = ONE_LINE
    ) -> None:
        super().__init__(id="probebar")
        self.specs = specs
        self.wanted = wanted
        self.one_line = one_line  # a replay's status line is longer (its position and time): it needs more

    def compose(self) -> ComposeResult:
        # Two lines (narrow): a column per probe on line one, the status line across them all.
        self.styles.grid_size_columns = len(self.specs)
        for spec in self.specs:
            badge = ProbeBadge(spec)
            if self.wanted is not None and spec.name not in self.wanted:
                badge.status = ProbeStatus(spec.name, OFF)
            yield badge
        selfcpu = Static("", id="selfcpu")
        selfcpu.styles.column_span = len(self.specs)
        yield selfcpu

    def on_resize(self, event: events.Resize) -> None:
        one_line = event.size.width >= self.one_line
        self.set_class(not one_line, "-two-lines")
        per_badge = event.size.width // max(1, len(self.specs)) if not one_line else FULL_BADGE
        budget = 0 if one_line else per_badge - 2  # padding: one cell a side
        for badge in self.query(ProbeBadge):
            if badge.full != (per_badge >= FULL_BADGE) or badge.budget != budget:
                badge.full, badge.budget = per_badge >= FULL_BADGE, budget
                badge.show(badge.status)

    def show(self, statuses: tuple[ProbeStatus, ...]) -> None:
        for status in statuses:
            for badge in self.query(ProbeBadge):
                if badge.spec.name == status.name:
                    badge.show(status)

    def show_self(
        self,
        cpu_pct: float,
        interval: float,
        paused: bool,
        pids: str = "",
        rss_bytes: int = 0,
        pid_count: int = 0,
        late_s: float = 0.0,
        replay: Text | str = "",
    ) -> None:
        label = Text(no_wrap=True, overflow="ellipsis")
        if replay:  # --replay: where in the recording, its time, the speed (ui/replayapp.py)
            label.append(replay)
            label.append("  ")
        if late_s:
            # The figures on screen are the last frame's: the sampler is busy (compiling a probe).
            label.append(f"no new frame for {late_s:.0f}s", style="bold reverse")
            label.append("  ")
        if paused:
            label.append("PAUSED", style="bold reverse")
            label.append("  ")
        if pids:
            label.append(f"PID {condense_pids(pids, pid_count)}", style="bold")
            label.append("  ")
        label.append(f"self {cpu_pct:.1f}%")
        if rss_bytes:
            label.append(f" {rss_bytes / 2**20:.0f}MiB")
        label.append(f"  every {interval:g}s")
        try:
            selfcpu = self.query_one("#selfcpu", Static)
        except NoMatches:  # the app is tearing down: the bar's children go before its timers stop
            return
        selfcpu.update(label, layout=False)  # 1fr wide: its text never moves anything


def condense_pids(text: str, count: int, limit: int = 24) -> str:
    """'1542, 17449, 20001 (+3 more)' -> '1542 +5' when it does not fit in limit columns."""
    if len(text) <= limit:
        return text
    first = text.split(",", 1)[0].split(" ", 1)[0]
    return f"{first} +{max(1, count - 1)}" if count else f"{first} +…"
