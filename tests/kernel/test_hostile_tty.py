"""The real TUI in a pty, with hostile names on screen: no payload reaches the terminal raw, exit restores it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from ebpftop.model.sanitize import sanitize
from tests.kernel.floods import read_until as _read_until
from tests.kernel.floods import screen_text, tui
from tests.kernel.floods import spawn_in_pty as _spawn_in_pty  # also used by test_terminal_loss.py
from tests.kernel.helpers import prog_ids_of, wait_progs_gone

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


@pytest.mark.parametrize("how", ["q", "SIGTERM", "SIGHUP", "SIGQUIT"])
def test_hostile_strings_never_reach_the_terminal_raw(how: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp, HOSTILE_FILE))
        # The workers outlive the run (killed below): with 30 s they could end before three compiles
        # on a busy box did (the wait for them allows 120 s), and no hostile name was drawn at all.
        workers = [
            subprocess.Popen([sys.executable, "-c", WORKLOAD, comm.decode("latin-1"), path, "600"])
            for comm in HOSTILE_COMMS
        ]
        spawner = subprocess.Popen(
            ["sh", "-c", 'while :; do /bin/echo "$0" >/dev/null; sleep 0.1; done', HOSTILE_ARG]
        )
        proc, master = _spawn_in_pty([sys.executable, "-m", "ebpftop", "--probes", "files,syscalls,proctree"])
        out = bytearray()
        try:
            # Compile and attach (seconds each, more on a busy box), then a few frames of the Files pane.
            from tests.kernel.floods import LIVE, screen_text

            deadline = time.monotonic() + 120  # a liveness bound, not a timing assert
            while not all(LIVE[p].search(screen_text(bytes(out))) for p in ("files", "syscalls", "proctree")):
                assert proc.poll() is None and time.monotonic() < deadline, screen_text(bytes(out[-3000:]))
                _read_until(master, out, 0.5)
            _read_until(master, out, 2.5)
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


# -- the whole matrix: every payload in every place the TUI shows such a string ----------
#
# Places: process names (comm: Syscalls, Files and Tree panes), argv (Tree,
# from exec events and from the /proc seed), file names (Files pane) and cwd
# (the Files pane shows the kernel's whole path of a relative open, so a
# hostile directory name reaches the screen that way).
#
# NUL cannot be part of any of them: comm, argv elements and path components
# are NUL-terminated by the kernel, so a NUL is only ever an argv element
# boundary (checked exact in JSON below). '/' cannot be in a file name
# component, so file and directory payloads have it replaced.
MATRIX = {
    "csi_clear": b"\x1b[2J\x1b[H",
    "csi_move": b"\x1b[10;10H\x1b[1A",
    "osc52": b"\x1b]52;c;RVZJTA==\x07",
    "osc8": b"\x1b]8;;http://evil.example\x1b\\x\x1b]8;;\x1b\\",
    "osc0": b"\x1b]0;EVIL\x07",
    "c1_raw": b"\x9b31m\x9d0;EV\x9c",
    "c1_utf8": "\u009b31m\u009d0;EV".encode(),
    "bidi": "\u202eevil\u202c\u2066x\u2069".encode(),
    "bad_utf8": b"\xff\xfe\xc3(",
    "markup": b"[bold]B[/][link=https://evil.example]L[/link][/]",
}
# Raw bytes that must never be written to the terminal: Textual itself
# writes CSI cursor moves, but never these.
NEVER = (
    b"\x1b[2J\x1b[H",
    b"\x1b[10;10H\x1b[1A",
    b"\x1b]52;",
    b"\x1b]8;;http://evil",
    b"\x1b]0;EVIL",
    b"\x9b31m",
    b"\x9d0;EV",
    b"\xc2\x9b",
    b"\xc2\x9d",
    "\u202e".encode(),
    "\u2066".encode(),
    b"\xff\xfe",
)
COMPONENT = 255  # NAME_MAX: the longest file name component
DEPTH = 18  # 18 x 256 bytes: a cwd over 4096 bytes (PATH_MAX), reached with relative chdir
HUGE_ARG = 100_000
MANY_ARGS = 5000

MATRIX_WORKLOAD = r"""
import ctypes, os, sys, time
libc = ctypes.CDLL(None)
root = sys.argv[1].encode()
payloads = [bytes.fromhex(h) for h in sys.argv[2].split(",")]
long_name = b"L" * COMPONENT
children = []
for i, p in enumerate(payloads + [None]):
    pid = os.fork()
    if pid:
        children.append(pid)
        continue
    if p is None:  # the long one: a 255-byte name in a cwd deeper than PATH_MAX
        libc.prctl(15, b"longpath", 0, 0, 0)
        os.chdir(root)
        for _ in range(DEPTH):
            os.mkdir(long_name[:-1] + b"D")
            os.chdir(long_name[:-1] + b"D")
        name, rel = os.path.join(root, b"f%d" % i + long_name[:200]), long_name
    else:
        libc.prctl(15, (b"c%d" % i + p)[:15], 0, 0, 0)
        safe = p.replace(b"/", b"%")
        d = os.path.join(root, b"d%d" % i + safe)
        os.mkdir(d)
        os.chdir(d)
        name, rel = os.path.join(root, b"f%d" % i + safe), b"rel%d" % i
    while True:
        with open(name, "ab") as f:
            f.write(b"x" * 100)
        with open(rel, "ab") as f:  # relative: shown through the hostile cwd
            f.write(b"y" * 50)
        os.getppid()
        time.sleep(0.05)
