"""A FrameSource driven by the test: frames are pushed by hand, requests are recorded."""

from __future__ import annotations

from ebpftop.model.frame import LIVE, Frame, ProbeStatus
from ebpftop.model.syscalls import SyscallCount, SyscallSample, SyscallsModel
from ebpftop.registry import SPECS
from ebpftop.ui.source import FrameSink, NoticeSink, StatusSink

HOSTILE = "\x1b[2J[bold]x"


class ScriptedSource:
    def __init__(self) -> None:
        self.on_frame: FrameSink | None = None
        self.on_status: StatusSink | None = None
        self.toggled: list[str] = []
        self.intervals: list[float] = []
        self.pids: list[frozenset[int] | None] = []
        self.commands: list[tuple[object, ...]] = []
        self.stopped = False

    def start(self, on_frame: FrameSink, on_status: StatusSink, on_notice: NoticeSink) -> None:
        self.on_frame, self.on_status, self.on_notice = on_frame, on_status, on_notice
        on_status(tuple(ProbeStatus(s.name, LIVE) for s in SPECS))

    def emit(self, frame: Frame) -> None:
        assert self.on_frame is not None
        self.on_frame(frame)

    def toggle(self, name: str) -> None:
        self.toggled.append(name)

    def set_interval(self, seconds: float) -> None:
        self.intervals.append(seconds)

    def set_pids(self, pids: frozenset[int] | None) -> None:
        self.pids.append(pids)

    def probe_command(self, name: str, verb: str, *args: object) -> None:
        self.commands.append((name, verb, *args))

    def stop(self) -> None:
        self.stopped = True


def syscall_frame(model: SyscallsModel | None = None, elapsed: float = 1.0, extra_pid: int | None = None) -> Frame:
    """A fixed frame: four processes, one of them named with an escape sequence and markup (plus extra_pid)."""
    counts: tuple[SyscallCount, ...] = (
        SyscallCount(4242, 110, "getppid", 200_000, "getppid-loop"),
        SyscallCount(4242, 1, "write", 12, "getppid-loop"),
        SyscallCount(1337, 0, "read", 5_000, HOSTILE),
        SyscallCount(1337, 232, "epoll_wait", 900, HOSTILE),
        SyscallCount(1, 7, "poll", 40, "systemd"),
        SyscallCount(777, 202, "futex", 1_234, "[link=http://x]y"),
    )
    if extra_pid is not None:
        counts += (SyscallCount(extra_pid, 39, "getpid", 1, "extra"),)
    table = (model or SyscallsModel()).update(SyscallSample(counts), elapsed)
    statuses = tuple(
        ProbeStatus(s.name, LIVE, events_per_s=207_186.0, avg_ns=41.5, cpu_pct=0.86) for s in SPECS
    )
    return Frame(time=1_700_000_000.0, elapsed=elapsed, probes=statuses, panes={"syscalls": table}, self_cpu_pct=1.2)
