"""Attacks on the watcher pruning (ebpftop/ui/watchers.py, a04d507): it must never drop a live watcher.

The prune drops the entries whose owner is closing or closed, as Textual itself does at the
watched value's next change; these tests hold it to that: after many sweeps and dialogs, every
live watcher still fires, and the Footer still shows the keys of the bindings in force after a
burst of tab switches and toggles typed in one read.
"""

from __future__ import annotations

import gc
import sys
import time
import weakref
from typing import Any

from textual.containers import Vertical
from textual.widgets import Static
from textual.widgets._footer import FooterKey

import ebpftop.ui.app as app_module
from ebpftop.model.xdp import XdpModel
from ebpftop.settings import Settings
from ebpftop.ui.app import EbpftopApp
from ebpftop.ui.watchers import WATCHERS, live_nodes, prune_watchers
from ebpftop.ui.xdp_pane import XdpPane
from tests.ui.scripted import ScriptedSource
from tests.ui.test_htopkeys import burst, settle
from tests.ui.test_xdp_pane import open_xdp

FILTER_NOTE = "the filter does not apply here"
SWEEP = 0.05  # seconds: many sweeps during each test


def owners(node: object, attribute: str) -> list[object]:
    return [owner for owner, _callback in getattr(node, WATCHERS, {}).get(attribute, [])]


def summary(pane: XdpPane) -> str:
    return str(pane.query_one("#xdp-summary", Static).render())


def expected_footer(app: EbpftopApp) -> list[tuple[str, str]]:
    """(key, description) of what Footer.compose draws for the bindings in force: one key per shown action."""
    first: dict[str, tuple[str, str]] = {}
    for _node, binding, _enabled, _tooltip in app.screen.active_bindings.values():
        if binding.show and binding.action not in first:
            first[binding.action] = (binding.key, binding.description)
    return list(first.values())


def footer_shown(app: EbpftopApp) -> list[tuple[str, str]]:
    return [(key.key, key.description) for key in app.screen.query(FooterKey)]


async def collect_drawn(pilot: Any, app: EbpftopApp, seen: weakref.WeakSet[FooterKey]) -> int:
    """Over 20 pauses, add every FooterKey drawn on the current screen to ``seen``; how many were new."""
    new = 0
    for _ in range(20):
        await pilot.pause()
        for key in app.screen.query(FooterKey):
            if key not in seen:
                seen.add(key)
                new += 1
    return new


async def test_xdp_pane_still_follows_the_filter_after_dialogs_and_sweeps(monkeypatch) -> None:
    """XdpPane watches app.pids (never changed meanwhile): sweeps after closed dialogs must keep its entry."""
    monkeypatch.setattr(app_module, "WATCHER_SWEEP_S", SWEEP)
    source = ScriptedSource()
    app = EbpftopApp(Settings(), source)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_xdp(pilot, app, source, XdpModel())
        assert FILTER_NOTE not in summary(pane)
        for keys in (("question_mark",), ("escape",), ("f6",), ("escape",), ("ctrl+p",), ("escape",)):
            await pilot.press(*keys)  # screens pushed and popped: their widgets close
            await pilot.pause(2 * SWEEP)
        assert pane in owners(app, "pids")
        assert all(not (o._closing or o._closed) for o in owners(app, "pids"))
        await pilot.press("slash", "1", "enter")  # the filter bar: PID 1
        await settle(pilot)
        assert app.pids is not None
        assert FILTER_NOTE in summary(pane)  # the watcher fired: the pane says the filter does not apply
        await pilot.pause(3 * SWEEP)
        await pilot.press("escape")  # clear the filter
        await settle(pilot)
        assert app.pids is None
        assert FILTER_NOTE not in summary(pane)


async def test_footer_is_right_after_bursts_of_switches_toggles_and_dialogs(monkeypatch) -> None:
    """Keys in one read (tab switches, probe toggles, pause, a dialog opened and closed) at 80x24: the
    Footer shows the bindings in force, each key is bound to the Footer's compact, and no removed
    FooterKey stays alive."""
    monkeypatch.setattr(app_module, "WATCHER_SWEEP_S", SWEEP)
    app = EbpftopApp(Settings(), ScriptedSource())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        seen: weakref.WeakSet[FooterKey] = weakref.WeakSet()
        drawn_total = 0
        bursts = (
            ("right_square_bracket",) * 7 + ("1", "1", "space", "space", "left_square_bracket"),
            ("question_mark", "escape", "right_square_bracket", "right_square_bracket"),
            ("f6", "escape", "left_square_bracket") * 3,
            ("2", "right_square_bracket", "2", "v", "escape", "right_square_bracket") * 2,
        )
        for keys in bursts:
            burst(app, *keys)
            drawn_total += await collect_drawn(pilot, app, seen)
            await pilot.pause(3 * SWEEP)
            await settle(pilot)
            assert app.screen is app.screen_stack[0], keys
            shown = footer_shown(app)
            assert shown and shown == expected_footer(app), keys
            footer = app.screen.query_one(app_module.Footer)
            drawn = list(footer.query(FooterKey))
            assert all(key.compact == footer.compact for key in drawn)
            assert sorted(map(id, owners(footer, "compact"))) == sorted(map(id, drawn)), keys
        gc.collect()
        assert drawn_total > 2 * len(footer_shown(app))  # the bursts redrew the footer
        assert {id(k) for k in seen} == {id(k) for k in app.screen.query(FooterKey)}  # only the drawn ones live


