"""Every probe ebpftop knows: its key, its JSON/pane name, and how to build its probe and model lazily."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    name: str  # used by --probes and shown in the header
    pane_key: str  # key of its data in a Frame and in --batch JSON
    key: str  # the toggle key
    title: str
    probe: str  # "module:Class" under ebpftop.probes (imports bcc when built)
    model: str  # "module:Class" under ebpftop.model
    # Probe / model constructor keyword -> Settings attribute it is built from.
    settings_args: tuple[tuple[str, str], ...] = ()
    model_settings_args: tuple[tuple[str, str], ...] = ()

    def make_probe(self, settings: Any = None) -> Any:
        kwargs = {kw: getattr(settings, attr) for kw, attr in self.settings_args} if settings is not None else {}
        return _load(self.probe)(**kwargs)

    def make_model(self, settings: Any = None) -> Any:
        kwargs = {kw: getattr(settings, attr) for kw, attr in self.model_settings_args} if settings is not None else {}
        return _load(self.model)(**kwargs)


def _load(path: str) -> Callable[[], Any]:
    module, _, attr = path.partition(":")
    return getattr(import_module(module), attr)


# Order is display order and the 1..4 toggle keys.
SPECS: tuple[ProbeSpec, ...] = (
    ProbeSpec(
        "files",
        "files",
        "1",
        "Files",
        "ebpftop.probes.files:FilesProbe",
        "ebpftop.model.files:FilesModel",
    ),
    ProbeSpec(
        "syscalls",
        "syscalls",
        "2",
        "Syscalls",
        "ebpftop.probes.syscalls:SyscallsProbe",
        "ebpftop.model.syscalls:SyscallsModel",
    ),
    ProbeSpec(
        "proctree",
        "procs",
        "3",
        "Tree",
        "ebpftop.probes.proctree:ProcTreeProbe",
        "ebpftop.model.proctree:ProcTreeModel",
        model_settings_args=(("linger", "proc_linger"),),
    ),
    ProbeSpec(
        "xdp",
        "xdp",
        "4",
        "XDP",
        "ebpftop.probes.xdp:XdpProbe",
        "ebpftop.model.xdp:XdpModel",
        settings_args=(("ifaces", "xdp_ifaces"), ("mode", "xdp_mode")),
    ),
)

BY_NAME = {s.name: s for s in SPECS}
NAMES = tuple(BY_NAME)
