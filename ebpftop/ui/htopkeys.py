"""htop's keys: F3 search, F4 filter, F5 tree, F6 sort menu, F9/k kill, F10 quit, P/M/T/I sorts, v process view.

A mixin of EbpftopApp (kept apart so the app's own file stays about layout
and frames). Every key either acts or says in a notification why it does
nothing in this pane.
"""

from __future__ import annotations

from typing import Any

from textual.binding import Binding

from ebpftop.procinfo import Pinned
from ebpftop.ui import search
from ebpftop.ui.killmenu import KillConfirm, KillMenu
from ebpftop.ui.procview import ProcessScreen, Target, target_for
from ebpftop.ui.search import SearchScreen
from ebpftop.ui.sortmenu import SortMenu, apply_sort, current_sort, htop_sort, sort_choices

# F-keys cannot be typed into a prompt, so they are priority bindings: acted
# on as they are read, before the keys after them are routed. In a burst
# (``F3 nginx`` over a laggy link) the search prompt is on screen before
# "n" is routed, so every letter reaches the prompt.
HTOP_BINDINGS = (
    Binding("f3", "search", "Search", key_display="F3", priority=True),
    Binding("n", "search_next(1)", "Next search match", show=False),
    Binding("N", "search_next(-1)", "Previous search match", show=False),
    Binding("f4", "filter", "Filter (as /)", show=False, key_display="F4", priority=True),
    Binding("f5", "tree", "Tree pane", show=False, key_display="F5", priority=True),
    Binding("f6", "sort_menu", "Sort menu", key_display="F6", priority=True),
    Binding("f9", "kill", "Kill", key_display="F9", priority=True),
    Binding("k", "kill", "Kill", show=False),
    Binding("f10", "quit", "Quit", show=False, key_display="F10", priority=True),
    Binding("P", "htop_sort('P')", "Sort by rate (htop P)", show=False),
    Binding("M", "htop_sort('M')", "htop M (memory): no pane has such a column; says so", show=False),
    Binding("T", "htop_sort('T')", "Sort by time (htop T)", show=False),
    Binding("I", "sort_reverse", "Invert sort (htop I)", show=False),
    Binding("v", "process_view", "Process view", key_display="v"),
)
# Actions that act on the main screen's pane: off while another screen
# (help, a menu, the process view) or the filter prompt has the keys.
PANE_ACTIONS = frozenset({"search", "search_next", "filter", "tree", "sort_menu", "kill", "htop_sort", "process_view"})


