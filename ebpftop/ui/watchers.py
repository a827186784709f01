"""Watchers a removed widget leaves behind, and the Footer that leaked through them.

Textual keeps ``self.watch(other, "attr", ...)`` and ``data_bind`` as an
entry ``(widget, callback)`` on the *watched* object, and drops the entry of a
closed widget only when that attribute next changes (``Reactive._check_watchers``).
An attribute that never changes keeps every watcher it ever had, and with it
the removed widget and its render caches (Textualize/textual#6666, open in 8.2).

The case that hit us: ``Footer.compose`` binds each ``FooterKey`` to the
Footer's ``compact``, and the Footer recomposes at every change of the
bindings (a tab switch, a probe toggle, a dialog). ``compact`` never changes,
so every FooterKey ever drawn stayed alive: 24 per tab switch, with their
Strips, about 2 MiB a minute in the soak (the RSS slope of #17).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.dom import DOMNode
from textual.widgets import Footer as TextualFooter

WATCHERS = "__watchers"  # the attribute name textual.reactive._watch stores them under


def prune_watchers(nodes: Iterable[Any]) -> int:
    """Drop the watcher entries of closed nodes from each of ``nodes``; how many were dropped."""
    dropped = 0
    for node in nodes:
        table = getattr(node, WATCHERS, None)
        if not table:
            continue
        for entries in table.values():
            kept = [(owner, callback) for owner, callback in entries if not (owner._closing or owner._closed)]
            dropped += len(entries) - len(kept)
            entries[:] = kept
    return dropped


def live_nodes(app: Any) -> list[DOMNode]:
    """The app, every screen on its stack, and all their widgets: whatever a widget may have watched."""
    nodes: list[DOMNode] = [app]
    for screen in app.screen_stack:
        nodes.append(screen)
        nodes.extend(screen.walk_children(with_self=False))
    return nodes


class Footer(TextualFooter):
    """Textual's Footer, minus the FooterKeys each recompose left bound to it."""

    async def recompose(self) -> None:
        await super().recompose()
        prune_watchers((self,))
