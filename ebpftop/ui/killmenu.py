"""F9 / k: send a signal to one process, chosen from a menu and confirmed by name.

The target is pinned when the menu opens (a pidfd, checked against the start
time the probes saw, see ebpftop.procinfo.Pinned); the signal goes only to
that process: if it exited or its PID now belongs to another one, nothing is
sent and the notification says so.
"""

from __future__ import annotations

import signal
import time
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import Static

from ebpftop.model.sanitize import sanitize
from ebpftop.procinfo import Identity, Pinned
from ebpftop.ui.menu import MenuScreen

SIGNALS: tuple[tuple[str, int], ...] = (
    ("TERM", signal.SIGTERM),
    ("KILL", signal.SIGKILL),
    ("INT", signal.SIGINT),
    ("HUP", signal.SIGHUP),
    ("QUIT", signal.SIGQUIT),
    ("STOP", signal.SIGSTOP),
    ("CONT", signal.SIGCONT),
    ("USR1", signal.SIGUSR1),
    ("USR2", signal.SIGUSR2),
)


def who(ident: Identity, comm: str) -> str:
    return f"PID {ident.pid} ({sanitize(comm, 32)})"


class KillMenu(MenuScreen[int]):
    """Step 1: which signal. Dismisses with the signal number (the app then asks for confirmation)."""

    def __init__(self, ident: Identity, comm: str) -> None:
        items = [(f"{int(num):>2} {name}", int(num)) for name, num in SIGNALS]
        super().__init__(Text(f"Send a signal to {who(ident, comm)}"), items)
        self.ident, self.comm = ident, comm


class KillConfirm(MenuScreen[Any]):
    """Step 2: 'Send TERM to PID 1234 (sleep)?' y sends, n/Esc (or Enter on "No") does not.

    Dismisses with the line saying what happened (sent, or why nothing was); ``sent`` tells which.

    Only keys typed after the question was drawn can answer it: ``k Enter y``
    (or ``k Enter down Enter``) typed ahead in one read would otherwise send
    a signal to a process whose name the user never saw. Those keys are
    ignored and the hint says so; n/Esc/q (nothing sent) count whenever typed.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
    ]

    def __init__(self, pinned: Pinned, comm: str, signum: int) -> None:
        self.pinned, self.comm, self.signum = pinned, comm, signum
        ident = self.ident = pinned.ident
        name = signal.Signals(signum).name.removeprefix("SIG")
        self.signame = name
        super().__init__(
            Text(f"Send {name} to {who(ident, comm)}?"),
            [("No", False), (f"Yes, send {name}", True)],
            hint="y send · n/Esc cancel",
        )
        self.sent = False
        self.shown_at: float | None = None  # textual's clock (monotonic), like Key.time

    def on_mount(self) -> None:
        self.call_after_refresh(self._shown)

    def _shown(self) -> None:
        self.shown_at = time.monotonic()

    def typed_after_shown(self) -> bool:
        """Was the key being acted on typed after this question was drawn?

        Keys of a burst are routed to the widget focused when they were read
        and reach this screen's bindings only by bubbling up to the app after
        it has opened: their read time (kept by the app: HtopKeys.on_key) is the
        only thing that tells them apart.
        """
        typed = getattr(self.app, "key_typed_at", None)
        if self.shown_at is not None and typed is not None and typed >= self.shown_at:
            return True
        self.hint = f"keys typed before this question showed were ignored · y send {self.signame} · n/Esc cancel"
        if self.is_mounted:
            self.query_one(".menu-hint", Static).update(Text(self.hint))
        return False

    def action_move(self, step: int) -> None:
        if self.typed_after_shown():
            super().action_move(step)

    def action_edge(self, end: int) -> None:
        if self.typed_after_shown():
            super().action_edge(end)

    def action_answer(self, yes: bool) -> None:
        if yes and not self.typed_after_shown():
            return
        self.index = 1 if yes else 0
        self.action_choose()

    def action_choose(self) -> None:
        if not self.items[self.index][1]:
            self.dismiss("nothing sent")
            return
        if not self.typed_after_shown():
            return
        error = self.pinned.send(self.signum)
        self.sent = error is None
        self.dismiss(error or f"sent {self.signame} to {who(self.ident, self.comm)}")

    def action_dismiss_none(self) -> None:
        self.dismiss("nothing sent")
