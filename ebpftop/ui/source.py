"""What the app needs from whatever produces frames: the live sampler, a replay, or a test script."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ebpftop.model.frame import Frame, ProbeStatus
from ebpftop.pids import PidFilter

FrameSink = Callable[[Frame], None]
StatusSink = Callable[[tuple[ProbeStatus, ...]], None]
NoticeSink = Callable[[str], None]


class FrameSource(Protocol):
    """Started once by the app with two thread-safe sinks; every other call is a request."""

    def start(self, on_frame: FrameSink, on_status: StatusSink, on_notice: NoticeSink) -> None: ...

    def toggle(self, name: str) -> None: ...

    def set_interval(self, seconds: float) -> None: ...

    def set_pids(self, pids: PidFilter | None) -> None: ...

    def probe_command(self, name: str, verb: str, *args: Any) -> None: ...

    def stop(self) -> None: ...
