"""Removed widgets are released: no watcher entry keeps them alive (Textualize/textual#6666).

Textual drops a closed widget's watcher entry only when the watched value
changes. The Footer binds every FooterKey to its own ``compact``, which never
changes, and recomposes at each change of the bindings: before the fix every
tab switch left 24 FooterKeys (and their render caches) alive for good, about
2 MiB a minute in the soak.
"""

from __future__ import annotations

import gc
import weakref

from textual.widgets import Static
from textual.widgets._footer import FooterKey

import ebpftop.ui.app as app_module
from ebpftop.settings import Settings
from ebpftop.ui.app import EbpftopApp
from ebpftop.ui.watchers import WATCHERS
from tests.ui.scripted import ScriptedSource

SWITCHES = 20


def footer_keys(seen: weakref.WeakSet[FooterKey]) -> tuple[int, int]:
    """(FooterKeys of ``seen`` still alive, of which in the DOM)."""
    gc.collect()
    return len(seen), sum(1 for k in seen if k.is_attached)


async def test_tab_switches_leave_no_footer_keys_behind(monkeypatch) -> None:
    monkeypatch.setattr(app_module, "WATCHER_SWEEP_S", 3600.0)  # the Footer's own pruning, not the app's sweep
    app = EbpftopApp(Settings(), ScriptedSource())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        seen: weakref.WeakSet[FooterKey] = weakref.WeakSet()  # every FooterKey this app drew
        drawn = 0
        for _ in range(SWITCHES):
            await pilot.press("]")  # next pane: new bindings, the Footer recomposes
            await pilot.pause()
            for key in app.query(FooterKey):
                if key not in seen:
                    seen.add(key)
                    drawn += 1
        await pilot.pause(0.2)
        assert drawn > 100  # each switch drew a new set
        alive, attached = footer_keys(seen)
        assert attached > 0  # the footer is drawn
        # Before the fix: 20 switches left ~480 FooterKeys alive beside the drawn ones.
        assert alive == attached, f"{alive - attached} FooterKeys removed from the DOM are still alive"
        entries = getattr(app.query_one(app_module.Footer), WATCHERS)["compact"]
        assert len(entries) == attached


class Watching(Static):
    """A short-lived widget that watches a long-lived value (the app's PID filter), as a pane or dialog might."""

    def on_mount(self) -> None:
        self.watch(self.app, "pids", lambda _pids: None, init=False)


async def test_sweep_releases_any_removed_watcher(monkeypatch) -> None:
    monkeypatch.setattr(app_module, "WATCHER_SWEEP_S", 0.1)
    app = EbpftopApp(Settings(), ScriptedSource())
    async with app.run_test(size=(80, 24)) as pilot:
        widget = Watching("x")
        await app.screen.mount(widget)
        await pilot.pause()
        gone = weakref.ref(widget)
        assert any(owner is widget for owner, _ in getattr(app, WATCHERS)["pids"])
        await widget.remove()
        del widget
        await pilot.pause(0.4)  # a few sweeps; the filter itself never changed
        owners = [owner for owner, _ in getattr(app, WATCHERS)["pids"]]
        # (The widget itself may linger a moment in Textual's layout caches, replaced at the next
        # layout: only the watcher entry held it for good.)
        assert not any(owner is gone() for owner in owners), "the removed widget's watcher entry is still on the app"
        assert owners and all(not owner._closed for owner in owners)  # the live panes' entries are kept
