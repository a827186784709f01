"""v / Enter: one process across every probe: its files, syscalls, subtree, argv, cwd, cgroup, start and end.

What the kernel saw comes from the latest frame (argv from the tree's exec
events or its /proc seed, never from /proc/PID/cmdline); cwd and cgroup are
read off the UI thread by ebpftop.procinfo's non-blocking reads, checked
against the process's start time, and are "unknown" otherwise. The screen
redraws with every frame while it is open.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from typing import ClassVar

from rich.filesize import decimal
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ebpftop.model.files import BY_PROCESS, FilesTable
from ebpftop.model.frame import Frame
from ebpftop.model.proctree import ProcTree, ProcView
from ebpftop.model.sanitize import sanitize
from ebpftop.model.syscalls import SyscallTable
from ebpftop.procinfo import Identity, in_initial_pid_namespace, read_cgroup, read_cwd
from ebpftop.ui.format import si
from ebpftop.ui.proctree_pane import age

MAX_SUBTREE = 200  # lines of the subtree shown
MAX_FILES = 100
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Target:
    """The process a view or a kill is about: PID, the tree's start time if known, and its name.

    ``seen``: the time of the frame the PID was picked from; without a start
    time, a process that started after it is not this one (its PID was reused).
    """

    pid: int
    start: float | None
    comm: str
    seen: float | None = None


def tree_view(frame: Frame | None, pid: int, start: float | None) -> ProcView | None:
    """The tree's node for this process: the one started at ``start`` when given, else the newest at pid."""
    tree = frame.panes.get("procs") if frame is not None else None
    if not isinstance(tree, ProcTree):
        return None
    if start is None:
        return tree.find(pid)
    return next((v for v in tree.walk() if v.pid == pid and v.start == start), None)


def target_for(frame: Frame | None, pid: int, start: float | None = None) -> Target:
    """Name a PID picked in any pane, from what the probes saw (tree first, then syscalls, then files)."""
    view = tree_view(frame, pid, start)
    if view is not None:
        return Target(pid, view.start, view.comm)
    panes = frame.panes if frame is not None else {}
    seen = frame.time if frame is not None else None
    syscalls = panes.get("syscalls")
    for row in getattr(syscalls, "rows", ()):
        if row.pid == pid:
            return Target(pid, start, row.comm, seen)
    files = panes.get("files")
    if isinstance(files, FilesTable):
        for frow in files.rows(BY_PROCESS):
            if frow.pid == pid:
                return Target(pid, start, frow.comm, seen)
    return Target(pid, start, "", seen)


def quoted_argv(view: ProcView) -> str:
    """Every argument, sanitized then shell-quoted, nothing elided (the kernel side's own cap is said)."""
    shown = " ".join(shlex.quote(sanitize(a, 4096)) for a in view.argv)
    if view.argv_truncated:
        shown += " … (more arguments than the probe keeps)"
    return shown


def clock(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}"


def end_text(view: ProcView, colors: dict[str, str] | None = None) -> Text:
    """How it ended; a signal in the theme's error colour, a non-zero exit in its warning colour."""
    colors = colors or {}
    if not view.exited:
        return Text("running")
    if view.signal is not None:
        end = f"killed by {view.signal}" + (" (core dumped)" if view.core else "")
        return Text(end, style=f"bold {colors.get('error', 'red')}")
    if view.exit_code is not None:
        return Text(f"exit {view.exit_code}", style=f"bold {colors.get('warning', 'yellow')}" if view.exit_code else "")
    return Text("exited (status unknown)")


def facts_table(
    target: Target, view: ProcView | None, facts: dict[str, str], colors: dict[str, str] | None = None
) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    comm = view.comm if view is not None else target.comm
    grid.add_row("PID", Text(f"{target.pid}" + (f"   parent {view.ppid}" if view is not None else "")))
    grid.add_row("name", Text(sanitize(comm, 64) or UNKNOWN))
    if view is not None:
        grid.add_row("executable", Text(sanitize(view.filename, 4096) if view.filename else UNKNOWN))
        grid.add_row("argv", Text(quoted_argv(view) or "(none seen)"))
        grid.add_row("started", Text(f"{clock(view.start)}   ({age(view.age)} {'lived' if view.exited else 'ago'})"))
        grid.add_row("status", end_text(view, colors))
    else:
        grid.add_row("argv", Text(f"{UNKNOWN} (the process tree probe has no record of it)"))
        grid.add_row("started", Text(UNKNOWN))
        grid.add_row("status", Text(UNKNOWN))
    grid.add_row("cwd", Text(facts.get("cwd", "…")))
    grid.add_row("cgroup", Text(facts.get("cgroup", "…")))
    return grid


