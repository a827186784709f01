"""The Textual app: probe bar, one tab per pane, keys; frames arrive as coalescing messages."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from textual.app import App, ComposeResult, SystemCommand
from textual.screen import Screen
from textual.binding import Binding
from textual.driver import Driver
from textual.message import Message
from textual.widgets import Footer, TabbedContent, TabPane

from ebpftop.model.frame import Frame, ProbeStatus
from ebpftop.registry import SPECS, ProbeSpec
from ebpftop.settings import Settings
from ebpftop.model.sanitize import sanitize
from ebpftop.pids import describe
from ebpftop.ui.filterbar import FilterBar
from ebpftop.ui.help import HelpScreen
from ebpftop.ui.probebar import ProbeBar
from ebpftop.ui.source import FrameSource
from ebpftop.ui.xdp_pane import XdpPane
from ebpftop.ui.panes import PANES

INTERVAL_STEPS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
HUNG_GRACE = 5.0  # seconds an ending app may take before the emergency exit (see _install_signal_handlers)


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
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("f", "filter_selected", "Filter to selected", show=False),
        Binding("s", "sort_next", "Sort"),
        Binding("r", "sort_reverse", "Reverse sort", show=False),
        Binding("right_square_bracket", "next_pane", "Next pane", show=False, key_display="]"),
        Binding("left_square_bracket", "previous_pane", "Previous pane", show=False, key_display="["),
        Binding("question_mark,f1", "help", "Help", key_display="?"),
        *(Binding(spec.key, f"toggle_probe('{spec.name}')", spec.title) for spec in SPECS),
    ]

    class FrameReady(Message):
        """A new frame is waiting in the app's one-frame mailbox."""

    class StatusChanged(Message):
        """Probe states changed outside a frame (loading, live, failed, toggled)."""

        def __init__(self, statuses: tuple[ProbeStatus, ...]) -> None:
            super().__init__()
            self.statuses = statuses

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, EbpftopApp.StatusChanged)

    class Notice(Message):
        """A one-line answer from the source (an interface attached, or why not)."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(
        self,
        settings: Settings,
        source: FrameSource,
        specs: tuple[ProbeSpec, ...] = SPECS,
        driver_class: type[Driver] | None = None,
        initial_pane: str | None = None,
        on_hung: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(driver_class=driver_class)
        self._mailbox: Frame | None = None
        self._mailbox_lock = threading.Lock()
        self._on_hung = on_hung
        self._hung_timer: threading.Timer | None = None
        self.pending_signal: int | None = None  # an ending signal that came before the handlers were in place
        self.initial_pane = initial_pane
        self.settings = settings
        self.source = source
        self.specs = specs
        self.interval = settings.interval
        self.paused = False
        self.frame: Frame | None = None  # the latest frame
        self.displayed: Frame | None = None  # the frame on screen (older than frame while paused)
        self._drawn: dict[type, Frame] = {}  # pane class -> the frame it last drew
        self.frames_seen = 0
        self.pids: frozenset[int] | None = settings.pids

    def compose(self) -> ComposeResult:
        yield ProbeBar(self.specs)
        with TabbedContent(id="tabs", initial=f"tab-{self.initial_pane}" if self.initial_pane else ""):
            for key, title, widget in PANES:
                with TabPane(title, id=f"tab-{key}"):
                    yield widget()
        filter_bar = FilterBar(id="filterbar")
        filter_bar.display = False
        yield filter_bar
        yield Footer()

    def on_mount(self) -> None:
        self._install_signal_handlers()
        self.query_one(XdpPane).pid_filtered = self.pids is not None
        self.show_self()
        self.focus_active_pane()
        self.source.start(self.post_frame, self.post_status, self.post_notice)

    def focus_active_pane(self) -> None:
        """Keys like up/down act on the visible pane's table or tree, not on the tab strip."""
        for widget in self.active_pane().query("*"):
            if widget.can_focus:
                widget.focus()
                return

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.show_active_pane(self.displayed)  # paused: the frame on screen, for this pane too
        self.focus_active_pane()

    def _install_signal_handlers(self) -> None:
        """TERM, HUP, INT and QUIT end the app; if the app cannot end, ``on_hung`` does it.

        A plain Python handler (not loop.add_signal_handler) so it runs even
        when the event loop is stuck: a terminal that went away (an SSH drop:
        SIGHUP) can leave Textual blocked on a full output queue forever.
        """
        if threading.current_thread() is not threading.main_thread():
            return  # tests run the app off the main thread: the runner owns signals
        loop = asyncio.get_running_loop()

        def handler(signum: int, _frame: Any) -> None:
            loop.call_soon_threadsafe(self.exit)
            if self._on_hung is not None and self._hung_timer is None:
                self._hung_timer = threading.Timer(HUNG_GRACE, self._on_hung, args=(signum,))
                self._hung_timer.daemon = True
                self._hung_timer.start()

        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT):
            signal.signal(sig, handler)
        if self.pending_signal is not None:
            handler(self.pending_signal, None)

    def cancel_hung_timer(self) -> None:
        """The app ended by itself: the emergency exit is not needed."""
        if self._hung_timer is not None:
            self._hung_timer.cancel()

    # -- from the source's thread ------------------------------------------
    def post_frame(self, frame: Frame) -> None:
        """Latest frame wins: one frame and one message at most wait for the UI, however slow it is.

        (A UI that cannot keep up, or a hung terminal, must never make the
        sampler's frames pile up in memory.)
        """
        with self._mailbox_lock:
            waiting = self._mailbox is not None
            self._mailbox = frame
        if not waiting:
            self.post_message(self.FrameReady())

    def post_status(self, statuses: tuple[ProbeStatus, ...]) -> None:
        self.post_message(self.StatusChanged(statuses))

    def post_notice(self, text: str) -> None:
        self.post_message(self.Notice(text))

    # -- handlers ------------------------------------------------------------
    def on_ebpftop_app_status_changed(self, message: StatusChanged) -> None:
        self.query_one(ProbeBar).show(message.statuses)

    def on_ebpftop_app_notice(self, message: Notice) -> None:
        self.notify(sanitize(message.text), timeout=4)

    def on_xdp_pane_attach_toggle(self, message: XdpPane.AttachToggle) -> None:
        self.source.set_iface(message.ifname, message.attach)

    def on_ebpftop_app_frame_ready(self, _message: FrameReady) -> None:
        with self._mailbox_lock:
            frame, self._mailbox = self._mailbox, None
        if frame is None:
            return
        self.frame = frame
        self.frames_seen += 1
        if not self.paused:
            self.render_frame(frame)

    def render_frame(self, frame: Frame) -> None:
        self.displayed = frame
        self.query_one(ProbeBar).show(frame.probes)
        self.show_self()
        self.show_active_pane(frame)

    def show_active_pane(self, frame: Frame | None) -> None:
        """Only the visible pane is redrawn; the others catch up when their tab is shown.

        Measured under load (500 processes, a fork flood) the hidden tree pane's
        rebuild was the single largest cost of the TUI.
        """
        if frame is None:
            return
        pane = self.active_pane()
        if self._drawn.get(type(pane)) is frame:
            return
        for key, _title, widget in PANES:
            if widget is type(pane):
                pane.show(frame.panes.get(key))
        self._drawn[type(pane)] = frame

    # -- actions -------------------------------------------------------------
    def show_self(self) -> None:
        frame = self.frame
        self.query_one(ProbeBar).show_self(
            frame.self_cpu_pct if frame else 0.0,
            self.interval,
            self.paused,
            describe(self.pids),
            frame.rss_bytes if frame else 0,
        )

    def action_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused and self.frame is not None:
            self.render_frame(self.frame)
        else:
            self.show_self()

    def _step_interval(self, direction: int) -> None:
        steps = INTERVAL_STEPS
        index = min(range(len(steps)), key=lambda i: abs(steps[i] - self.interval))
        index = max(0, min(len(steps) - 1, index + direction))
        self.interval = steps[index]
        self.source.set_interval(self.interval)
        self.show_self()
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

    # -- PID filter ------------------------------------------------------------
    def set_pids(self, pids: frozenset[int] | None) -> None:
        """Filter every pane (in the kernel and the model) to these PIDs; None clears."""
        self.pids = pids
        self.source.set_pids(pids)
        xdp = self.query_one(XdpPane)
        xdp.pid_filtered = pids is not None
        xdp.show(xdp.data)
        self.show_self()

    def action_filter(self) -> None:
        self.query_one(FilterBar).open(",".join(map(str, sorted(self.pids))) if self.pids else "")

    def action_clear_filter(self) -> None:
        if self.pids is not None:
            self.set_pids(None)
            self.notify("filter cleared", timeout=2)

    def action_filter_selected(self) -> None:
        pid = self.active_pane().selected_pid()
        if pid is None:
            self.notify("select a process first (this pane is not per process)", severity="warning", timeout=3)
            return
        self.set_pids(frozenset({pid}))

    def on_filter_bar_applied(self, message: FilterBar.Applied) -> None:
        self.set_pids(message.pids)
        self.focus_active_pane()

    def on_filter_bar_closed(self, _message: FilterBar.Closed) -> None:
        self.focus_active_pane()

    # -- panes and help ----------------------------------------------------------
    def _switch_pane(self, step: int) -> None:
        tabs = self.query_one("#tabs", TabbedContent)
        ids = [f"tab-{key}" for key, _title, _widget in PANES]
        tabs.active = ids[(ids.index(tabs.active) + step) % len(ids)]

    def action_next_pane(self) -> None:
        self._switch_pane(+1)

    def action_previous_pane(self) -> None:
        self._switch_pane(-1)

    def key_bindings(self) -> list[tuple[str, str]]:
        """Every app key with its description, for the help screen and the README."""
        rows = []
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            keys = binding.key_display or ", ".join(binding.key.split(","))
            rows.append((keys, binding.description))
        rows.extend(self.active_pane_keys())
        return rows

    def active_pane_keys(self) -> list[tuple[str, str]]:
        rows = []
        for _key, _title, widget in PANES:
            for binding in getattr(widget, "BINDINGS", []):
                if isinstance(binding, Binding):
                    rows.append((binding.key_display or binding.key, f"{binding.description} ({_title} pane)"))
        return rows

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The command palette offers every key's action too, plus Textual's own (themes, quit, keys)."""
        yield from super().get_system_commands(screen)
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            if binding.action in ("quit",):
                continue
            keys = binding.key_display or binding.key
            yield SystemCommand(
                f"{binding.description} ({keys})",
                f"ebpftop: {binding.description.lower()}",
                partial(self.call_next, self.run_action, binding.action),
            )
        for key, title, _widget in PANES:
            yield SystemCommand(f"Show the {title} pane", f"switch to the {title} tab", partial(self._show_pane, key))

    def _show_pane(self, key: str) -> None:
        self.query_one("#tabs", TabbedContent).active = f"tab-{key}"

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.key_bindings()))

