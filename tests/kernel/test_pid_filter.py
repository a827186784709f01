"""The PID filter works in the kernel: 50 busy processes, one chosen; the maps only ever see that one."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.kernel.helpers import batch

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


def test_kernel_maps_hold_only_the_filtered_pid() -> None:
    from ebpftop.probes.files import FilesProbe
    from ebpftop.probes.syscalls import SyscallsProbe

    procs = start_busy(51, 60.0)  # killed at the end; long enough for two compiles on a loaded box
    target = procs[0].pid
    probes = [SyscallsProbe(), FilesProbe()]
    try:
        for probe in probes:
            probe.enable()
            probe.set_pid_filter(frozenset({target}))
            probe.read()
        time.sleep(1.0)
        syscalls, files = (p.read() for p in probes)
        assert {c.tgid for c in syscalls.counts} == {target}
        assert {io.tgid for io in files.io} == {target}
        # Unfiltered, the same maps hold all 51 (and more).
        for probe in probes:
            probe.set_pid_filter(None)
            probe.read()
        time.sleep(1.0)
        syscalls, files = (p.read() for p in probes)
        pids = {p.pid for p in procs}
        assert pids <= {c.tgid for c in syscalls.counts}
        assert pids <= {io.tgid for io in files.io}
    finally:
        for probe in probes:
            probe.disable()
        for p in procs:
            p.kill()
            p.wait()


def test_pid_flag_end_to_end_only_that_pid() -> None:
    procs = start_busy(51, 60.0)
    target = procs[0].pid
    try:
        with batch("--probes", "files,syscalls", "--interval", "0.5", "--pid", str(target)) as run:
            run.wait_live("syscalls")
            frames = run.wait_frames(len(run.frames) + 4)
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