def files_table(frame: Frame | None, pid: int) -> Text | Table:
    files = frame.panes.get("files") if frame is not None else None
    if not isinstance(files, FilesTable):
        return Text("files probe off", style="dim")
    rows = [r for r in files.rows(BY_PROCESS) if r.pid == pid]
    if not rows:
        return Text("no file I/O this interval", style="dim")
    grid = Table(box=None, padding=(0, 1), show_edge=False, expand=False)
    for label, justify in (
        ("READ B/s", "right"),
        ("WRITE B/s", "right"),
        ("R/s", "right"),
        ("W/s", "right"),
        ("TYPE", "left"),
        ("PATH", "left"),
    ):
        grid.add_column(label, justify=justify, no_wrap=label != "PATH", overflow="fold")  # type: ignore[arg-type]
    for r in rows[:MAX_FILES]:
        path = Text(sanitize(r.path, 4096))
        if getattr(r, "deleted", False):
            path.append(" (deleted)", style="bold")
        grid.add_row(
            f"{decimal(int(r.read_bps))}/s",
            f"{decimal(int(r.write_bps))}/s",
            si(r.reads_per_s),
            si(r.writes_per_s),
            r.type,
            path,
        )
    if len(rows) > MAX_FILES:
        grid.add_row("", "", "", "", "", Text(f"… {len(rows) - MAX_FILES} more", style="dim"))
    return grid


def syscalls_text(frame: Frame | None, pid: int) -> Text:
    table = frame.panes.get("syscalls") if frame is not None else None
    if not isinstance(table, SyscallTable):
        return Text("syscall probe off", style="dim")
    row = next((r for r in table.rows if r.pid == pid), None)
    if row is None:
        return Text("no syscalls this interval", style="dim")
    text = Text(f"{si(row.rate)}/s  ({row.count:,} this interval)\n", style="bold")
    for i, t in enumerate(row.top):
        text.append(("  " if i else "") + t.name)
        text.append(f" {t.count:,}", style="dim")
    return text


def subtree_text(view: ProcView | None, colors: dict[str, str] | None = None) -> Text:
    if view is None:
        return Text("process tree probe off or no record of this process", style="dim")
    text = Text(no_wrap=True, overflow="ellipsis")
    stack: list[tuple[ProcView, int]] = [(view, 0)]
    shown = 0
    while stack and shown < MAX_SUBTREE:
        v, depth = stack.pop()
        if shown:
            text.append("\n")
        style = "dim" if v.exited else ""
        text.append("  " * depth + ("└ " if depth else ""), style="dim")
        text.append(sanitize(v.comm, 32), style=f"bold {style}".strip())
        text.append(f" {v.pid}  ", style=style)
        text.append(" ".join(sanitize(a, 256) for a in v.argv), style=style)
        if v.exited:
            text.append("  ")
            text.append_text(end_text(v, colors))
        stack.extend((c, depth + 1) for c in reversed(v.children))
        shown += 1
    if stack:
        text.append(f"\n… more processes below (first {MAX_SUBTREE} shown)", style="dim")
    return text


