"""The terminal goes away or stops reading under a running TUI: a signal still ends ebpftop, nothing stays attached.

Found while benchmarking: a TUI whose pty nobody read any more blocked for
good. Textual's output thread sat on a full pty, the UI thread on the full
output queue, the loop-based signal handler never ran, and the sampler's
frames piled up in the app's message queue (1.2 GB after eight minutes).
Now a frame mailbox keeps one frame at most, the handler is a plain Python
one, and if the app cannot end within its grace time the probes are detached
from another thread and the process leaves.
"""

from __future__ import annotations

import fcntl
import os
import re
import signal
import struct
import sys
import termios
import time

import pytest

from tests.kernel.helpers import prog_ids_of, wait_progs_gone
from tests.kernel.test_hostile_tty import _read_until, _spawn_in_pty

RSS_CAP_KIB = 400 * 1024  # normal all-probe RSS is ~95 MiB (the compiler runs in a child process)


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@pytest.mark.parametrize("how", ["terminal closed", "terminal stalled, then SIGTERM"])
def test_lost_terminal_ends_ebpftop_and_detaches_everything(how: str) -> None:
    proc, master = _spawn_in_pty(
        [sys.executable, "-m", "ebpftop", "--probes", "syscalls,proctree,files", "--interval", "0.25"]
    )
    out = bytearray()
    peak = 0
    try:
        # Compiled, attached, frames drawn: a condition, not a fixed wait (compiles take
        # seconds each on a busy box).
        from tests.kernel.floods import LIVE, screen_text

        deadline = time.monotonic() + 90
        while not all(LIVE[n].search(screen_text(bytes(out))) for n in ("syscalls", "proctree", "files")):
            assert time.monotonic() < deadline and proc.poll() is None, "probes not live"
            _read_until(master, out, 0.2)
        held = set(prog_ids_of(proc.pid))
        assert held, "ebpftop holds no BPF programs"
        if how == "terminal closed":
            os.close(master)  # the kernel hangs up the session: SIGHUP
            master = -1
        else:
            # Nobody reads the pty any more (a stalled SSH link, ^S): frames keep coming
            # until the pty buffer and Textual's output queue are full.
            for _ in range(40):
                peak = max(peak, _rss_kib(proc.pid))
                time.sleep(0.25)
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30  # a liveness bound, not a timing assert
        while proc.poll() is None and time.monotonic() < deadline:
            peak = max(peak, _rss_kib(proc.pid))
            time.sleep(0.2)
        assert proc.poll() is not None, f"ebpftop kept running ({how})"
        assert peak < RSS_CAP_KIB, f"RSS grew to {peak} KiB"
        assert wait_progs_gone(held) == set()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        if master >= 0:
            os.close(master)


# On the old code (Textual's Python SIGWINCH handler, which CPython re-enters when a signal lands
# while it runs) this flood killed the TUI in one run of two here; fewer senders rarely did.
WINCH_FLOODERS, WINCH_ROUNDS = 8, 40000
# Sends SIGWINCH as fast as it can, resizing the pty between bursts (argv: pid, master fd, rounds).
WINCH_FLOOD = r"""
import fcntl, os, signal, struct, sys, termios
pid, master, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
sizes = [(40, 160), (20, 80), (50, 200), (10, 40), (24, 100)]
for i in range(rounds):
    rows, cols = sizes[i % len(sizes)]
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    for _ in range(20):
        os.kill(pid, signal.SIGWINCH)
"""


def test_sigwinch_flood_with_size_changes_keeps_the_tui_alive() -> None:
    """A flood of resizes (a tiling WM, a script) while frames arrive: the TUI survives and still quits on q.

    Each TIOCSWINSZ on the master signals the foreground process group, and
    the bursts of kill() make signals land while the previous one is handled.
    COLUMNS/LINES are unset so the app reads the pty's real, changing size.
    """
    import subprocess

    from tests.kernel.floods import LIVE, read_until, tui

    with tui(
        ["--probes", "syscalls,files,proctree", "--interval", "0.25"], prefix=("env", "-u", "COLUMNS", "-u", "LINES")
    ) as t:
        t.wait_for(LIVE["syscalls"], timeout=60)
        held = set(prog_ids_of(t.proc.pid))
        floods = [
            subprocess.Popen(
                [sys.executable, "-c", WINCH_FLOOD, str(t.proc.pid), str(t.master), str(WINCH_ROUNDS)],
                pass_fds=(t.master,),
            )
            for _ in range(WINCH_FLOODERS)
        ]
        while any(f.poll() is None for f in floods) and t.proc.poll() is None:
            read_until(t.master, t.out, 0.05)  # keep the terminal read: this is not a stall test
        assert t.proc.poll() is None, f"TUI died in the SIGWINCH flood: {bytes(t.out[-3000:])!r}"
        for f in floods:
            assert f.wait(60) == 0
        # The sizes still reach the app after the flood: a last, known size is
        # drawn (rows past the first 40 exist only at 50x200). Which of the
        # flood's sizes were drawn depends on how the resizes were coalesced.
        since = len(t.out)
        fcntl.ioctl(t.master, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
        os.kill(t.proc.pid, signal.SIGWINCH)
        end = time.monotonic() + 60
        while not re.search(rb"\x1b\[(4[1-9]|50);[0-9]+H", bytes(t.out[since:])):
            assert time.monotonic() < end and t.proc.poll() is None, "the 50x200 size was not drawn"
            read_until(t.master, t.out, 0.2)
        since = len(t.out)
        t.wait_for(LIVE["syscalls"], since=since, timeout=60)  # still drawing frames
        rc = t.quit()
        assert rc == 0, bytes(t.out[-3000:])
        assert b"Traceback" not in t.out and b"RecursionError" not in t.out
        assert wait_progs_gone(held) == set()
