"""The real TUI in a pty, with hostile names on screen: no payload reaches the terminal raw, exit restores it."""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

import pytest

from tests.kernel.helpers import ROOT, prog_ids_of, wait_progs_gone

# comm is 15 bytes at most: an OSC 0 title change; a C1 CSI (0x9b) after ESC[2J.
HOSTILE_COMMS = (b"\x1b]0;EVIL\x07", b"\x1b[2J\x9b31mX")
# A file name with OSC 52 (clipboard), a BiDi override, markup and a newline.
HOSTILE_FILE = "\x1b]52;c;RVZJTA==\x07\u202e[link=https:e]y\n.log"
# argv with an OSC 8 hyperlink.
HOSTILE_ARG = "\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\"

WORKLOAD = r"""
import ctypes, os, sys, time
ctypes.CDLL(None).prctl(15, sys.argv[1].encode("latin-1"), 0, 0, 0)
path = sys.argv[2]
end = time.monotonic() + float(sys.argv[3])
while time.monotonic() < end:
    with open(path, "ab") as f:
        f.write(b"x" * 100)
    os.getppid()
    time.sleep(0.02)
"""

RAW_PAYLOADS = (
    b"\x1b]0;EVIL",
    b"\x9b31m",
    b"\xc2\x9b31m",
    b"\x1b]52;c;RVZJTA",
    "\u202e".encode(),
    b"\x1b]8;;http://evil",
)


def _spawn_in_pty(args: list[str], cols: int = 160, rows: int = 40) -> tuple[subprocess.Popen[bytes], int]:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    proc = subprocess.Popen(
        args,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=ROOT,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": str(cols), "LINES": str(rows)},
        start_new_session=True,
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
    )
    os.close(slave)
    return proc, master


def _read_until(master: int, out: bytearray, seconds: float) -> None:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        ready, _, _ = select.select([master], [], [], min(left, 0.1))
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            out.extend(chunk)


@pytest.mark.parametrize("how", ["q", "SIGTERM", "SIGHUP", "SIGQUIT"])
def test_hostile_strings_never_reach_the_terminal_raw(how: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp, HOSTILE_FILE))
        workers = [
            subprocess.Popen([sys.executable, "-c", WORKLOAD, comm.decode("latin-1"), path, "30"])
            for comm in HOSTILE_COMMS
        ]
        spawner = subprocess.Popen(
            ["sh", "-c", 'while :; do /bin/echo "$0" >/dev/null; sleep 0.1; done', HOSTILE_ARG]
        )
        proc, master = _spawn_in_pty([sys.executable, "-m", "ebpftop", "--probes", "files,syscalls,proctree"])
        out = bytearray()
        try:
            _read_until(master, out, 8.0)  # compile, attach, a few frames of the Files pane
            for _ in range(3):  # Syscalls, Tree, XDP: only the visible tab is drawn
                os.write(master, b"]")
                _read_until(master, out, 2.5)
            held = set(prog_ids_of(proc.pid))
            assert held, "ebpftop holds no BPF programs"
            if how == "q":
                os.write(master, b"q")
            else:
                proc.send_signal(getattr(signal, how))
            deadline = time.monotonic() + 20
            while proc.poll() is None and time.monotonic() < deadline:
                _read_until(master, out, 0.2)
            _read_until(master, out, 0.5)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
            os.close(master)
            for w in (*workers, spawner):
                w.kill()
                w.wait()
    assert proc.returncode == 0, bytes(out[-2000:])
    for payload in RAW_PAYLOADS:
        assert payload not in out, payload
    # The names are on screen as visible text (an escaped ESC, literally).
    assert b"\\x1b]0;EVIL" in out
    # The terminal is given back: alternate screen left, cursor shown.
    tail = bytes(out[-4000:])
    assert b"\x1b[?1049l" in tail
    # Nothing ebpftop loaded is still in the kernel.
    assert wait_progs_gone(held) == set()