class HtopKeys:
    """Actions behind HTOP_BINDINGS; ``self`` is the EbpftopApp."""

    last_search: str = ""
    key_typed_at: float | None = None  # when the key being routed to the bindings was read (textual's clock)

    def on_key(self: Any, event: Any) -> None:
        """Every key reaches the app before its non-priority bindings run: note when it was read (see KillConfirm)."""
        self.key_typed_at = event.time

    def notify(
        self: Any,
        message: str,
        *,
        title: str = "",
        severity: Any = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Every notification is plain text, whoever asks (a widget's notify passes markup=True).

        Its lines carry names, paths and typed text: as markup, a process named
        ``[/]x`` crashed the app when the line was drawn and one named
        ``[@click=app.quit]q`` made it a button running an app action.
        """
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)  # type: ignore[misc]

    def check_action(self: Any, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in PANE_ACTIONS:
            from textual.widgets import Input

            if self.screen is not self.screen_stack[0] or isinstance(self.focused, Input):
                return False
        return super().check_action(action, parameters)  # type: ignore[misc]

    def _pane_title(self: Any) -> str:
        from ebpftop.ui.panes import PANES

        pane = self.active_pane()
        return next((title for _key, title, widget in PANES if widget is type(pane)), "this")

    # -- F3 / n / N ------------------------------------------------------------
    def action_search(self: Any) -> None:
        def done(text: str | None) -> None:
            if text:
                self.last_search = text
            self.focus_active_pane()

        self.push_screen(SearchScreen(self.active_pane(), ""), callback=done)

    def action_search_next(self: Any, step: int) -> None:
        if not self.last_search:
            self.notify("nothing searched yet: F3 searches this list", timeout=3)
        elif not search.jump(self.active_pane(), self.last_search, step):
            self.notify(
                f"not found in the {self._pane_title()} pane: {self.last_search}", severity="warning", timeout=3
            )

    # -- F5 / F6 / P M T ---------------------------------------------------------
    def action_tree(self: Any) -> None:
        self._show_pane("procs")

    def action_sort_menu(self: Any) -> None:
        pane = self.active_pane()
        choices = sort_choices(pane)

        def chosen(index: int | None) -> None:
            if index is not None:
                apply_sort(pane, index)
            self.focus_active_pane()

        self.push_screen(SortMenu(self._pane_title(), choices, current_sort(pane)), callback=chosen)

    def action_htop_sort(self: Any, letter: str) -> None:
        line = htop_sort(self.active_pane(), letter, self._pane_title())
        self.notify(line, timeout=3, severity="information" if line.startswith("sorted") else "warning")

    # A pane's own key pressed in another pane reaches these (Textual calls key_<name>
    # on the app only when no binding took the key): say where it works.
    def _pane_only(self: Any, key: str) -> None:
        if self.screen is not self.screen_stack[0]:
            return
        from ebpftop.ui.panes import PANES

        pane, what = next((title, widget.KEY_NOTES[key]) for _key, title, widget in PANES if key in widget.KEY_NOTES)
        self.notify(
            f"{key} {what}: it works in the {pane} pane, not in {self._pane_title()}", severity="warning", timeout=3
        )

    def key_g(self) -> None:
        self._pane_only("g")

    def key_x(self) -> None:
        self._pane_only("x")

    def key_a(self) -> None:
        self._pane_only("a")

    # -- the selected process --------------------------------------------------
    def selected_target(self: Any) -> Target | str:
        """The process under the cursor in the active pane, or why there is none."""
        pane = self.active_pane()
        key = pane.selected_key() if hasattr(pane, "selected_key") else None
        pid = key[0] if key is not None else pane.selected_pid()
        if pid is None:
            if not pane.ROWS_ARE_PROCESSES:
                return f"the {self._pane_title()} pane's rows are not processes"
            return f"no process selected in the {self._pane_title()} pane"
        # The frame on screen (older than self.frame while paused): the row the user picked.
        return target_for(self.displayed or self.frame, pid, key[1] if key is not None else None)

    def action_process_view(self: Any) -> None:
        target = self.selected_target()
        if isinstance(target, str):
            self.notify(f"v shows one process: {target}", severity="warning", timeout=3)
            return
        self.push_screen(
            ProcessScreen(target, self.displayed or self.frame), callback=lambda _r: self.focus_active_pane()
        )

    # -- F9 / k ------------------------------------------------------------------
    def action_kill(self: Any) -> None:
        target = self.selected_target()
        if isinstance(target, str):
            self.notify(f"k signals one process: {target}", severity="warning", timeout=3)
            return
        self.open_kill_menu(target)

    def open_kill_menu(self: Any, target: Target) -> None:
        """Signal menu, then confirmation, for the process at target.pid if it is the one the probes saw.

        The process is pinned (a pidfd) now, and released whichever way the menus end.
        """
        pinned = Pinned.open(target.pid, target.start, target.seen)
        if isinstance(pinned, str):
            self.notify(f"nothing sent: {pinned}", severity="error", timeout=5)
            return

        def chosen(signum: int | None) -> None:
            if signum is None:
                pinned.close()
                return
            confirm = KillConfirm(pinned, target.comm, signum)

            def answered(line: str | None) -> None:
                pinned.close()
                self.notify(line or "nothing sent", severity="information" if confirm.sent else "warning", timeout=5)

            self.push_screen(confirm, callback=answered)

        self.push_screen(KillMenu(pinned.ident, target.comm), callback=chosen)
