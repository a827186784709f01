"""The PID filter works in the kernel: 50 busy processes, one chosen; the maps only ever see that one."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from tests.kernel.helpers import batch, scaled

BUSY = r"""
import os, sys, tempfile, time
with tempfile.TemporaryFile() as f:
    end = time.monotonic() + float(sys.argv[1])
    while time.monotonic() < end:
        f.write(b"x" * 64)
        os.getppid()
        time.sleep(0.001)
"""


def start_busy(n: int, seconds: float) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-c", BUSY, str(seconds)]) for _ in range(n)]


Seen = Callable[[set[int], set[int]], bool]


def _seen_until(probes: list[Any], enough: Seen, at_least: float = 0.0) -> tuple[set[int], set[int]]:
    """The tgids the two probes' maps held, read after read, until enough(syscall tgids, file tgids)
    and at least ``at_least`` seconds of reads.

    Every read is kept: the filter must hold in each. Reads go on until the busy processes have been
    seen (51 Python start-ups on 2 cores take seconds on a loaded box: a fixed 1 s bet on them).
    """
    sys_seen: set[int] = set()
    files_seen: set[int] = set()
    start = time.monotonic()
    deadline = start + scaled(60)
    while not (enough(sys_seen, files_seen) and time.monotonic() - start >= at_least):
        assert time.monotonic() < deadline, (sys_seen, files_seen)
        time.sleep(0.2)
        syscalls, files = (p.read() for p in probes)
        sys_seen |= {c.tgid for c in syscalls.counts}
        files_seen |= {io.tgid for io in files.io}
    return sys_seen, files_seen


def test_kernel_maps_hold_only_the_filtered_pid() -> None:
    from ebpftop.probes.files import FilesProbe
    from ebpftop.probes.syscalls import SyscallsProbe

    procs = start_busy(51, 600.0)  # killed at the end; long enough for two compiles on a loaded box
    target = procs[0].pid
    probes = [SyscallsProbe(), FilesProbe()]
    try:
        for probe in probes:
            probe.enable()
            probe.set_pid_filter(frozenset({target}))
            probe.read()
        # The target seen by both, and nothing but the target ever, over at least a second of the others' work.
        only_target: Seen = lambda s, f: (target in s and target in f) or bool((s | f) - {target})  # noqa: E731
        sys_seen, files_seen = _seen_until(probes, only_target, at_least=1.0)
        assert sys_seen == {target}
        assert files_seen == {target}
        # Unfiltered, the same maps hold all 51 (and more).
        for probe in probes:
            probe.set_pid_filter(None)
            probe.read()
        pids = {p.pid for p in procs}
        sys_seen, files_seen = _seen_until(probes, lambda s, f: pids <= s and pids <= f)
        assert pids <= sys_seen
        assert pids <= files_seen
    finally:
        for probe in probes:
            probe.disable()
        for p in procs:
            p.kill()
            p.wait()


def test_pid_flag_end_to_end_only_that_pid() -> None:
    procs = start_busy(51, 600.0)  # killed at the end
    target = procs[0].pid
    try:
        with batch("--probes", "files,syscalls", "--interval", "0.5", "--pid", str(target)) as run:
            run.wait_live("syscalls")
            # Four frames at least, and on until the target's syscalls and writes were both in one:
            # four frames alone bet that its interpreter had started by then, 51 start-ups on 2 cores.
            start = len(run.frames)
            deadline = time.monotonic() + scaled(60)
            while True:
                later = run.wait_frames(len(run.frames) + 1)[start:]
                if len(later) >= 4 and any(f["syscalls"] for f in later) and any(f.get("files") for f in later):
                    break
                assert time.monotonic() < deadline, "no frame with the target's syscalls and writes"
            frames = run.stop()
        live = [f for f in frames if f["probes"]["syscalls"]["state"] == "live"]
        assert any(f["syscalls"] for f in live)
        assert {r["pid"] for f in live for r in f.get("syscalls", [])} == {target}
        assert {r["pid"] for f in live for r in f.get("files", [])} <= {target}
        assert any(f.get("files") for f in live)
    finally:
        for p in procs:
            p.kill()
            p.wait()
