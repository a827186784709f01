"""Switching a probe off keeps what it counted since its last read: the partial interval goes out in a frame.

Before, the sampler detached the probe and its maps went with it: everything counted since the last
frame was dropped, so a --metrics counter or a recording running beside the TUI missed it. Here the
interval is long (60 s), so no scheduled frame comes between the workload and the toggle: every
event below can reach a frame only through the toggle.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from ebpftop.model import frame as fr
from ebpftop.registry import SPECS
from ebpftop.sampler import Sampler
from ebpftop.settings import Settings
from tests.kernel.test_toggles import Watcher
from tests.kernel.workloads import getppid_loop

CALLS = 4321
WRITES = 777

# Renames itself, writes WRITES times 3 bytes to argv[1], then execs /bin/true with a marker argument.
WRITER = r"""
import ctypes, os, sys
ctypes.CDLL(None).prctl(15, b"partial-writer", 0, 0, 0)
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
for _ in range(int(sys.argv[2])):
    os.write(fd, b"abc")
os.close(fd)
os.execv("/bin/true", ["/bin/true", "partial-marker"])
"""


def getppid_calls(frames: list[Any], pid: int) -> int:
    """The getppid calls of process pid over these frames' syscalls panes."""
    return sum(
        t.count
        for f in frames
        if "syscalls" in f.panes
        for row in f.panes["syscalls"].rows
        if row.pid == pid
        for t in row.top
        if t.name == "getppid"
    )


class Frames:
    def __init__(self) -> None:
        self.frames: list[Any] = []
        self.lock = threading.Lock()

    def on_frame(self, frame: Any) -> None:
        with self.lock:
            self.frames.append(frame)

    def taken(self) -> list[Any]:
        with self.lock:
            return list(self.frames)


def test_switching_each_probe_off_emits_what_it_counted_since_its_last_read(tmp_path: Path) -> None:
    names = ("files", "syscalls", "proctree")
    got, watcher = Frames(), Watcher()
    sampler = Sampler(SPECS, names, 60.0, on_frame=got.on_frame, on_status=watcher.on_status, settings=Settings())
    sampler.start()
    try:
        for name in names:
            watcher.wait(name, fr.LIVE, timeout=120)
        target = tmp_path / "partial.out"
        writer = subprocess.run([sys.executable, "-c", WRITER, str(target), str(WRITES)], timeout=60, check=True)
        assert writer.returncode == 0
        loop_pid = getppid_loop("partial-loop", CALLS)
        assert got.taken() == []  # 60 s interval: nothing has been emitted yet
        for name in names:
            sampler.toggle(name)
            watcher.wait(name, fr.OFF)
    finally:
        sampler.stop()
        sampler.join(30)
    frames = got.taken()
    # One parting frame per toggle; in each, the probe being switched off is still live.
    assert [sum(p.state == fr.LIVE for p in f.probes) for f in frames] == [3, 2, 1]

    assert getppid_calls(frames, loop_pid) == CALLS

    path = str(target)
    io = [i for f in frames if "files" in f.panes for i in f.panes["files"].io if i.path == path]
    assert sum(i.writes for i in io) == WRITES
    assert sum(i.write_bytes for i in io) == 3 * WRITES
    assert {i.comm for i in io} == {"partial-writer"}

    events = [e for f in frames if "procs" in f.panes for e in f.panes["procs"].events]
    execs = [e for e in events if e.type == "exec" and e.argv == ("/bin/true", "partial-marker")]
    assert len(execs) == 1
    exits = [e for e in events if e.type == "exit" and e.pid == execs[0].pid]
    assert len(exits) == 1 and exits[0].exit_code == 0


def test_a_toggled_files_probe_caps_its_reads_again_once_back_on(tmp_path: Path) -> None:
    """The parting read takes every drain at once (finish()). Switched on again, a read must stop at
    interval_keys again, or a burst's frame is unbounded: the flag finish() set outlived the toggle."""
    from ebpftop.probes.files import FilesProbe

    probe = FilesProbe(interval_keys=8)
    probe.enable()
    try:
        probe.finish()
        probe.read()
    finally:
        probe.disable()
    probe.enable()
    try:
        for batch in range(5):  # five drains of 20 new files each
            for i in range(20):
                fd = os.open(tmp_path / f"{batch}-{i}", os.O_WRONLY | os.O_CREAT, 0o600)
                os.write(fd, b"x")
                os.close(fd)
            probe.collect()
        reads = []
        for _ in range(10):
            ours = [io for io in probe.read().io if io.path.startswith(f"{tmp_path}/")]
            reads.append(len(ours))
            if sum(reads) >= 100:
                break
    finally:
        probe.disable()
    assert sum(reads) == 100, reads  # every file, each once
    assert reads[0] < 100, reads  # but not in one read: the cap holds again


def test_frames_keep_coming_while_a_toggled_probe_compiles() -> None:
    """A probe switched on compiles for seconds (minutes under emulation) in a child process; the
    other probes' frames fell due meanwhile and waited, every pane paused. Now they go out on time,
    and the syscalls counted during the compile are in them, exactly."""
    got, watcher = Frames(), Watcher()
    sampler = Sampler(
        SPECS, ("syscalls",), 0.1, on_frame=got.on_frame, on_status=watcher.on_status, settings=Settings()
    )
    sampler.start()
    try:
        watcher.wait("syscalls", fr.LIVE, timeout=120)
        sampler.toggle("files")
        watcher.wait("files", fr.LOADING)
        loop_pid = getppid_loop("compile-loop", CALLS)  # runs to its end during the compile
        watcher.wait("files", fr.LIVE, timeout=120)
    finally:
        sampler.stop(flush=True)
        sampler.join(30)
    frames = got.taken()
    state = {f.time: {p.name: p.state for p in f.probes} for f in frames}
    during = [f for f in frames if state[f.time]["files"] == fr.LOADING]
    assert len(during) >= 2, [state[f.time]["files"] for f in frames]  # the compile takes > 0.2 s
    assert all(state[f.time]["syscalls"] == fr.LIVE and "syscalls" in f.panes for f in during)
    assert getppid_calls(frames, loop_pid) == CALLS
