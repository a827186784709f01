"""The TUI in a pty for the kernel matrix: it starts, every probe goes live, `q` quits it with exit 0.

Runs with the harness venv's Python (it needs `pyte`, a terminal emulator, to read the screen the TUI
drew), and starts ebpftop with the checkout's own .venv: `tui_smoke.py CHECKOUT_PYTHON`.
The TUI runs in its own network namespace, so XDP attaches to that namespace's `lo` only.
Exit 0 when the header showed all four probes past `loading`, each pane drew its own heading after `]`
moved to it, and `q` ended the TUI with exit 0.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time

import pyte

# The TUI compiles its four probes one after another: ~20 s on the host, minutes under TCG (6.1 guest: still
# compiling the third after 240 s), so the wait follows the tests' time scale.
TIMESCALE = float(os.environ.get("EBPFTOP_TEST_TIMESCALE") or 1)
TIMEOUT = float(os.environ.get("EBPFTOP_TUI_SMOKE_TIMEOUT") or 60 * TIMESCALE)
QUIT_TIMEOUT = float(os.environ.get("EBPFTOP_TUI_SMOKE_QUIT_TIMEOUT") or TIMEOUT)  # a diagnosis: stacks sooner
COLS, ROWS = 160, 50
# The tabs after Files, in `]` order, each with a heading only its pane draws; Files last (wrapped round).
PANES = (("syscalls", "TOP SYSCALLS"), ("tree", "forks/s"), ("xdp", "RX PKT/s"), ("files", "WRITE B/s"))
# ebpftop started so that SIGUSR1 writes every thread's stack to STACKS: when q is not answered, the
# stacks say where the TUI is (faulthandler, registered before ebpftop's own code runs).
STACKS = f"/tmp/ebpftop-smoke-stacks.{os.getpid()}"
LAUNCH = (
    "import faulthandler, os, signal, sys; "
    "faulthandler.register(signal.SIGUSR1, open(os.environ['EBPFTOP_SMOKE_STACKS'], 'w'), all_threads=True); "
    "sys.argv[0] = 'ebpftop'; from ebpftop.cli import main; sys.exit(main())"
)
STATE = re.compile(r"([1-4]) (files|syscalls|proctree|xdp) (\S+)")


def main() -> int:
    python = sys.argv[1] if len(sys.argv) > 1 else ".venv/bin/python"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "EBPFTOP_SMOKE_STACKS": STACKS}
    proc = subprocess.Popen(
        ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" -c "$1" --interval 1 --xdp lo', python, LAUNCH],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    try:
        return _watch(proc, master)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)


def _after_quit(proc: subprocess.Popen[bytes], master: int, quit_at: float) -> int:
    """After q: read what the TUI still writes without parsing it, until it exits; the bytes read.

    The TUI's writer thread flushes its queue before the TUI can end, so the reader sets the pace: a
    harness that fed every byte to pyte under TCG (seconds per screen) kept q unanswered for 300+ s.
    Past QUIT_TIMEOUT, three SIGUSR1 5 s apart have the TUI write its threads' stacks to STACKS.
    """
    drained = samples = 0
    while proc.poll() is None:
        waited = time.monotonic() - quit_at
        if waited >= QUIT_TIMEOUT + 15:
            break
        if waited >= QUIT_TIMEOUT + 5 * samples and samples < 3:
            os.kill(proc.pid, signal.SIGUSR1)
            samples += 1
        if select.select([master], [], [], 0.2)[0]:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the TUI and every holder of the pty's other side are gone
                data = b""
            if not data:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5)
                break
            drained += len(data)
    return drained


def _watch(proc: subprocess.Popen[bytes], master: int) -> int:
    screen = pyte.Screen(COLS, ROWS)
    stream = pyte.ByteStream(screen)
    t0 = time.monotonic()
    live_at = quit_at = None
    states: dict[str, str] = {}
    panes: list[str] = []  # panes asked for with `]`
    # TIMEOUT until q is sent; then QUIT_TIMEOUT (as long, by default) for the TUI to answer it, which
    # _after_quit waits for (how long q takes is itself a figure the table reports).
    while quit_at is None and time.monotonic() - t0 < TIMEOUT:
        r, _, _ = select.select([master], [], [], 0.5)
        if r:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            stream.feed(data)
        for _, name, state in STATE.findall("\n".join(screen.display)):
            states[name] = state
        live = len(states) == 4 and not any(s in ("loading", "off", "error", "unavailable") for s in states.values())
        if live and live_at is None:
            live_at = time.monotonic()
        text = "\n".join(screen.display)
        if live_at is not None and quit_at is None and time.monotonic() - live_at > 3:  # a few frames drawn live
            # Every pane in turn: `]` moves to the next tab, whose own column heading must be drawn.
            if len(panes) < len(PANES) and (not panes or PANES[len(panes) - 1][1] in text):
                if panes:
                    print(f"tui: pane {PANES[len(panes) - 1][0]} drawn after {time.monotonic() - t0:.1f}s")
                panes.append(PANES[len(panes)][0])
                screen.reset()  # the next heading must come from a redraw after the key
                os.write(master, b"]")
            elif len(panes) == len(PANES) and PANES[-1][1] in text:
                print(f"tui: pane {PANES[-1][0]} drawn after {time.monotonic() - t0:.1f}s")
                os.write(master, b"q")
                quit_at = time.monotonic()
        if proc.poll() is not None:
            break
    if quit_at is not None and proc.poll() is None:
        drained = _after_quit(proc, master, quit_at)
        print(f"tui: {drained} bytes drawn after q")
        if proc.poll() is None:
            try:
                with open(STACKS) as f:
                    print("tui: stacks of the TUI after q (three samples):\n" + f.read())
            except OSError as exc:
                print(f"tui: no stacks: {exc}")
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        print(
            f"tui: did not end within {QUIT_TIMEOUT if quit_at is not None else TIMEOUT:.0f}s"
            + (" of q" if quit_at is not None else " (q not sent)")
        )
        ok = False
    else:
        ok = proc.returncode == 0 and quit_at is not None
        if quit_at is None:
            print(f"tui: ended before every pane was drawn (asked for {panes})")
    if quit_at is not None and proc.returncode is not None and ok:
        print(f"tui: q answered after {time.monotonic() - quit_at:.1f}s")
    if live_at:
        print(f"tui: exit {proc.returncode}; all probes live after {live_at - t0:.1f}s")
    else:
        print(f"tui: exit {proc.returncode}; probes never all live")
    print(f"tui: header states {states}")
    print("tui: last screen:")
    print("\n".join(line.rstrip() for line in screen.display).rstrip())
    return 0 if ok else 1


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # a timeout: finally-blocks still kill the TUI
    sys.exit(main())
