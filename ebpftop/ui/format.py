"""Cell formatting: every cell is a rich Text (never markup), numbers right-aligned."""

from __future__ import annotations

from typing import Any

from rich.filesize import decimal
from rich.text import Text

from ebpftop.model.sanitize import sanitize

_SUFFIXES = ((1e9, "G"), (1e6, "M"), (1e3, "k"))


def safe(text: str, limit: int = 256, style: str = "") -> Text:
    """Untrusted text as a widget cell: sanitized, and a Text so [markup] stays literal."""
    return Text(sanitize(text, limit), style=style, no_wrap=True, overflow="ellipsis")


def si(value: float, precision: int = 1) -> str:
    """1234567 -> '1.2M'; small values keep one decimal unless they are whole."""
    for scale, suffix in _SUFFIXES:
        if abs(value) >= scale:
            return f"{value / scale:.{precision}f}{suffix}"
    if value == int(value):
        return f"{int(value)}"
    return f"{value:.{precision}f}"


# Tables size columns to their content and ignore Text.justify, so
# numeric cells are padded to their column's width instead.
def right(text: str, width: int, style: str = "") -> Text:
    return Text(text.rjust(width), style=style, no_wrap=True)


def num(value: float, width: int = 8, precision: int = 1, style: str = "") -> Text:
    return right(si(value, precision), width, style)


def count(value: int, width: int = 8, style: str = "") -> Text:
    return right(f"{value:,}", width, style)


def bytes_per_s(value: float, width: int = 10) -> Text:
    return right(f"{decimal(int(value))}/s", width)


def spark_label(what: str, history: tuple[float, ...] | list[float]) -> Text:
    """The line over a sparkline: what it plots, over how many intervals, and its scale (the top is the peak)."""
    if not history:
        return Text(f"{what}: no data yet", style="dim", no_wrap=True, overflow="ellipsis")
    label = f"{what}: now {si(history[-1])} · peak {si(max(history))} (graph top) · last {len(history)} intervals"
    return Text(label, style="dim", no_wrap=True, overflow="ellipsis")


def nanos(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.1f}ms"
    if value >= 1e3:
        return f"{value / 1e3:.1f}µs"
    return f"{value:.0f}ns"


def cgroup_name(names: dict[int, Any], cgroup: int) -> str:
    """A cgroup id as shown: its readable name (unit, container, pod, path), '–' when the kernel gave none."""
    if not cgroup:
        return "–"
    known = names.get(cgroup)
    return known.name if known is not None else f"cgroup {cgroup}"


def cgroup_names_of(widget: Any) -> dict[int, Any]:
    """The app's cgroup names (empty outside an app that keeps them, e.g. in a unit test)."""
    try:
        return getattr(widget.app, "cgroup_names", {})
    except Exception:  # noqa: BLE001 - no active app: nothing named
        return {}
