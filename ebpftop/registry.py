"""Every probe ebpftop knows, once: its key, its JSON/pane name, title, help line, and how to build its
probe and model lazily (the factories import on call, so this module needs neither bcc nor textual)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Factory = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class ProbeCommand:
    """A request a pane may send its probe: ``verb`` is the probe's method, called with the request's arguments
    (it returns None on success, else a one-line reason)."""

    verb: str
    done: str  # the notice on success, formatted with the arguments
    switch_on: bool = False  # switch the probe on first if it is off


def _files_probe(**kwargs: Any) -> Any:
    from ebpftop.probes.files import FilesProbe

    return FilesProbe(**kwargs)


def _files_model(**kwargs: Any) -> Any:
    from ebpftop.model.files import FilesModel

    return FilesModel(**kwargs)


def _syscalls_probe(**kwargs: Any) -> Any:
    from ebpftop.probes.syscalls import SyscallsProbe

    return SyscallsProbe(**kwargs)


def _syscalls_model(**kwargs: Any) -> Any:
    from ebpftop.model.syscalls import SyscallsModel

    return SyscallsModel(**kwargs)


def _proctree_probe(**kwargs: Any) -> Any:
    from ebpftop.probes.proctree import ProcTreeProbe

    return ProcTreeProbe(**kwargs)


def _proctree_model(**kwargs: Any) -> Any:
    from ebpftop.model.proctree import ProcTreeModel

    return ProcTreeModel(**kwargs)


def _xdp_probe(**kwargs: Any) -> Any:
    from ebpftop.probes.xdp import XdpProbe

    return XdpProbe(**kwargs)


def _xdp_model(**kwargs: Any) -> Any:
    from ebpftop.model.xdp import XdpModel

    return XdpModel(**kwargs)


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    name: str  # used by --probes and shown in the header
    pane_key: str  # key of its data in a Frame and in --batch JSON
    key: str  # the toggle key
    title: str  # its pane's tab title
    probe: Factory  # builds its probe (imports bcc when called)
    model: Factory  # builds its model
    # Probe / model constructor keyword -> Settings attribute it is built from.
    settings_args: tuple[tuple[str, str], ...] = ()
    model_settings_args: tuple[tuple[str, str], ...] = ()
    help: str = ""  # what its pane's rows are, for the help screen
    commands: tuple[ProbeCommand, ...] = ()  # what its pane may ask of it (source.probe_command)

    def command(self, verb: str) -> ProbeCommand | None:
        return next((c for c in self.commands if c.verb == verb), None)

    def make_probe(self, settings: Any = None) -> Any:
        kwargs = {kw: getattr(settings, attr) for kw, attr in self.settings_args} if settings is not None else {}
        return self.probe(**kwargs)

    def make_model(self, settings: Any = None) -> Any:
        kwargs = {kw: getattr(settings, attr) for kw, attr in self.model_settings_args} if settings is not None else {}
        return self.model(**kwargs)


# Order is display order (tabs, header badges, help) and the 1..4 toggle keys.
SPECS: tuple[ProbeSpec, ...] = (
    ProbeSpec(
        "files",
        "files",
        "1",
        "Files",
        _files_probe,
        _files_model,
        help="rows are open files (per path; g: per process); sockets, pipes and ttys included",
    ),
    ProbeSpec(
        "syscalls",
        "syscalls",
        "2",
        "Syscalls",
        _syscalls_probe,
        _syscalls_model,
        help="processes by syscalls per second; top syscalls of each",
    ),
    ProbeSpec(
        "proctree",
        "procs",
        "3",
        "Tree",
        _proctree_probe,
        _proctree_model,
        model_settings_args=(("linger", "proc_linger"),),
        help="the live process tree; exited processes stay dimmed for a while",
    ),
    ProbeSpec(
        "xdp",
        "xdp",
        "4",
        "XDP",
        _xdp_probe,
        _xdp_model,
        settings_args=(("ifaces", "xdp_ifaces"), ("mode", "xdp_mode")),
        model_settings_args=(("asked", "xdp_ifaces"),),
        help="packets per interface and protocol; counts only, never drops",
        commands=(
            ProbeCommand("attach_iface", "xdp counter attached to {}", switch_on=True),
            ProbeCommand("detach_iface", "xdp counter detached from {}"),
        ),
    ),
)

BY_NAME = {s.name: s for s in SPECS}
NAMES = tuple(BY_NAME)
