"""The filter prompt: type PIDs, names or cgroups, Enter applies, Esc closes; a bad entry is explained inline."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Static

from ebpftop.pids import PidFilter, parse_pids


class PromptInput(Input):
    """An Input whose every key acts in arrival order, before the keys queued behind it.

    Textual types a printable key in ``Input._on_key`` at once, but runs a bound key (Enter, Esc,
    Backspace, Ctrl-U, arrows) only after its event has bubbled up to the app; in a burst
    ``/123⏎1`` the trailing 1 was typed into the prompt before Enter submitted it, and Ctrl-U
    cleared text typed after it. Here the prompt's own bindings run in ``_on_key``, and a key that
    reaches the prompt after it closed goes back to the app, which hands it to whatever has focus
    now (the pane: the prompt gives focus back synchronously when it closes).
    """

    async def _on_key(self, event: events.Key) -> None:
        bar = self.parent
        if not isinstance(bar, FilterBar):
            await super()._on_key(event)
            return
        if not bar.display:
            self._swallow(event)
            self.app.post_message(events.Key(event.key, event.character))
            return
        if event.key in ("enter", "escape"):
            self._swallow(event)
            bar.submit(self.value) if event.key == "enter" else bar.action_close()
            return
        if not event.is_printable:
            for binding in self._bindings.key_to_bindings.get(event.key, ()):
                if await self.app.run_action(binding.action, self):
                    self._swallow(event)
                    return
        await super()._on_key(event)

    @staticmethod
    def _swallow(event: events.Key) -> None:
        event.stop()
        event.prevent_default()


class FilterBar(Vertical):
    """Hidden until opened; posts FilterBar.Applied with the PIDs, or Closed."""

    BINDINGS = [Binding("escape", "close", "Close", show=False)]

    class Applied(Message):
        def __init__(self, pids: PidFilter) -> None:
            super().__init__()
            self.pids = pids

    class Closed(Message):
        pass

    def compose(self) -> ComposeResult:
        yield PromptInput(
            placeholder="PIDs, process names or cgroups (nginx.service, /user.slice, docker:3f2a), comma separated",
            id="filter-input",
        )
        yield Static("", id="filter-error")

    _return_to: Widget | None = None

    def open(self, current: str = "") -> None:
        self._return_to = self.screen.focused
        self.display = True
        field = self.query_one(Input)
        field.value = current
        self.query_one("#filter-error", Static).update("")
        # Focus now (not on the next loop turn): keys of the same burst are already queued behind "/".
        field.screen.set_focus(field)

    def _hide(self) -> None:
        self.display = False
        if self._return_to is not None and self._return_to.is_attached:
            self.screen.set_focus(self._return_to)  # now: the next queued key is a command again

    def action_close(self) -> None:
        self._hide()
        self.post_message(self.Closed())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit(event.value)

    def submit(self, value: str) -> None:
        try:
            pids = getattr(self.app, "parse_filter", parse_pids)(value)  # a replay parses without /proc
        except ValueError as exc:
            # The previous filter stays; the reason stays on screen until fixed.
            self.query_one("#filter-error", Static).update(Text(f"{exc}: filter unchanged", no_wrap=True))
            return
        self._hide()
        self.post_message(self.Applied(pids))
