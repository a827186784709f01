"""The app on a recording (--replay): the live TUI plus the player's keys; nothing is signalled or attached."""

from __future__ import annotations

import re
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from ebpftop.cgroups import container_id
from ebpftop.pids import COMM_LEN, FILTER_MAX_NAMES, GONE, PidFilter, is_cgroup_spec
from ebpftop.replay import ReplaySource, parse_jump, when
from ebpftop.ui.app import EbpftopApp
from ebpftop.ui.help import HEADER_NOTES, LAYOUT_NOTE, HelpScreen
from ebpftop.ui.procview import ProcessScreen


class JumpScreen(ModalScreen[str | None]):
    """One line: where to jump to. Enter jumps, Esc cancels; a bad entry is explained and the prompt stays."""

    DEFAULT_CSS = """
    JumpScreen { align: center middle; }
    JumpScreen > Vertical { width: 64; height: auto; border: round $primary; background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", show=False)]

    def __init__(self, first: float, last: float) -> None:
        super().__init__()
        self.first, self.last = first, last

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                Text(f"Jump to: HH:MM[:SS], +30s / -5m (from start / end), #N\n{when(self.first)} .. {when(self.last)}")
            )
            yield Input(id="jump-input")
            yield Static("", id="jump-error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


def parse_recorded_filter(text: str, cgroups: dict[int, Any] | None = None) -> PidFilter:
    """The filter prompt in a replay: PIDs and names as typed, not looked up in this machine's /proc
    (the processes are the recording's); a PID admits whatever the recording shows under it. A cgroup
    item is looked up in the recording's cgroup names (``cgroups``: id -> Cgroup), never in this
    machine's hierarchy: it admits the groups it names and those recorded below them."""
    procs: set[tuple[int, int]] = set()
    names: set[str] = set()
    groups: set[int] = set()
    below: set[int] = set()
    specs: set[str] = set()
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        if is_cgroup_spec(item):
            found = _recorded_cgroups(item, cgroups or {})
            if not found:
                raise ValueError(f"no cgroup {item!r} in the frames replayed so far")
            groups |= {cg.id for cg in found}
            roots = [cg.path.rstrip("/") + "/" for cg in found if cg.path]
            below |= {cid for cid, cg in (cgroups or {}).items() if cg.path and cg.path.startswith(tuple(roots))}
            specs.add(item)
            continue
        if re.fullmatch(r"[0-9]{1,10}", item, re.ASCII):
            if not 0 < int(item) < (1 << 22) + 1:
                raise ValueError(f"PID {item} is out of range")
            procs.add((int(item), GONE))
            continue
        if len(item.encode(errors="surrogateescape")) > COMM_LEN:
            raise ValueError(f"process name {item!r} is longer than the kernel's {COMM_LEN} bytes")
        names.add(item)
        if len(names) > FILTER_MAX_NAMES:
            raise ValueError(f"more than {FILTER_MAX_NAMES} names in one filter")
    if not procs and not names and not groups:
        raise ValueError("no PID given")
    # No group is newer than the recording's names: the horizon admits none unnamed.
    horizon = (1 << 64) if groups else 0
    return PidFilter(
        frozenset(procs), frozenset(names), frozenset(), frozenset(groups), frozenset(specs), frozenset(below), horizon
    )


def _recorded_cgroups(item: str, cgroups: dict[int, Any]) -> list[Any]:
    spec = item.removeprefix("cgroup:")
    if spec.startswith("/"):
        path = "/" + spec.strip("/")
        return [cg for cg in cgroups.values() if cg.path == path]
    if spec.startswith("pod:"):
        spec = "pod " + spec.removeprefix("pod:")
    runtime, _, short = spec.rpartition(":")
    return [
        cg
        for cg in cgroups.values()
        if spec == cg.name
        or (cg.path and spec == cg.path.rsplit("/", 1)[-1])
        or (
            cg.kind == "container"
            and runtime in ("", cg.runtime)
            and len(short) >= 4
            and container_id(cg).startswith(short)
        )
    ]


class ReplayApp(EbpftopApp):
    """space pauses the player (not just the screen); , . step one frame; < > change the speed; j jumps."""

    BINDINGS = [
        # + and - do nothing here (the interval is the recording's): not in the footer.
        *(b for b in EbpftopApp.BINDINGS if not (isinstance(b, Binding) and b.action == "slower")),
        Binding("plus,equals_sign", "slower", "Interval", show=False, key_display="+/-"),
        Binding("comma", "replay_step(-1)", "Replay: step back one frame", show=False, key_display=","),
        Binding("full_stop", "replay_step(1)", "Step", key_display=",/."),
        Binding("less_than_sign", "replay_speed(0.5)", "Replay: slower (half the speed)", show=False, key_display="<"),
        Binding("greater_than_sign", "replay_speed(2)", "Speed", key_display="</>"),
        Binding("j", "jump", "Jump", key_display="j", priority=True),
    ]
    PROMPT_ACTIONS = EbpftopApp.PROMPT_ACTIONS | {"jump"}
    TITLE = "ebpftop replay"
    # The status line also holds "REPLAY 300/300 2026-12-02 03:12:05.4 x1/16 PAUSED": on one line with the
    # badges it pushed the filter, self and interval off a 200-column screen.
    HEADER_ONE_LINE = EbpftopApp.HEADER_ONE_LINE + 50

    source: ReplaySource

    def __init__(self, settings: Any, source: ReplaySource, **kwargs: Any) -> None:
        super().__init__(settings, source, **kwargs)
        self.sub_title = source.recording.path

    # -- the header ------------------------------------------------------------------
    def replay_text(self) -> Text | str:
        index, count, at, speed, paused = self.source.position()
        text = Text(f"REPLAY {index + 1}/{count} {when(at)} x{speed:g}", style="bold")
        if paused:
            text.append(" PAUSED", style="bold reverse")
        return text

    def frame_late(self, now: float) -> float:
        return 0.0  # frames come when the recording has them

    def render_frame(self, frame: Any) -> None:
        super().render_frame(frame)  # show_self there: the position moves with the frame

    # -- the dashboard's boxes: a recorded state, and keys that only hide data --------------------
    def box_title(self, label: str, probe: str, state: str) -> str:
        if probe in self.source.hidden:  # its frames come with the probe off: the viewer's doing
            return f"{label} · hidden"
        return f"{label} · {state} when recorded"

    def box_subtitle(self, key: str) -> str:
        return f"{key}: show / hide recorded data"

    # -- the help screen: what each key and header field means on a recording ----------------
    def key_bindings(self) -> list[tuple[str, str]]:
        """The live keys, told as they act on a recording: the player's keys first, probe keys that
        only hide data, and +/-, k and F9 that do nothing here."""
        rows: list[tuple[str, str]] = [
            ("space", "pause / play the recording (the header says PAUSED)"),
            (", .", "step back / forward one frame (pauses)"),
            ("< >", "play slower / faster (x1/16 to x64)"),
            ("j", "jump: HH:MM[:SS] (local time), +30s / +5m from the start, -2m before the end, #N the Nth frame"),
        ]
        player = {",", ",/.", "<", "</>", "j", "space"}
        titles = {spec.key: spec.title for spec in self.specs}
        for key, description in super().key_bindings():
            if key in player:
                continue
            if key in titles:
                description = f"{titles[key]}: hide / show the recorded data of this probe (nothing is loaded)"
            elif key == "+, -":
                description = "nothing: the interval is the recording's (< and > change the speed)"
            elif key in ("F9", "k"):
                description = "Kill: nothing is sent (the processes are a recording's)"
            rows.append((key, description))
        return rows

    def action_help(self) -> None:
        notes = [
            (
                "REPLAY 12/300 …",
                "the frame shown and the recording's frame count, that frame's recorded time (local), the play "
                "speed; PAUSED: the player is stopped",
            )
        ]
        for field, meaning in HEADER_NOTES:
            if field == "2 syscalls":
                meaning = "the probe's key and name; 2 hides / shows the recorded data of that probe"
            elif field == "self 1.2% 70MiB":
                meaning = "the recording ebpftop's own CPU and memory, as recorded"
            elif field == "every 1s":
                meaning = "the recording's interval (+ and - do nothing here)"
            notes.append((field, meaning))
        layout = LAYOUT_NOTE.replace(
            "1-4 do not just switch panes: each loads or unloads its probe's BPF programs, and switching one "
            "on also shows its pane.",
            "On a recording 1-4 hide or show a probe's recorded data; nothing is loaded.",
        )
        self.push_screen(HelpScreen(self.key_bindings(), tuple(notes), layout))

    # -- the player ----------------------------------------------------------------------
    def action_pause(self) -> None:
        self.source.set_paused(not self.source.paused)
        self.show_self()

    def action_replay_step(self, n: int) -> None:
        self.source.step(n)
        self.show_self()

    def action_replay_speed(self, factor: float) -> None:
        speed = self.source.set_speed(factor)
        self.show_self()
        self.notify(f"replay at x{speed:g}", timeout=2)

    def _step_interval(self, direction: int) -> None:
        self.notify("replay: the interval is the recording's; < and > change the speed", timeout=3)

    def action_jump(self) -> None:
        entries = self.source.entries
        self.push_screen(JumpScreen(entries[0].time, entries[-1].time), self._jumped)
        self.call_after_refresh(lambda: None)

    def _jumped(self, text: str | None) -> None:
        self.focus_active_pane()
        if not text:
            return
        try:
            index = parse_jump(text, self.source.entries)
        except ValueError as exc:
            self.notify(f"jump: {exc}", severity="warning", timeout=4)
            return
        self.source.seek(index)
        self.show_self()

    # -- what a recording cannot do ----------------------------------------------------------
    def parse_filter(self, text: str) -> PidFilter:
        return parse_recorded_filter(text, self.cgroup_names)

    def open_kill_menu(self, target: Any) -> None:
        self.notify("replay: these processes are a recording's; no signal is sent", severity="warning", timeout=4)

    def action_process_view(self) -> None:
        target = self.selected_target()
        if isinstance(target, str):
            self.notify(f"v shows one process: {target}", severity="warning", timeout=3)
            return
        # read_proc=False: this machine's /proc knows nothing of a recorded process.
        self.push_screen(
            ProcessScreen(target, self.displayed or self.frame, read_proc=False),
            callback=lambda _r: self.focus_active_pane(),
        )
