"""The panes the app shows, in tab order: (pane_key in a Frame, tab title, widget class).

Keys, titles and order come from the registry; this module only says which widget draws which probe's
data. Every pane is a :class:`ebpftop.ui.pane.Pane`.
"""

from __future__ import annotations

from ebpftop.registry import SPECS
from ebpftop.ui.files_pane import FilesPane
from ebpftop.ui.pane import Pane
from ebpftop.ui.proctree_pane import ProcTreePane
from ebpftop.ui.syscalls_pane import SyscallsPane
from ebpftop.ui.xdp_pane import XdpPane

PANE_CLASSES: dict[str, type[Pane]] = {  # probe name -> the widget that draws its data
    "files": FilesPane,
    "syscalls": SyscallsPane,
    "proctree": ProcTreePane,
    "xdp": XdpPane,
}

PANES: tuple[tuple[str, str, type[Pane]], ...] = tuple((s.pane_key, s.title, PANE_CLASSES[s.name]) for s in SPECS)
