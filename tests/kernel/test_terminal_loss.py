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

import os
import signal
import sys
import time

import pytest

from tests.kernel.helpers import prog_ids_of, wait_progs_gone
from tests.kernel.test_hostile_tty import _read_until, _spawn_in_pty

RSS_CAP_KIB = 400 * 1024  # normal all-probe RSS is ~150-190 MiB (bcc + LLVM ~70 MiB of it)


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
        _read_until(master, out, 6.0)  # compiled, attached, frames drawn
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
