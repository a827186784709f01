"""The live frame source: a Sampler thread behind the UI's FrameSource protocol."""

from __future__ import annotations

from ebpftop.model.frame import Frame, ProbeStatus
from ebpftop.registry import SPECS
from ebpftop.sampler import Sampler
from ebpftop.settings import Settings
from ebpftop.ui.source import FrameSink, NoticeSink, StatusSink


class LiveSource:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sampler: Sampler | None = None

    def start(self, on_frame: FrameSink, on_status: StatusSink, on_notice: NoticeSink) -> None:
        self.sampler = Sampler(
            SPECS,
            self.settings.probes,
            self.settings.interval,
            on_frame,
            on_status=on_status,
            pids=self.settings.pids,
            stats=self.settings.bpf_stats,
            settings=self.settings,
            on_notice=on_notice,
        )
        self.sampler.start()

    def toggle(self, name: str) -> None:
        if self.sampler:
            self.sampler.toggle(name)

    def set_interval(self, seconds: float) -> None:
        if self.sampler:
            self.sampler.set_interval(seconds)

    def set_pids(self, pids: frozenset[int] | None) -> None:
        if self.sampler:
            self.sampler.set_pids(pids)

    def set_iface(self, ifname: str, attach: bool) -> None:
        if self.sampler:
            self.sampler.set_iface(ifname, attach)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop and wait until every probe is detached."""
        if self.sampler is not None:
            self.sampler.stop()
            self.sampler.join(timeout)


__all__ = ["LiveSource", "Frame", "ProbeStatus"]
