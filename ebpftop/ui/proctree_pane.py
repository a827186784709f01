"""Fork/exec tree pane: every process as a Tree node, with its argv, age and subtree fork/exec rates."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rich.text import Text
from textual._context import NoActiveAppError
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode

from ebpftop.model.proctree import EXIT, EXITED, GONE, NEW, ProcTree, ProcView
from ebpftop.model.sanitize import elide_middle, sanitize
from ebpftop.ui.format import cgroup_names_of, si
from ebpftop.ui.pane import Pane

ARGV_WIDTH = 80  # when the pane's width is not known yet
MIN_ARGV_WIDTH = 20
COMM_WIDTH = 32
MAX_NODES = 5000  # a fork storm past this shows a note instead of freezing the UI
COLLAPSED_BY_DEFAULT = frozenset({2})  # kthreadd: hundreds of kernel threads

Key = tuple[int, float]


def _rate_key(v: ProcView) -> object:
    return -(v.forks_per_s + v.execs_per_s)


SORTS: tuple[tuple[str, Callable[[ProcView], object]], ...] = (
    ("pid", lambda v: (v.pid, v.start)),
    ("name", lambda v: (v.comm, v.pid)),
    ("rate", lambda v: (_rate_key(v), v.pid)),
    ("age", lambda v: (v.start, v.pid)),
)

DESCENDING_SORTS = frozenset({"rate"})  # busiest first; the others run smallest first (pid, name, age)


def sort_label(index: int, reverse: bool) -> str:
    """'name ▲' (A to Z) or 'name ▼' (Z to A): the arrow says the order on screen."""
    name = SORTS[index][0]
    descending = (name in DESCENDING_SORTS) != reverse
    return f"{name} {'▼' if descending else '▲'}"


def age(seconds: float) -> str:
    """Compact age: 4.2s, 5m02s, 3h04m, 2d03h."""
    s = max(0.0, seconds)
    if s < 60:
        return f"{s:.1f}s"
    m, sec = divmod(int(s), 60)
    if m < 60:
        return f"{m}m{sec:02d}s"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h{m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d{h:02d}h"


def argv_text(view: ProcView, width: int = ARGV_WIDTH) -> str:
    """argv as one sanitized line, its middle elided to width."""
    shown = " ".join(sanitize(a, 512) for a in view.argv)
    if not view.argv and view.argv_unknown:
        shown = f"({view.argv_unknown})"
    if view.argv_truncated:
        shown += " …"
    return elide_middle(shown, width)


class ProcessTree(Tree[Key]):
    """Tree with the app's keys kept: space pauses like everywhere else (enter expands/collapses)."""

    BINDINGS = [
        Binding("space", "app.pause", "Pause", show=False),
        # Tree moves its cursor on these already (as the tables do); bound here so it cannot depend on that.
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "scroll_home", "First line", show=False),
        Binding("end", "scroll_end", "Last line", show=False),
    ]