def read_facts(pid: int, start: float | None, exited: bool, seen: float | None = None) -> dict[str, str]:
    """cwd and cgroup from /proc, only if the process at that PID is still the one shown. Runs off the UI thread."""
    if exited:
        return {"cwd": f"{UNKNOWN} (exited)", "cgroup": f"{UNKNOWN} (exited)"}
    if not in_initial_pid_namespace():
        return {"cwd": f"{UNKNOWN} (child PID namespace)", "cgroup": f"{UNKNOWN} (child PID namespace)"}
    ident = Identity.of(pid, start, seen)
    if isinstance(ident, str):
        return {"cwd": f"{UNKNOWN} ({ident})", "cgroup": f"{UNKNOWN} ({ident})"}
    cwd, cgroup = read_cwd(ident), read_cgroup(ident)
    return {
        "cwd": sanitize(cwd, 4096) if cwd is not None else UNKNOWN,
        "cgroup": sanitize(cgroup, 4096) if cgroup is not None else UNKNOWN,
    }


class ProcessScreen(ModalScreen[None]):
    """One process on the whole screen; ``show_frame`` is called by the app with every frame drawn."""

    DEFAULT_CSS = """
    ProcessScreen { background: $background; }
    ProcessScreen > VerticalScroll { padding: 0 1; }
    ProcessScreen .section { text-style: bold; color: $primary; margin-top: 1; }
    ProcessScreen #proc-hint { dock: bottom; height: 1; background: $panel; color: $text-muted; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,v", "close", "Close"),
        Binding("k,f9", "kill", "Kill"),
        Binding("f10", "app.quit", "Quit"),
        Binding("space", "app.pause", "Pause", show=False),
    ]

    def __init__(self, target: Target, frame: Frame | None, read_proc: bool = True) -> None:
        super().__init__()
        self.target = target
        self.frame = frame
        self.read_proc = read_proc  # tests of drawing alone pass False: no /proc reads
        self.facts: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="proc-scroll"):
            yield Static(id="proc-title")
            yield Static(id="proc-facts")
            yield Static("Syscalls", classes="section")
            yield Static(id="proc-syscalls")
            yield Static("Files", classes="section")
            yield Static(id="proc-files")
            yield Static("Subtree", classes="section")
            yield Static(id="proc-tree")
        yield Static(Text("Esc close · k/F9 signal · ↑↓ PgUp PgDn scroll · updates every interval"), id="proc-hint")

    def on_mount(self) -> None:
        self.query_one("#proc-scroll").focus()
        self.show_frame(self.frame)

    def theme_colors(self) -> dict[str, str]:
        """Theme variables resolved for rich Text (which cannot read $variables itself)."""
        v = self.app.get_css_variables()
        return {"error": v.get("error", "red"), "warning": v.get("warning", "yellow")}

    def view(self) -> ProcView | None:
        return tree_view(self.frame, self.target.pid, self.target.start)

    def show_frame(self, frame: Frame | None) -> None:
        self.frame = frame
        view = self.view()
        if view is not None and self.target.start is None:
            self.target = Target(self.target.pid, view.start, view.comm, self.target.seen)
        if not self.read_proc:
            self.facts = {"cwd": UNKNOWN, "cgroup": UNKNOWN}
        comm = view.comm if view is not None else self.target.comm
        title = Text(f"Process {self.target.pid} ", style="bold")
        title.append(sanitize(comm, 64), style="bold")
        self.query_one("#proc-title", Static).update(title)
        self.query_one("#proc-facts", Static).update(facts_table(self.target, view, self.facts, self.theme_colors()))
        self.query_one("#proc-syscalls", Static).update(syscalls_text(frame, self.target.pid))
        self.query_one("#proc-files", Static).update(files_table(frame, self.target.pid))
        self.query_one("#proc-tree", Static).update(subtree_text(view, self.theme_colors()))
        if self.read_proc:
            # Off the UI thread; the latest read wins (exclusive), one at a time.
            exited = view.exited if view is not None else False
            self.run_worker(lambda: self._read(exited), thread=True, exclusive=True, group="procfacts")

    def _read(self, exited: bool) -> None:
        facts = read_facts(self.target.pid, self.target.start, exited, self.target.seen)
        self.app.call_from_thread(self._set_facts, facts)

    def _set_facts(self, facts: dict[str, str]) -> None:
        self.facts = facts
        if self.is_mounted:
            table = facts_table(self.target, self.view(), facts, self.theme_colors())
            self.query_one("#proc-facts", Static).update(table)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_kill(self) -> None:
        self.app.open_kill_menu(self.target)  # type: ignore[attr-defined]
