"""Rate arithmetic shared by every pane: small guarded functions, no I/O."""

from __future__ import annotations


def rate(delta: float, elapsed: float) -> float:
    """delta per second over the measured elapsed time; zero for a zero or negative period."""
    if elapsed <= 0:
        return 0.0
    return delta / elapsed


def counter_delta(previous: int | None, current: int) -> int:
    """Growth of a cumulative counter.

    The first sample (no previous) has no delta; a counter that went down was
    reset (program reloaded, interface recreated), so everything it holds now
    is new.
    """
    if previous is None:
        return 0
    if current < previous:
        return current
    return current - previous


def average(total: float, count: float) -> float:
    """total / count, or zero when nothing was counted."""
    if count <= 0:
        return 0.0
    return total / count