class Watcher(Static):
    """Watches the app's PID filter from on_mount, as XdpPane does."""

    def on_mount(self) -> None:
        self.calls = 0
        self.watch(self.app, "pids", self.changed, init=False)

    def changed(self, _pids: object) -> None:
        self.calls += 1


async def test_a_remounted_widget_and_a_widget_mounted_late_keep_their_watchers(monkeypatch) -> None:
    """Removed, swept, mounted again (Textual reopens it and runs on_mount again): it watches again.
    A widget whose watcher was added before its parent was mounted is live too."""
    monkeypatch.setattr(app_module, "WATCHER_SWEEP_S", SWEEP)
    app = EbpftopApp(Settings(), ScriptedSource())
    async with app.run_test(size=(80, 24)) as pilot:
        widget = Watcher("w")
        await app.screen.mount(widget)
        await pilot.pause()
        await widget.remove()
        await pilot.pause(3 * SWEEP)
        assert widget not in owners(app, "pids")  # swept while removed
        await app.screen.mount(widget)
        await pilot.pause(3 * SWEEP)
        assert owners(app, "pids").count(widget) == 1
        box = Vertical()
        early = Watcher("early")
        box.compose_add_child(early)
        await app.screen.mount(box)
        await pilot.pause(3 * SWEEP)
        app.set_pids(app.parse_filter("1"))
        await settle(pilot)
        assert (widget.calls, early.calls) == (1, 1)


async def test_sweep_over_150_live_watchers_drops_none_and_its_cost(monkeypatch) -> None:
    """~150 nodes, each watching the app's filter: a sweep drops none and every one still fires.
    The time per sweep is printed (a figure for the report, not asserted)."""
    monkeypatch.setattr(app_module, "WATCHER_SWEEP_S", 3600.0)
    app = EbpftopApp(Settings(), ScriptedSource())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        extra = [Watcher(str(i)) for i in range(150 - len(live_nodes(app)))]
        await app.screen.mount_all(extra)
        await settle(pilot)
        nodes = live_nodes(app)
        assert len(nodes) >= 150
        runs = 200
        start = time.perf_counter()
        dropped = sum(prune_watchers(live_nodes(app)) for _ in range(runs))
        per_sweep = (time.perf_counter() - start) / runs
        print(f"\nsweep of {len(nodes)} nodes: {per_sweep * 1e6:.0f} us", file=sys.stderr)
        assert dropped == 0
        app.set_pids(app.parse_filter("1"))
        await settle(pilot)
        assert all(w.calls == 1 for w in extra)


async def test_replay_app_footer_and_its_jump_prompt_leave_no_footer_keys(monkeypatch) -> None:
    """The ReplayApp (--replay) draws the same Footer: steps, speed changes, the jump prompt, tab
    switches in one read; only the drawn FooterKeys stay alive and bound."""
    from tests.ui.test_replay import make_app as make_replay_app

    monkeypatch.setattr(app_module, "WATCHER_SWEEP_S", 3600.0)  # the Footer's own prune only
    app, _source = make_replay_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        seen: weakref.WeakSet[FooterKey] = weakref.WeakSet()
        drawn_total = 0
        for keys in (
            ("full_stop", "right_square_bracket", "greater_than_sign", "right_square_bracket") * 3,
            ("j", "escape", "left_square_bracket", "question_mark", "escape", "space", "space") * 2,
        ):
            burst(app, *keys)
            drawn_total += await collect_drawn(pilot, app, seen)
            await settle(pilot)
            assert app.screen is app.screen_stack[0], keys
            assert footer_shown(app) == expected_footer(app), keys
        footer = app.screen.query_one(app_module.Footer)
        drawn = list(footer.query(FooterKey))
        gc.collect()
        assert drawn_total > 2 * len(drawn)
        assert sorted(map(id, owners(footer, "compact"))) == sorted(map(id, drawn))
        assert {id(k) for k in seen} == {id(k) for k in drawn}
