"""F6: a menu of the active pane's sort orders, and htop's P/M/T sort letters, for every pane."""

from __future__ import annotations

from typing import Any

from ebpftop.ui.menu import MenuScreen

# htop's letters: P by CPU (here: the pane's rate), M by memory, T by time. Each
# pane maps the ones that fit to one of its sort choices (``HTOP_SORTS``).
HTOP_MEANING = {"P": "rate (htop: CPU%)", "M": "size (htop: memory)", "T": "time (htop: TIME+)"}


def sort_choices(pane: Any) -> list[str]:
    """The pane's sort orders by name, in the order ``s`` cycles through them."""
    if hasattr(pane, "sort_choices"):
        return list(pane.sort_choices())
    return [c.label for c in pane.COLUMNS]  # a SortableTable


def current_sort(pane: Any) -> int | None:
    if hasattr(pane, "current_sort"):
        return pane.current_sort()
    return pane.sort_index


def apply_sort(pane: Any, index: int) -> None:
    if hasattr(pane, "set_sort"):
        pane.set_sort(index)
        return
    pane.sort_index, pane.reverse = index, False
    pane.refresh_rows()


def htop_sort(pane: Any, letter: str, pane_title: str) -> str:
    """Sort the pane by htop's letter; returns the line to show (what it sorted by, or why it cannot)."""
    target = getattr(pane, "HTOP_SORTS", {}).get(letter)
    if target is None:
        fits = ", ".join(f"{k}: {v}" for k, v in getattr(pane, "HTOP_SORTS", {}).items()) or "none"
        return f"{letter} sorts by {HTOP_MEANING[letter]}: the {pane_title} pane has no such column (here {fits})"
    choices = sort_choices(pane)
    apply_sort(pane, choices.index(target))
    return f"sorted by {target}"


class SortMenu(MenuScreen[int]):
    """Dismisses with the chosen sort's index in ``sort_choices``."""

    def __init__(self, pane_title: str, choices: list[str], current: int | None) -> None:
        super().__init__(f"Sort the {pane_title} pane by", [(c, i) for i, c in enumerate(choices)], current or 0)
