"""Fork/exec tree pane: every process as a Tree node, with its argv, age and subtree fork/exec rates."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode

from ebpftop.model.proctree import EXITED, GONE, NEW, ProcTree, ProcView
from ebpftop.model.sanitize import elide_middle, sanitize
from ebpftop.ui.format import si

ARGV_WIDTH = 80
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

    BINDINGS = [Binding("space", "app.pause", "Pause", show=False)]


class ProcTreePane(Vertical):
    """The tree is patched in place when only labels change and rebuilt when its shape does;
    either way the selected process stays selected at the same screen row."""

    DEFAULT_CSS = """
    ProcTreePane { height: 1fr; }
    ProcTreePane > Tree { height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__(id="proctree-pane")
        self.data: ProcTree | None = None
        self.sort_index = 0
        self.reverse = False
        self._tree_nodes: dict[Key, TreeNode[Key]] = {}
        self._shape: tuple[tuple[Key, Key | None], ...] = ()
        self._collapsed: set[Key] = set()
        self._seen: set[Key] = set()

    def compose(self) -> ComposeResult:
        yield Static("", id="proctree-summary", classes="summary")
        tree = ProcessTree("processes", id="proctree-tree")
        tree.show_root = False
        tree.guide_depth = 2
        yield tree

    @property
    def tree(self) -> Tree[Key]:
        return self.query_one("#proctree-tree", Tree)

    # -- the pane contract ----------------------------------------------------
    def sort_next(self) -> None:
        self.sort_index = (self.sort_index + 1) % len(SORTS)
        self.reverse = False
        self._redraw(force=True)

    def sort_reverse(self) -> None:
        self.reverse = not self.reverse
        self._redraw(force=True)

    def selected_pid(self) -> int | None:
        node = self.tree.cursor_node
        if node is None or node.data is None:
            return None
        return node.data[0]

    def show(self, data: ProcTree | None) -> None:
        self.data = data
        summary = self.query_one("#proctree-summary", Static)
        if data is None:
            summary.update("process tree probe off")
        else:
            line = Text(no_wrap=True, overflow="ellipsis")
            line.append(f"{data.live:,} processes  ·  {data.exited:,} exited  ·  ")
            line.append(f"{si(data.forks_per_s)} forks/s  {si(data.execs_per_s)} execs/s  ")
            line.append(f"{si(data.exits_per_s)} exits/s")
            line.append(f"  ·  sort: {SORTS[self.sort_index][0]}{' ▲' if self.reverse else ''}")
            if data.lost_total:
                line.append(f"  ·  {data.lost_total:,} events lost", style="bold")
                if data.lost:
                    line.append(f" (+{data.lost:,})", style="bold")
            summary.update(line, layout=False)  # one fixed line
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
        except Exception:  # noqa: BLE001 - no app yet
            v = {}
        return {NEW: v.get("success", "green"), EXITED: v.get("error", "red")}

    def _label(self, v: ProcView, colors: dict[str, str]) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        style = "dim" if v.state == GONE else (f"bold {colors[v.state]}" if v.state in colors else "")
        text.append(sanitize(v.comm, COMM_WIDTH), style=f"bold {style}".strip())
        text.append(f" {v.pid}", style="dim" if not style else style)
        args = argv_text(v)
        if args:
            text.append("  ")
            text.append(args, style=style)
        text.append(f"  {age(v.age)}", style=style or "dim")
        if v.forks_per_s or v.execs_per_s:
            text.append(f"  {si(v.forks_per_s)} forks/s {si(v.execs_per_s)} execs/s", style=style)
        if v.exited:
            if v.signal is not None:
                end = f"killed by {v.signal}" + (" (core)" if v.core else "")
            elif v.exit_code is not None:
                end = f"exit {v.exit_code}"
            else:
                end = "exited"
            text.append(f"  [{end} after {age(v.age)}]", style=style)
        return text

    def _ordered(self, views: Iterable[ProcView]) -> list[ProcView]:
        key = SORTS[self.sort_index][1]
        return sorted(views, key=key, reverse=self.reverse)  # type: ignore[arg-type]

    def _flatten(self) -> list[tuple[ProcView, Key | None]]:
        """Every view in display order with its parent's key, at most MAX_NODES."""
        out: list[tuple[ProcView, Key | None]] = []
        if self.data is None:
            return out
        stack: list[tuple[ProcView, Key | None]] = [(v, None) for v in reversed(self._ordered(self.data.roots))]
        while stack and len(out) < MAX_NODES:
            v, parent = stack.pop()
            out.append((v, parent))
            stack.extend((c, v.key) for c in reversed(self._ordered(v.children)))
        return out

    def _redraw(self, force: bool = False) -> None:
        tree = self.tree
        flat = self._flatten()
        colors = self._colors()
        shape = tuple((v.key, parent) for v, parent in flat)
        if force or shape != self._shape:
            self._rebuild(flat, colors)
            self._shape = shape
        else:
            for v, _parent in flat:
                node = self._tree_nodes.get(v.key)
                if node is not None:
                    node.set_label(self._label(v, colors))
        tree.refresh()

    def _rebuild(self, flat: list[tuple[ProcView, Key | None]], colors: dict[str, str]) -> None:
        tree = self.tree
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
                self._label(v, colors), data=v.key, expand=v.key not in self._collapsed, allow_expand=bool(v.children)
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
