"""--batch whose stdout nobody reads: INT, TERM and HUP still end it, and every program is detached.

Found by issue 12: the sampler thread wrote each frame to stdout itself, so
once the pipe was full it sat in write() for good, the signal handler's stop
command was never read, and all programs stayed attached.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import termios
import time

import pytest

from tests.kernel.helpers import ROOT, ebpftop_cmd, prog_ids_of, wait_progs_gone

LIVENESS = 60.0  # a bound for the test only (compiles on a busy 2-core box), never a timing assert
F_SETPIPE_SZ, F_GETPIPE_SZ = 1031, 1032


def _queued(fd: int) -> int:
    """Bytes waiting in the pipe behind fd (its read end)."""
    return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"), "little")


def _wait(cond, what: str, timeout: float = LIVENESS) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_signal_ends_batch_whose_stdout_is_never_read(sig: signal.Signals) -> None:
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, F_SETPIPE_SZ, 4096)  # one page: full after the first frames
    capacity = fcntl.fcntl(write_end, F_GETPIPE_SZ)
    proc = subprocess.Popen(
        ebpftop_cmd("--batch", "--interval", "0.1"),
        stdout=write_end,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    os.close(write_end)
    try:
        # Frames flow until the pipe is full; the probes are live by then.
        _wait(lambda: _queued(read_end) >= capacity or proc.poll() is not None, "stdout pipe filled")
        assert proc.poll() is None, proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        held = set(prog_ids_of(proc.pid))
        assert len(held) >= 4, "ebpftop holds too few BPF programs"
        # More frames are due while the pipe stays full: the old code's sampler is now stuck in write().
        frames_due = time.monotonic() + 1.0
        _wait(lambda: time.monotonic() > frames_due, "a second of frames into the full pipe")
        proc.send_signal(sig)
        try:
            rc = proc.wait(LIVENESS)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"ebpftop --batch ignored {sig.name} with its stdout full") from None
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        assert "Traceback" not in err, err
        assert rc == 1, err  # frames were not delivered: not a success
        # Either the orderly end (probes detached by the sampler, the frames left counted) or, on a
        # box too busy to detach within the grace time, the emergency exit: one line each.
        notes = [ln for ln in err.splitlines() if "not written: stdout was not read" in ln or "still running" in ln]
        assert len(notes) == 1 and notes[0].startswith("ebpftop: "), err
        assert wait_progs_gone(held) == set()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        os.close(read_end)


def test_signal_ends_batch_whose_stdout_and_stderr_are_one_unread_pipe() -> None:
    """`ebpftop --batch 2>&1 | stalled`: even the notes cannot be written; the signal still ends it."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, F_SETPIPE_SZ, 4096)
    capacity = fcntl.fcntl(write_end, F_GETPIPE_SZ)
    proc = subprocess.Popen(ebpftop_cmd("--batch", "--interval", "0.1"), stdout=write_end, stderr=write_end, cwd=ROOT)
    os.close(write_end)
    try:
        _wait(lambda: _queued(read_end) >= capacity or proc.poll() is not None, "pipe filled")
        assert proc.poll() is None
        held = set(prog_ids_of(proc.pid))
        assert len(held) >= 4
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(LIVENESS)
        except subprocess.TimeoutExpired:
            raise AssertionError("ebpftop --batch ignored SIGTERM with stdout and stderr full") from None
        assert rc == 1
        assert wait_progs_gone(held) == set()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        os.close(read_end)
