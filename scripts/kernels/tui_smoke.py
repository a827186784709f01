"""The TUI in a pty for the kernel matrix: it starts, every probe goes live, `q` quits it with exit 0.

Runs with the harness venv's Python (it needs `pyte`, a terminal emulator, to read the screen the TUI
drew), and starts ebpftop with the checkout's own .venv: `tui_smoke.py CHECKOUT_PYTHON`.
The TUI runs in its own network namespace, so XDP attaches to that namespace's `lo` only.
Exit 0 when the header showed all four probes past `loading`, each pane drew its own heading after `]`
moved to it, and `q` ended the TUI with exit 0.
"""

from __future__ import annotations

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
COLS, ROWS = 160, 50
# The tabs after Files, in `]` order, each with a heading only its pane draws; Files last (wrapped round).
PANES = (("syscalls", "TOP SYSCALLS"), ("tree", "forks/s"), ("xdp", "RX PKT/s"), ("files", "WRITE B/s"))
STATE = re.compile(r"([1-4]) (files|syscalls|proctree|xdp) (\S+)")


def main() -> int:
    python = sys.argv[1] if len(sys.argv) > 1 else ".venv/bin/python"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color"}
    proc = subprocess.Popen(
        ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" -m ebpftop --interval 1 --xdp lo', python],
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


def _watch(proc: subprocess.Popen[bytes], master: int) -> int:
    screen = pyte.Screen(COLS, ROWS)
    stream = pyte.ByteStream(screen)
    t0 = time.monotonic()
    live_at = quit_at = None
    states: dict[str, str] = {}
    panes: list[str] = []  # panes asked for with `]`
    # TIMEOUT until q is sent; then as long again for the TUI to answer it (under TCG a frame takes
    # seconds to draw, and how long q takes is itself a figure the table reports).
    while time.monotonic() - (t0 if quit_at is None else quit_at) < TIMEOUT:
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
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        print(f"tui: did not end within {TIMEOUT:.0f}s" + (" of q" if quit_at is not None else " (q not sent)"))
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
