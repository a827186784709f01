"""The Textual app: probe bar, one tab per pane, keys; frames arrive as coalescing messages."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.driver import Driver
from textual.message import Message
from textual.widgets import Footer, TabbedContent, TabPane

from ebpftop.model.frame import Frame, ProbeStatus
from ebpftop.registry import SPECS, ProbeSpec
from ebpftop.settings import Settings
from ebpftop.ui.probebar import ProbeBar
from ebpftop.ui.source import FrameSource
from ebpftop.ui.panes import PANES

INTERVAL_STEPS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0)


class EbpftopApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "ebpftop"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("space", "pause", "Pause"),
        Binding("plus,equals_sign", "slower", "+interval", key_display="+"),
        Binding("minus", "faster", "-interval", key_display="-"),
        Binding("s", "sort_next", "Sort"),
        Binding("r", "sort_reverse", "Reverse", show=False),
        *(Binding(spec.key, f"toggle_probe('{spec.name}')", spec.title) for spec in SPECS),
    ]

    class FrameReady(Message):
        """A new frame from the source; a newer one waiting in the queue replaces it."""

        def __init__(self, frame: Frame) -> None:
            super().__init__()
            self.frame = frame

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, EbpftopApp.FrameReady)

    class StatusChanged(Message):
        """Probe states changed outside a frame (loading, live, failed, toggled)."""

        def __init__(self, statuses: tuple[ProbeStatus, ...]) -> None:
            super().__init__()
            self.statuses = statuses

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, EbpftopApp.StatusChanged)

    def __init__(
        self,
        settings: Settings,
        source: FrameSource,
        specs: tuple[ProbeSpec, ...] = SPECS,
        driver_class: type[Driver] | None = None,
    ) -> None:
        super().__init__(driver_class=driver_class)
        self.settings = settings
        self.source = source
        self.specs = specs
        self.interval = settings.interval
        self.paused = False
        self.frame: Frame | None = None
        self.frames_seen = 0

    def compose(self) -> ComposeResult:
        yield ProbeBar(self.specs)
        with TabbedContent(id="tabs"):
            for key, title, widget in PANES:
                with TabPane(title, id=f"tab-{key}"):
                    yield widget()
        yield Footer()

    def on_mount(self) -> None:
        self._install_signal_handlers()
        self.query_one(ProbeBar).show_self(0.0, self.interval, self.paused)
        self.focus_active_pane()
        self.source.start(self.post_frame, self.post_status)

    def focus_active_pane(self) -> None:
        """Keys like up/down act on the visible pane's table or tree, not on the tab strip."""
        for widget in self.active_pane().query("*"):
            if widget.can_focus:
                widget.focus()
                return

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.focus_active_pane()

    def _install_signal_handlers(self) -> None:
        try:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
                loop.add_signal_handler(sig, self.exit)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread (tests): the runner owns signals

    # -- from the source's thread ------------------------------------------
    def post_frame(self, frame: Frame) -> None:
        self.post_message(self.FrameReady(frame))

    def post_status(self, statuses: tuple[ProbeStatus, ...]) -> None:
        self.post_message(self.StatusChanged(statuses))

    # -- handlers ------------------------------------------------------------
    def on_ebpftop_app_status_changed(self, message: StatusChanged) -> None:
        self.query_one(ProbeBar).show(message.statuses)

    def on_ebpftop_app_frame_ready(self, message: FrameReady) -> None:
        self.frame = message.frame
        self.frames_seen += 1
        if not self.paused:
            self.render_frame(message.frame)

    def render_frame(self, frame: Frame) -> None:
        bar = self.query_one(ProbeBar)
        bar.show(frame.probes)
        bar.show_self(frame.self_cpu_pct, self.interval, self.paused)
        for key, _title, widget in PANES:
            self.query_one(widget).show(frame.panes.get(key))

    # -- actions -------------------------------------------------------------
    def action_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused and self.frame is not None:
            self.render_frame(self.frame)
        else:
            self.query_one(ProbeBar).show_self(self.frame.self_cpu_pct if self.frame else 0.0, self.interval, self.paused)

    def _step_interval(self, direction: int) -> None:
        steps = INTERVAL_STEPS
        index = min(range(len(steps)), key=lambda i: abs(steps[i] - self.interval))
        index = max(0, min(len(steps) - 1, index + direction))
        self.interval = steps[index]
        self.source.set_interval(self.interval)
        self.query_one(ProbeBar).show_self(self.frame.self_cpu_pct if self.frame else 0.0, self.interval, self.paused)
        self.notify(f"refresh every {self.interval:g}s", timeout=2)

    def action_slower(self) -> None:
        self._step_interval(+1)

    def action_faster(self) -> None:
        self._step_interval(-1)

    def active_pane(self) -> Any:
        """The pane widget in the visible tab."""
        tab = self.query_one("#tabs", TabbedContent).active
        key = tab.removeprefix("tab-")
        for pane_key, _title, widget in PANES:
            if pane_key == key:
                return self.query_one(widget)
        return self.query_one(PANES[0][2])

    def action_sort_next(self) -> None:
        self.active_pane().sort_next()

    def action_sort_reverse(self) -> None:
        self.active_pane().sort_reverse()

    def action_toggle_probe(self, name: str) -> None:
        self.source.toggle(name)