print(" ".join(map(str, [os.getpid(), *children])), flush=True)
huge = [b"/bin/true", b"H" * HUGE_ARG] + [b"m%d" % k for k in range(MANY_ARGS)]
while True:
    for i, p in enumerate(payloads):
        os.posix_spawn(b"/bin/true", [b"/bin/true", b"a%d" % i + p], os.environ)
    os.posix_spawn(b"/bin/true", huge, os.environ)
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                break
        except ChildProcessError:
            break
    time.sleep(0.4)
""".replace("COMPONENT", str(COMPONENT)).replace("DEPTH", str(DEPTH)).replace(
    "HUGE_ARG", str(HUGE_ARG)
).replace("MANY_ARGS", str(MANY_ARGS))


def test_every_hostile_payload_in_every_place_stays_inert_on_a_real_terminal() -> None:
    names = list(MATRIX)
    with tempfile.TemporaryDirectory(prefix="ebt-hostile-") as tmp:
        hexes = ",".join(MATRIX[n].hex() for n in names)
        # argv of the long-lived parent carries every payload too: the /proc seed path.
        work = subprocess.Popen(
            [sys.executable, "-c", MATRIX_WORKLOAD, tmp, hexes, *[MATRIX[n] for n in names]],
            stdout=subprocess.PIPE,
        )
        try:
            assert work.stdout is not None
            pids = work.stdout.readline().split()
            assert len(pids) == len(names) + 2, pids
            with tui(["--interval", "0.5"], rows=60) as t:
                t.wait_for(b"2 syscalls ", timeout=60)
                t.press(b"/", b"PIDs, process names or cgroups")
                t.press(b",".join(pids) + b"\r", b"PID " + pids[0])
                held = set(prog_ids_of(t.proc.pid))
                shown = t.out
                # Files pane (default tab): file names, cwd-relative names, comm.
                t.wait_for(b"f0\\x1b[2J", timeout=20)
                t.drain(1.5)
                t.press(b"]", b"TOP SYSCALLS")  # Syscalls: comm
                t.drain(1.5)
                t.press(b"]", b"forks/s")  # Tree: comm and argv
                t.wait_for(b"a0\\x1b[2J", timeout=20)
                t.drain(1.5)
                t.press(b"]", b"XDP PKT/s")
                rc = t.quit()
                out = bytes(shown)
        finally:
            for pid in [work.pid, *map(int, pids)] if "pids" in locals() else [work.pid]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            work.wait(10)
    assert rc == 0, screen_text(out[-2000:])
    assert b"Traceback" not in out
    for raw in NEVER:
        assert raw not in out, raw
    text = screen_text(out)
    for i, name in enumerate(names):
        payload = MATRIX[name]
        visible = sanitize(payload.decode("utf-8", "surrogateescape"))
        safe_name = sanitize(payload.replace(b"/", b"%").decode("utf-8", "surrogateescape"))
        # Each place drew its payload as visible text (a prefix: cells are cut to fit).
        for where, expected in (
            ("file", f"f{i}{safe_name}"),
            ("cwd", f"d{i}{safe_name}"),
            ("argv", f"a{i}{visible}"),
            ("comm", sanitize((b"c%d" % i + payload)[:15].decode("utf-8", "surrogateescape"))),
        ):
            assert expected[:7].encode() in text, (name, where, expected)
    # The long ones were drawn too, cut to their cells: the 255-byte name,
    # and the file opened relative to a cwd longer than PATH_MAX (its path is
    # longer than the kernel-side cap: its leaf side, marked cut with a
    # leading ellipsis), both by the 'longpath' process.
    assert re.search(rb"f%dLLLL\S*\s+file\s+longpath" % len(names), text)
    assert re.search(rb"\s\xe2\x80\xa6/LLLL\S*\s+file\s+longpath", text)
    # 100 000-byte argument among 5000: the tree shows the start of it.
    assert re.search(rb"true \d+  /bin/true HHHH", text)
    assert wait_progs_gone(held) == set()
    assert b"\x1b[?1049l" in out[-4000:]


def test_argv_element_boundaries_are_exact_in_json() -> None:
    """NUL only ever separates argv elements: empty elements, spaces and newlines inside one stay exact."""
    from tests.kernel.helpers import batch

    argv = ["/bin/true", "", "a b", "", "c\nd", "\x1b[2J", "\udcff"]
    with batch("--probes", "proctree", "--interval", "0.3") as run:
        run.wait_live("proctree")
        child = subprocess.run([os.fsencode(a) for a in argv], check=True)
        assert child.returncode == 0
        time.sleep(0.7)
        frames = run.stop(signal.SIGINT)
    execs = [
        e for f in frames for e in f.get("procs", {}).get("events", [])
        if e["type"] == "exec" and e["filename"] == "/bin/true" and e["argv"][:2] == ["/bin/true", ""]
    ]
    assert len(execs) == 1, execs
    assert execs[0]["argv"] == argv
    assert execs[0]["argv_truncated"] is False
