"""Turning what a user typed ('1234,nginx') into PIDs that exist now, with a reason when it can't."""

from __future__ import annotations


def parse_pids(text: str) -> frozenset[int]:
    """'123,456' or process names ('nginx') -> PIDs that exist now; ValueError with the reason otherwise."""
    import psutil

    pids: set[int] = set()
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        if item.isdigit():
            pid = int(item)
            if pid <= 0 or not psutil.pid_exists(pid):
                raise ValueError(f"no process with PID {pid}")
            pids.add(pid)
            continue
        if item.startswith("-") and item[1:].isdigit():
            raise ValueError(f"a PID must be positive, not {item}")
        matches = {p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == item}
        if not matches:
            raise ValueError(f"no process named {item!r}")
        pids |= matches
    if not pids:
        raise ValueError("no PID given")
    return frozenset(pids)


def describe(pids: frozenset[int] | None, limit: int = 6) -> str:
    """'123, 456 (+3 more)' for the header."""
    if not pids:
        return ""
    ordered = sorted(pids)
    text = ", ".join(map(str, ordered[:limit]))
    if len(ordered) > limit:
        text += f" (+{len(ordered) - limit} more)"
    return text