class ProcTreePane(Pane):
    """The tree is patched in place when only labels change and rebuilt when its shape does;
    either way the selected process stays selected at the same screen row."""

    DEFAULT_CSS = """
    ProcTreePane { height: 1fr; }
    ProcTreePane > Tree { height: 1fr; }
    """

    BINDINGS = [Binding("x", "toggle_exited", "Hide/show exited")]
    HTOP_SORTS = {"P": "rate", "T": "age"}  # no memory column
    KEY_NOTES = {"x": "hides or shows exited processes"}

    def __init__(self) -> None:
        super().__init__(id="proctree-pane")
        self.data: ProcTree | None = None
        self.sort_index = 0
        self.reverse = False
        self.hide_exited = False
        self._views: dict[Key, ProcView] = {}
        self._tree_nodes: dict[Key, TreeNode[Key]] = {}
        self._shape: tuple[tuple[Key, Key | None], ...] = ()
        self._collapsed: set[Key] = set()
        self._seen: set[Key] = set()
        self._parent_of: dict[Key, Key | None] = {}

    def compose(self) -> ComposeResult:
        yield Static("", id="proctree-summary", classes="summary")
        tree = ProcessTree("processes", id="proctree-tree")
        tree.show_root = False
        tree.guide_depth = 2
        yield tree

    @property
    def proc_tree(self) -> Tree[Key]:
        return self.query_one("#proctree-tree", Tree)

    # -- the pane contract ----------------------------------------------------
    def sort_next(self) -> None:
        self.sort_index = (self.sort_index + 1) % len(SORTS)
        self.reverse = False
        self._resort()

    def sort_reverse(self) -> None:
        self.reverse = not self.reverse
        self._resort()

    def _resort(self) -> None:
        if self.data is not None:
            self.show(self.data)  # the summary names the new order now, not at the next frame
        self._redraw(force=True)

    def selected_pid(self) -> int | None:
        key = self.selected_key()
        return key[0] if key is not None else None

    def selected_key(self) -> Key | None:
        """(PID, start time) of the process under the cursor: a reused PID is another process."""
        node = self.proc_tree.cursor_node
        if node is None or node.data is None:
            return None
        return node.data

    # -- htop's keys: sort menu, search, hide exited ----------------------------
    def sort_choices(self) -> list[str]:
        return [name for name, _key in SORTS]

    def current_sort(self) -> int:
        return self.sort_index

    def set_sort(self, index: int) -> None:
        self.sort_index, self.reverse = index, False
        self._redraw(force=True)
        self._summary()

    def _lines(self) -> list[TreeNode[Key]]:
        tree = self.proc_tree
        return [n for n in (tree.get_node_at_line(i) for i in range(tree.last_line + 1)) if n is not None]

    def search_lines(self) -> list[str]:
        out = []
        for node in self._lines():
            v = self._views.get(node.data) if node.data is not None else None
            out.append(f"{v.comm} {v.pid} {' '.join(v.argv)}" if v is not None else str(node.label))
        return out

    def search_cursor(self) -> int:
        return max(0, self.proc_tree.cursor_line)

    def search_move(self, index: int) -> None:
        self.proc_tree.cursor_line = index
        self.proc_tree.scroll_to_line(index, animate=False)

    def action_toggle_exited(self) -> None:
        self.hide_exited = not self.hide_exited
        self._redraw(force=True)
        self._summary()
        self.app.notify(
            "exited processes hidden (x shows them)" if self.hide_exited else "exited processes shown", timeout=2
        )

    def show(self, data: ProcTree | None) -> None:
        self.data = data
        self._redraw()
        self._summary()

    def _counts(self, data: ProcTree) -> tuple[int, int, float, float, float]:
        """(live, exited, forks/s, execs/s, exits/s) of what the tree shows.

        The filtered processes when a PID filter is on.
        """
        pids = getattr(self.app, "pids", None)
        if pids is None:
            return data.live, data.exited, data.forks_per_s, data.execs_per_s, data.exits_per_s
        live = exited = 0
        forks = execs = 0.0
        stack = [(v, False) for v in data.roots]
        while stack:
            v, inside = stack.pop()
            matched = inside or v.pid in pids
            if matched:  # ancestors shown for context are not counted
                live += not v.exited
                exited += v.exited
            if v.pid in pids and not inside:
                forks += v.forks_per_s  # the subtree's, counted once at its top
                execs += v.execs_per_s
            stack.extend((c, matched) for c in v.children)
        exits = sum(e.type == EXIT for e in data.events)  # the model keeps only the filtered subtrees' events
        frame = getattr(self.app, "displayed", None)
        elapsed = frame.elapsed if frame is not None and frame.elapsed > 0 else 1.0
        return live, exited, forks, execs, exits / elapsed

    def _summary(self) -> None:
        data = self.data
        summary = self.query_one("#proctree-summary", Static)
        if data is None:
            summary.update("process tree probe off")
        else:
            live, exited, forks, execs, exits = self._counts(data)

            def build(rates: bool, sep: str = "  ·  ") -> Text:
                line = Text(no_wrap=True, overflow="ellipsis")
                line.append(f"{live:,} processes{sep}{exited:,} exited{' (hidden, x)' if self.hide_exited else ''}")
                if rates:
                    line.append(f"{sep}{si(forks)} forks/s  {si(execs)} execs/s  {si(exits)} exits/s")
                if getattr(self.app, "pids", None) is not None:
                    line.append(f"{sep}filtered")
                line.append(f"{sep}sort: {sort_label(self.sort_index, self.reverse)}")
                if data.lost_total:
                    line.append(f"{sep}{data.lost_total:,} events lost", style="bold")
                    if data.lost_interval:
                        line.append(f" (+{data.lost_interval:,})", style="bold")
                return line

            line = build(rates=True)
            width = summary.content_size.width
            if width and line.cell_len > width:
                # At 80 columns the rates pushed the filter mark, the sort and the losses off the line;
                # they go first (the top row of the tree carries its own forks/s and execs/s).
                line = build(rates=False, sep=" · ")
            summary.update(line, layout=False)  # one fixed line

    def on_resize(self) -> None:
        """argv takes the pane's width: relabel for the new one now, not at the next frame."""
        if self.data is not None:
            self._redraw()

    # -- user expand/collapse is remembered across rebuilds --------------------
    def on_tree_node_collapsed(self, event: Tree.NodeCollapsed[Key]) -> None:
        if event.node.data is not None:
            self._collapsed.add(event.node.data)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[Key]) -> None:
        if event.node.data is not None:
            self._collapsed.discard(event.node.data)

    # -- rendering ------------------------------------------------------------
    def _colors(self) -> dict[str, str]:
        try:
            v = self.app.get_css_variables()
        except NoActiveAppError:  # no app yet
            v = {}
        return {
            NEW: v.get("success", "green"),
            "error": v.get("error", "red"),
            "warning": v.get("warning", "yellow"),
            "accent": v.get("accent", "cyan"),
        }

    def _boundary(self, v: ProcView) -> str | None:
        """The container, pod or unit a process starts, where its parent is in another one: the
        boundary the tree shows on that process's line (None: same group as its parent, or unknown)."""
        if not v.cgroup:
            return None
        parent_key = self._parent_of.get(v.key)
        parent = self._views.get(parent_key) if parent_key is not None else None
        if parent is not None and parent.cgroup == v.cgroup:
            return None
        known = cgroup_names_of(self).get(v.cgroup)
        if known is None or known.kind not in ("container", "pod", "unit"):
            return None
        if parent is not None:
            theirs = cgroup_names_of(self).get(parent.cgroup)
            if theirs is not None and theirs.name == known.name:
                return None  # another group inside the same unit or container
        return str(known.name)

    def _argv_width(self, depth: int, v: ProcView) -> int:
        """What is left of the pane's width for argv on this node's line.

        Indent, name, pid, age and rates take the rest.
        """
        width = self.size.width
        if not width:
            return ARGV_WIDTH
        indent = (depth + 1) * (self.proc_tree.guide_depth + 2)
        fixed = indent + len(sanitize(v.comm, COMM_WIDTH)) + len(str(v.pid)) + 14
        if v.forks_per_s or v.execs_per_s:
            fixed += 28
        if v.exited:
            fixed += 30
        return max(MIN_ARGV_WIDTH, width - fixed)

    def _label(self, v: ProcView, colors: dict[str, str], depth: int = 0) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        # New: the theme's success colour; just exited: bold; gone (lingering): dim. How it ended
        # is coloured on its own: a signal as an error, a non-zero exit as a warning.
        style = (
            "dim"
            if v.state == GONE
            else ("bold" if v.state == EXITED else (f"bold {colors[NEW]}" if v.state == NEW else ""))
        )
        text.append(sanitize(v.comm, COMM_WIDTH), style=f"bold {style}".strip())
        text.append(f" {v.pid}", style=style if style else "dim")
        if v.ns_level and v.ns_pid and v.ns_pid != v.pid:
            text.append(f" (ns pid {v.ns_pid})", style=style if style else "dim")
        boundary = self._boundary(v)
        if boundary is not None:
            text.append(f"  ⟦{sanitize(boundary, 64)}⟧", style=f"bold {colors['accent']}")
        args = argv_text(v, self._argv_width(depth, v))
        if args:
            text.append("  ")
            text.append(args, style=style)
        text.append(f"  {age(v.age)}", style=style or "dim")
        if v.forks_per_s or v.execs_per_s:
            text.append(f"  {si(v.forks_per_s)} forks/s {si(v.execs_per_s)} execs/s", style=style)
        if v.exited:
            end_style = style
            if v.signal is not None:
                end = f"killed by {v.signal}" + (" (core)" if v.core else "")
                end_style = f"bold {colors['error']}"
            elif v.exit_code is not None:
                end = f"exit {v.exit_code}"
                if v.exit_code:
                    end_style = f"bold {colors['warning']}"
            else:
                end = "exited"
            text.append("  ")
            text.append(f"[{end} after {age(v.age)}]", style=end_style)
        return text

    def _ordered(self, views: Iterable[ProcView]) -> list[ProcView]:
        key = SORTS[self.sort_index][1]
        return sorted(views, key=key, reverse=self.reverse)  # type: ignore[arg-type]

    def _flatten(self) -> list[tuple[ProcView, Key | None]]:
        """Every view in display order with its parent's key, at most MAX_NODES (exited ones left out when hidden)."""
        out: list[tuple[ProcView, Key | None]] = []
        self._depth: dict[Key, int] = {}
        self._parent_of = {}
        if self.data is None:
            return out
        stack: list[tuple[ProcView, Key | None]] = [(v, None) for v in reversed(self._ordered(self.data.roots))]
        while stack and len(out) < MAX_NODES:
            v, parent = stack.pop()
            if self.hide_exited and v.exited:
                # Its children (rare: live ones are re-parented at its exit) hang from its parent.
                stack.extend((c, parent) for c in reversed(self._ordered(v.children)))
                continue
            out.append((v, parent))
            self._parent_of[v.key] = parent
            self._depth[v.key] = self._depth.get(parent, -1) + 1 if parent is not None else 0
            stack.extend((c, v.key) for c in reversed(self._ordered(v.children)))
        return out

    def _redraw(self, force: bool = False) -> None:
        tree = self.proc_tree
        flat = self._flatten()
        colors = self._colors()
        self._views = {v.key: v for v, _parent in flat}
        shape = tuple((v.key, parent) for v, parent in flat)
        if force or shape != self._shape:
            self._rebuild(flat, colors)
            self._shape = shape
        else:
            for v, _parent in flat:
                node = self._tree_nodes.get(v.key)
                if node is not None:
                    node.set_label(self._label(v, colors, self._depth.get(v.key, 0)))
        if tree.cursor_line < 0 and self._tree_nodes:
            tree.cursor_line = 0  # a cursor from the first frame: arrows and k act at once
        tree.refresh()

    def _rebuild(self, flat: list[tuple[ProcView, Key | None]], colors: dict[str, str]) -> None:
        tree = self.proc_tree
        selected = tree.cursor_node.data if tree.cursor_node is not None else None
        old_line = tree.cursor_line
        row_on_screen = old_line - int(tree.scroll_y) if old_line >= 0 else None
        scroll_y = tree.scroll_y
        # Where a vanished selection goes: its nearest surviving ancestor.
        fallback: list[Key] = []
        if selected is not None and selected in self._tree_nodes:
            node = self._tree_nodes[selected].parent
            while node is not None and node.data is not None:
                fallback.append(node.data)
                node = node.parent

        tree.clear()
        nodes: dict[Key, TreeNode[Key]] = {}
        for v, parent_key in flat:
            parent = nodes.get(parent_key) if parent_key is not None else tree.root
            if parent is None:
                continue
            if v.key not in self._seen and v.pid in COLLAPSED_BY_DEFAULT:
                self._collapsed.add(v.key)
            self._seen.add(v.key)
            nodes[v.key] = parent.add(
                self._label(v, colors, self._depth.get(v.key, 0)),
                data=v.key,
                expand=v.key not in self._collapsed,
                allow_expand=bool(v.children),
            )
        self._tree_nodes = nodes
        self._seen &= set(nodes)
        self._collapsed &= set(nodes)

        target = selected if selected in nodes else next((k for k in fallback if k in nodes), None)
        if target is None:
            tree.scroll_to(y=scroll_y, animate=False, immediate=True)
            return
        # Lines are rebuilt lazily; ask for them now so the cursor lands on the right one.
        _ = tree.last_line  # builds the lines now
        line = nodes[target].line
        if line < 0:  # inside a collapsed ancestor
            tree.scroll_to(y=scroll_y, animate=False, immediate=True)
            return
        tree.cursor_line = line
        y = line - row_on_screen if row_on_screen is not None else scroll_y
        tree.scroll_to(y=max(0, y), animate=False, immediate=True)
