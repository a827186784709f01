"""The panes the app shows, in tab order: (pane_key in a Frame, tab title, widget class).

Every pane widget has ``show(data | None)``, ``sort_next()``, ``sort_reverse()``
and ``selected_pid() -> int | None``.
"""

from __future__ import annotations

from ebpftop.ui.files_pane import FilesPane
from ebpftop.ui.proctree_pane import ProcTreePane
from ebpftop.ui.syscalls_pane import SyscallsPane
from ebpftop.ui.xdp_pane import XdpPane

PANES: tuple[tuple[str, str, type], ...] = (
    ("files", "Files", FilesPane),
    ("syscalls", "Syscalls", SyscallsPane),
    ("procs", "Tree", ProcTreePane),
    ("xdp", "XDP", XdpPane),
)
