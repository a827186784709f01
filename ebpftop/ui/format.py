"""Cell formatting: every cell is a rich Text (never markup), numbers right-aligned."""

from __future__ import annotations

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


def num(value: float, precision: int = 1, style: str = "") -> Text:
    return Text(si(value, precision), style=style, justify="right", no_wrap=True)


def count(value: int, style: str = "") -> Text:
    return Text(f"{value:,}", style=style, justify="right", no_wrap=True)


def bytes_per_s(value: float) -> Text:
    return Text(f"{decimal(int(value))}/s", justify="right", no_wrap=True)


def nanos(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.1f}ms"
    if value >= 1e3:
        return f"{value / 1e3:.1f}µs"
    return f"{value:.0f}ns"
