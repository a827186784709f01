"""The Textual app: probe bar, one tab per pane, keys; frames arrive as coalescing messages."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.dom import NoScreen
from textual.driver import Driver
from textual.filter import Monochrome, NoColor
from textual.message import Message
from textual.reactive import var
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, TabbedContent, TabPane

from ebpftop.model.frame import ERROR, LIVE, LOADING, UNAVAILABLE, Frame, ProbeStatus
from ebpftop.model.sanitize import sanitize
from ebpftop.pids import GONE, PidFilter, describe, of_pids, parse_pids
from ebpftop.registry import SPECS, ProbeSpec
from ebpftop.settings import Settings
from ebpftop.ui.filterbar import FilterBar
from ebpftop.ui.help import HelpScreen
from ebpftop.ui.htopkeys import HTOP_BINDINGS, HtopKeys
from ebpftop.ui.pane import Pane, ProbeRequest
from ebpftop.ui.panes import PANES
from ebpftop.ui.probebar import ONE_LINE, ProbeBar
from ebpftop.ui.procview import ProcessScreen
from ebpftop.ui.source import FrameSource
from ebpftop.ui.watchers import Footer, live_nodes, prune_watchers

DASHBOARD_MIN = (180, 45)  # columns, rows from which every pane is shown at once (btop-style boxes)
INTERVAL_STEPS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
HUNG_GRACE = 5.0  # seconds an ending app may take before the emergency exit (see _install_signal_handlers)
WATCHER_SWEEP_S = 10.0  # seconds between sweeps of watchers left by removed widgets (ebpftop.ui.watchers)


class EbpftopApp(HtopKeys, App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "ebpftop"
    ENABLE_COMMAND_PALETTE = True
    HEADER_ONE_LINE = ONE_LINE
    """Columns from which the probe badges and the status line (filter, self, interval) share one line."""

    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("space", "pause", "Pause"),
        Binding("plus,equals_sign", "slower", "Interval", key_display="+/-"),  # the footer's one entry for both
        Binding("minus", "faster", "Shorter interval", show=False, key_display="-"),
        Binding("slash", "filter", "Filter", key_display="/", priority=True),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("f", "filter_selected", "Filter to selected", show=False),
        Binding("s", "sort_next", "Sort"),
        Binding("r", "sort_reverse", "Reverse sort", show=False),
        Binding("right_square_bracket", "next_pane", "Next pane", show=False, key_display="]"),
        Binding("left_square_bracket", "previous_pane", "Previous pane", show=False, key_display="["),
        Binding("question_mark,f1", "help", "Help", key_display="?", priority=True),
        Binding(
            "ctrl+s", "screenshot", "Screenshot (SVG, to $EBPFTOP_SCREENSHOTS or the current directory)", show=False
        ),
        # The footer shows one "1-4" entry; help lists each key (a probe's key loads/unloads it and its box).
        *(
            Binding(
                spec.key,
                f"toggle_probe('{spec.name}')",
                "Probes" if i == 0 else f"{spec.title} probe on/off",
                show=i == 0,
                key_display=f"1-{len(SPECS)}" if i == 0 else None,
            )
            for i, spec in enumerate(SPECS)
        ),
        *HTOP_BINDINGS,
    ]

    pids: var[PidFilter | None] = var(None)
    """The PID filter (None: every process). Panes read it, and watch it when what they show depends on it."""

    PROMPT_ACTIONS = frozenset({"filter", "help", "search", "sort_menu", "kill", "process_view"})
    """Actions that open a prompt or a screen. Their bindings are priority bindings: the app runs them
    the moment their key arrives, before it hands the later keys of the same burst (a paste, a laggy
    SSH link) to the focused pane, and they move focus at once (``take_focus``), so those later keys
    reach the prompt. Add an action here, mark its binding ``priority=True`` and focus with
    ``take_focus``; ``check_action`` lets the key through as text while a prompt or screen is open."""

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
        if os.environ.get("TERM") == "dumb" and not self.no_color:
            # Textual honours NO_COLOR itself; a dumb terminal gets the same treatment (no colours).
            self.no_color = True
            self._filters.append(NoColor() if self.native_ansi_color else Monochrome())
        self._mailbox: Frame | None = None
        self._mailbox_lock = threading.Lock()
        self._on_hung = on_hung
        self._hung_timer: threading.Timer | None = None
        if initial_pane is None and settings.probes:
            # Open on the first pane whose probe is on (`--probes xdp` opens on XDP, not on an empty Files).
            initial_pane = next((s.pane_key for s in specs if s.name in settings.probes), None)
        self.pending_signal: int | None = None  # the last ending signal (one may come before the handlers)
        self.initial_pane = initial_pane
        self.settings = settings
        self.source = source
        self.specs = specs
        self.interval = settings.interval
        self.paused = False
        self.frame: Frame | None = None  # the latest frame
        self.displayed: Frame | None = None  # the frame on screen (older than frame while paused)
        # cgroup id -> Cgroup (ebpftop/cgroups.py) of every id frames have named: panes show names by id
        self.cgroup_names: dict[int, Any] = {}
        self._drawn: dict[type, Frame] = {}  # pane class -> the frame it last drew
        # The tab [ or ] asked for, until its TabActivated arrives: keys in a burst step from it, and a
        # stale activation (focusing the previous tab's table posts TabPane.Focused, which re-activates
        # that tab when it is handled, after the next key moved on) is overruled.
        self._tab_wanted: str | None = None
        self.frames_seen = 0
        self.frame_at: float | None = None  # monotonic time the latest frame arrived
        self.pids = of_pids(settings.pids)
        self.dashboard = False
        self.states: dict[str, str] = {}  # probe name -> its last known state

    def compose(self) -> ComposeResult:
        yield ProbeBar(
            self.specs, frozenset(self.settings.probes) if self.settings.probes else None, self.HEADER_ONE_LINE
        )
        with TabbedContent(id="tabs", initial=f"tab-{self.initial_pane}" if self.initial_pane else ""):
            for key, title, widget in PANES:
                with TabPane(self._tab_label(key, title), id=f"tab-{key}"):
                    yield widget()
        filter_bar = FilterBar(id="filterbar")
        filter_bar.display = False
        yield filter_bar
        yield Footer(compact=True, show_command_palette=False)  # 80 columns: the keys first (^p is in help)

    def _spec_of(self, pane_key: str) -> ProbeSpec | None:
        return next((s for s in self.specs if s.pane_key == pane_key), None)

    def _tab_label(self, pane_key: str, title: str) -> str:
        """'1 Files': the key that switches this pane's probe (and its box) on and off."""
        spec = self._spec_of(pane_key)
        return f"{spec.key} {title}" if spec else title

    def on_resize(self, event: Any) -> None:
        self.set_dashboard(event.size.width >= DASHBOARD_MIN[0] and event.size.height >= DASHBOARD_MIN[1])

    def set_dashboard(self, on: bool) -> None:
        """Large terminal: all four panes at once, each in a box titled with its key and probe state.
        Small: one pane at a time, in tabs. The same widgets either way (sort, cursor, grouping kept)."""
        # (App.is_mounted is a method, so `and self.is_mounted` was always true: the
        # small layout is the default and needs nothing applied at start.)
        if on == self.dashboard:
            return
        self.dashboard = on
        self.screen.set_class(on, "-dashboard")
        self._show_boxes()
        self._title_boxes()
        self.show_active_pane(self.displayed)

    def _show_boxes(self) -> None:
        active = self.query_one("#tabs", TabbedContent).active
        for pane in self.query(TabPane):
            # The ContentSwitcher hides all but the active tab; a dashboard shows all.
            pane.display = self.dashboard or pane.id == active

    def _title_boxes(self) -> None:
        for key, title, _widget in PANES:
            pane = self.query_one(f"#tab-{key}", TabPane)
            spec = self._spec_of(key)
            state = self.states.get(spec.name, "") if spec else ""
            label = self._tab_label(key, title)
            pane.border_title = self.box_title(label, spec.name, state) if spec and state else label
            pane.border_subtitle = self.box_subtitle(spec.key) if spec else ""
            pane.set_class(state == LIVE, "-probe-live")

    def box_title(self, label: str, probe: str, state: str) -> str:
        """A box's title in the dashboard: the pane and its probe's state now (ReplayApp: as recorded)."""
        return f"{label} · {state}"

    def box_subtitle(self, key: str) -> str:
        """What the probe's key does to the box (ReplayApp: nothing is loaded there)."""
        return f"{key}: probe and box on/off"

    def on_mount(self) -> None:
        self._install_signal_handlers()
        self.show_self()
        # Frames stop while the sampler compiles a probe (seconds each): say so rather than show
        # the last figures as if they were current.
        self.set_interval(1.0, self.show_self)
        # Watchers left by removed widgets hold them and their caches until the watched value changes
        # (Textualize/textual#6666): swept here for any widget, the Footer's at each recompose.
        self.set_interval(WATCHER_SWEEP_S, lambda: prune_watchers(live_nodes(self)))
        self.focus_active_pane()
        self.source.start(self.post_frame, self.post_status, self.post_notice)

    def focus_active_pane(self) -> None:
        """Keys like up/down act on the visible pane's table or tree, not on the tab strip."""
        for widget in self.active_pane().query("*"):
            if widget.can_focus:
                self.take_focus(widget)
                return

    def take_focus(self, widget: Widget) -> None:
        """Focus now, not on the next loop turn as ``Widget.focus()`` does: keys already queued behind
        the key that moved focus are forwarded to whatever has focus when the app reaches them."""
        try:
            widget.screen.set_focus(widget)
        except NoScreen:
            widget.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.PROMPT_ACTIONS and (len(self.screen_stack) > 1 or isinstance(self.focused, Input)):
            return False  # a prompt or a screen is open: the key is its text or its own binding
        return super().check_action(action, parameters)  # HtopKeys: pane actions only on the main screen

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        wanted = self._tab_wanted
        if wanted is not None:
            if event.tabbed_content.active != wanted:
                event.tabbed_content.active = wanted  # a stale activation: the keys went on from it
                return
            self._tab_wanted = None
        self._show_boxes()
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
            self.pending_signal = signum  # run_tui gives the recorder 1 s after a signal, not 5
            # Still the handler after app.run() returns, while run_tui detaches the probes and closes
            # the recording: the loop is closed then (the app has ended); the timer still guards that.
            if not loop.is_closed():
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
        self._note_states(message.statuses)

    def _note_states(self, statuses: tuple[ProbeStatus, ...]) -> None:
        for status in statuses:
            if status.state in (ERROR, UNAVAILABLE) and status.state != self.states.get(status.name):
                self._say_failed(status)
        states = {s.name: s.state for s in statuses}
        if any(self.states.get(name) != state for name, state in states.items()):
            self.states.update(states)
            self._title_boxes()

    def _say_failed(self, status: ProbeStatus) -> None:
        """Why a probe failed or cannot run, once as it happens: the badge only says "error", and its tooltip
        (the whole reason) needs a mouse."""
        lines = (status.reason or "").strip().splitlines()
        why = sanitize(lines[0]) if lines else "no reason given"
        more = " (the rest on its badge's tooltip)" if len(lines) > 1 else ""
        verb = "failed" if status.state == ERROR else "cannot run here"
        self.notify(f"{status.name} probe {verb}: {why}{more}", severity="error", timeout=10)

    def on_ebpftop_app_notice(self, message: Notice) -> None:
        self.notify(sanitize(message.text), timeout=4)

    def on_probe_request(self, message: ProbeRequest) -> None:
        self.source.probe_command(message.probe, message.verb, *message.args)

    def on_ebpftop_app_frame_ready(self, _message: FrameReady) -> None:
        with self._mailbox_lock:
            frame, self._mailbox = self._mailbox, None
        if frame is None:
            return
        self.frame = frame
        self.frame_at = time.monotonic()
        self.frames_seen += 1
        if not self.paused:
            self.render_frame(frame)

    def render_frame(self, frame: Frame) -> None:
        self.displayed = frame
        if len(self.cgroup_names) > 65536:
            self.cgroup_names.clear()
        self.cgroup_names.update(frame.cgroups)
        self.query_one(ProbeBar).show(frame.probes)
        self._note_states(frame.probes)
        self.show_self()
        self.show_active_pane(frame)
        for screen in self.screen_stack:
            if isinstance(screen, ProcessScreen):
                screen.show_frame(frame)

    def show_active_pane(self, frame: Frame | None) -> None:
        """Only the visible pane is redrawn; the others catch up when their tab is shown.

        Measured under load (500 processes, a fork flood) the hidden tree pane's
        rebuild was the single largest cost of the TUI.
        """
        if frame is None:
            return
        panes = [self.query_one(widget) for _key, _title, widget in PANES] if self.dashboard else [self.active_pane()]
        for pane in panes:
            if self._drawn.get(type(pane)) is frame:
                continue
            for key, _title, widget in PANES:
                if widget is type(pane):
                    pane.show(frame.panes.get(key))
            self._drawn[type(pane)] = frame

    # -- actions -------------------------------------------------------------
    def show_self(self) -> None:
        try:
            # The main screen's bar, whatever screen is on top; none before mount or after unmount,
            # which the 1 s timer can straddle.
            bar = self.screen_stack[0].query_one(ProbeBar) if self.screen_stack else None
        except NoMatches:
            bar = None
        if bar is None:
            return
        frame = self.frame
        bar.show_self(
            frame.self_cpu_pct if frame else 0.0,
            self.interval,
            self.paused,
            describe(self.pids),
            frame.rss_bytes if frame else 0,
            # the items describe() lists: cgroups as typed, names, PIDs
            len(self.pids.cgroup_specs) + len(self.pids.names) + len(self.pids.typed_pids) if self.pids else 0,
            self.frame_late(time.monotonic()),
            self.replay_text(),
        )

    def replay_text(self) -> Text | str:
        """The header's replay position (ui/replayapp.py); live: nothing."""
        return ""

    def parse_filter(self, text: str) -> PidFilter:
        """What the filter prompt typed, as a filter of processes that exist now (a replay overrides it)."""
        return parse_pids(text)

    def frame_late(self, now: float) -> float:
        """Seconds since the latest frame when it is overdue (three intervals and at least 5 s), else 0."""
        if self.paused or self.frame_at is None:
            return 0.0
        age = now - self.frame_at
        return age if age > max(3 * self.interval, self.interval + 4.0) else 0.0

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

    def active_pane(self) -> Pane:
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
        """Switch a probe (really: load or unload its BPF programs) and its box together: switching
        one on also shows its pane (tabs) or moves to its box (dashboard)."""
        turning_on = self.states.get(name) not in (LIVE, LOADING)
        self.source.toggle(name)
        spec = next((s for s in self.specs if s.name == name), None)
        if turning_on and spec is not None:
            self._show_pane(spec.pane_key)

    # -- PID filter ------------------------------------------------------------
    def set_pids(self, pids: PidFilter | None) -> None:
        """Filter every pane (in the kernel and the model) to these processes; None clears."""
        self.pids = pids
        self.source.set_pids(pids)
        self.show_self()

    def action_filter(self) -> None:
        self.query_one(FilterBar).open(self.pids.text() if self.pids else "")

    def action_clear_filter(self) -> None:
        if self.pids is not None:
            self.set_pids(None)
            self.notify("filter cleared", timeout=2)

    def action_filter_selected(self) -> None:
        pid = self.active_pane().selected_pid()
        if pid is None:
            self.notify("select a process first (this pane is not per process)", severity="warning", timeout=3)
            return
        try:
            self.set_pids(self.parse_filter(str(pid)))  # that process: its PID and start
        except ValueError:
            # It has exited: a filter on it must not admit the next process given its PID.
            self.set_pids(PidFilter(frozenset({(pid, GONE)})))
            self.notify(f"PID {pid} has exited: nothing new will match", severity="warning", timeout=3)

    def on_filter_bar_applied(self, message: FilterBar.Applied) -> None:
        self.set_pids(message.pids)
        self.focus_active_pane()

    def on_filter_bar_closed(self, _message: FilterBar.Closed) -> None:
        self.focus_active_pane()

    # -- panes and help ----------------------------------------------------------
    def _switch_pane(self, step: int) -> None:
        tabs = self.query_one("#tabs", TabbedContent)
        ids = [f"tab-{key}" for key, _title, _widget in PANES]
        current = self._tab_wanted or tabs.active
        target = ids[(ids.index(current) + step) % len(ids)]
        # Pending only while an activation is to come (none comes when the tab is already active).
        self._tab_wanted = target if target != tabs.active else None
        tabs.active = target

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
            spec = next((s for s in self.specs if binding.action == f"toggle_probe('{s.name}')"), None)
            if spec is not None:
                keys = spec.key
                description = f"{spec.title}: switch its probe on/off (loads/unloads its BPF programs) and its box"
                rows.append((keys, description))
                continue
            if binding.action == "slower":
                rows.append(("+, -", "refresh interval longer / shorter"))
                continue
            if binding.action == "faster":
                continue
            rows.append((keys, binding.description))
        rows.append(("ctrl+p", "command palette: every action by name, themes, screenshot"))
        rows.extend(self.active_pane_keys())
        return rows

    def active_pane_keys(self) -> list[tuple[str, str]]:
        rows = []
        for _key, _title, widget in PANES:
            for binding in getattr(widget, "BINDINGS", []):
                if isinstance(binding, Binding):
                    rows.append(
                        (
                            binding.key_display or binding.key,
                            f"{binding.tooltip or binding.description} ({_title} pane)",
                        )
                    )
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
        tabs = self.query_one("#tabs", TabbedContent)
        target = f"tab-{key}"
        self._tab_wanted = target if target != tabs.active else None  # as _switch_pane: this key wins
        if tabs.active == target:
            return
        tabs.active = target

    def deliver_screenshot(
        self, filename: str | None = None, path: str | None = None, time_format: str | None = None
    ) -> str | None:
        """Ctrl-S and the palette's Screenshot: an SVG of the screen in $EBPFTOP_SCREENSHOTS or the current
        directory (Textual's default, ~/Downloads, does not exist for root), and a note saying where.

        The file is written on a daemon thread: this process holds BPF programs, and a write to a
        user's directory (a hung NFS mount) must never stall the UI or its exit.
        """
        directory = path or os.environ.get("EBPFTOP_SCREENSHOTS") or os.getcwd()
        name = filename or time.strftime(time_format or "ebpftop-%Y%m%d-%H%M%S.svg")
        target = os.path.abspath(os.path.join(directory, name))
        svg = self.export_screenshot()

        def write() -> None:
            try:
                with open(target, "w", encoding="utf-8") as f:
                    f.write(svg)
            except OSError as exc:
                self.call_from_thread(self.notify, f"screenshot not saved: {exc}", severity="error", timeout=6)
                return
            self.call_from_thread(self.notify, f"screenshot saved to {target}", timeout=6)

        threading.Thread(target=write, name="ebpftop-screenshot", daemon=True).start()
        return target

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.key_bindings()))
