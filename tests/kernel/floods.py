"""Flood workloads (tests/kernel/floods.c, compiled at test time), the real TUI in a pty, RSS sampling, veth netns.

Everything here cleans up after itself: workloads are killed, namespaces
deleted and the pty closed in ``finally`` blocks, also when a test fails.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

from tests.kernel.helpers import ROOT, scaled

SOURCE = Path(__file__).with_name("floods.c")


def build(outdir: Path) -> Path:
    """Compile floods.c into outdir (the tests' temp dir); returns the binary."""
    binary = outdir / "floods"
    subprocess.run(["cc", "-O2", "-Wall", "-Werror", "-o", str(binary), str(SOURCE)], check=True)
    return binary


# -- workloads ------------------------------------------------------------------


class Workload:
    """One floods.c process: started, 'ready', released by a byte on stdin, then its own counts."""

    def __init__(self, binary: Path, *args: str, prefix: tuple[str, ...] = ()) -> None:
        self.proc = subprocess.Popen(
            [*prefix, str(binary), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line != b"ready\n":
            self.kill()
            raise AssertionError(f"workload {args} did not get ready: {line!r} {self.stderr()}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"g")
        self.proc.stdin.flush()

    def stderr(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return ""
        return self.proc.stderr.read().decode(errors="replace")

    def result(self, timeout: float = 120.0) -> dict[int, int]:
        """Wait for the end; {pid: count} as the workload counted them itself."""
        out, err = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, err.decode(errors="replace")
        counts: dict[int, int] = {}
        total = None
        for line in out.decode().splitlines():
            key, _, value = line.partition(" ")
            if key == "done":
                total = int(value)
            elif key.isdigit():
                counts[int(key)] = int(value)
        assert total is not None and total == sum(counts.values()), out
        return counts

    def kill(self) -> None:
        if self.proc.poll() is None:
            # Its children are in its process group only if we made one; kill
            # the whole tree we started by walking /proc for its descendants.
            for pid in descendants(self.proc.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.kill()
        self.proc.wait(30)


def descendants(pid: int) -> list[int]:
    """PIDs whose parent chain reaches pid (children, grandchildren, ...)."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_bytes()
            except OSError:
                continue
            parent[int(entry.name)] = int(stat[stat.rindex(b")") + 2 :].split()[1])
    out, frontier = [], {pid}
    while frontier:
        kids = {p for p, pp in parent.items() if pp in frontier}
        out.extend(kids)
        frontier = kids
    return out


@contextmanager
def workload(binary: Path, *args: str, prefix: tuple[str, ...] = ()) -> Iterator[Workload]:
    w = Workload(binary, *args, prefix=prefix)
    try:
        yield w
    finally:
        w.kill()


# -- memory ---------------------------------------------------------------------


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass
class RssSampler:
    """VmRSS of one process every ``period`` seconds, from a thread, until stopped."""

    pid: int
    period: float = 0.2
    samples: list[tuple[float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append((time.monotonic(), rss_bytes(self.pid)))
            except OSError:
                return
            self._stop.wait(self.period)

    def stop(self) -> list[int]:
        self._stop.set()
        self._thread.join(5)
        return [rss for _t, rss in self.samples]


# -- the real TUI in a pty ---------------------------------------------------------


def spawn_in_pty(args: list[str], cols: int = 160, rows: int = 40) -> tuple[subprocess.Popen[bytes], int]:
    """Run args with a new pty as its controlling terminal; returns (process, master fd)."""
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


def read_until(master: int, out: bytearray, seconds: float) -> None:
    """Append what the terminal receives for ``seconds`` (or until it closes)."""
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


_CSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]")


def screen_text(raw: bytes) -> bytes:
    """The bytes with CSI sequences (colours, cursor moves) taken out: the text that was drawn."""
    return _CSI.sub(b"", raw)


# A probe's header badge when live: key, name, events/s.
LIVE = {
    name: re.compile(rb"%d %s [0-9.]+[kMG]?/s" % (key, name.encode()))
    for key, name in ((1, "files"), (2, "syscalls"), (3, "proctree"), (4, "xdp"))
}


class Tui:
    """The real ebpftop TUI on a pty: send keys and wait for what must appear after them."""

    LIVENESS = 15.0  # seconds a key's effect may take to show: generous, never a timing assert

    def __init__(self, args: list[str], prefix: tuple[str, ...] = (), cols: int = 160, rows: int = 40) -> None:
        self.proc, self.master = spawn_in_pty([*prefix, sys.executable, "-m", "ebpftop", *args], cols, rows)
        self.out = bytearray()

    def wait_for(self, marker: bytes | re.Pattern[bytes], since: int = 0, timeout: float = LIVENESS) -> None:
        """Read until marker (bytes or a regex) is drawn in the text after ``since``; fail after timeout (scaled)."""
        end = time.monotonic() + scaled(timeout)
        while not self.drawn(marker, since):
            if time.monotonic() > end or self.proc.poll() is not None:
                tail = screen_text(bytes(self.out[-3000:]))
                raise AssertionError(
                    f"{marker!r} not drawn within {scaled(timeout):g}s (rc {self.proc.poll()}): {tail!r}"
                )
            read_until(self.master, self.out, 0.2)

    def drawn(self, marker: bytes | re.Pattern[bytes], since: int = 0) -> bool:
        text = screen_text(bytes(self.out[since:]))
        return marker in text if isinstance(marker, bytes) else marker.search(text) is not None

    def press(self, keys: bytes, marker: bytes | re.Pattern[bytes], timeout: float = LIVENESS) -> None:
        """Send keys; the marker must be drawn afterwards."""
        since = len(self.out)
        os.write(self.master, keys)
        self.wait_for(marker, since, timeout)

    def drain(self, seconds: float) -> None:
        read_until(self.master, self.out, seconds)

    def quit(self, timeout: float = 30.0) -> int:
        os.write(self.master, b"q")
        end = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < end:
            read_until(self.master, self.out, 0.2)
        read_until(self.master, self.out, 0.3)
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait(10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        os.close(self.master)


@contextmanager
def tui(args: list[str], prefix: tuple[str, ...] = (), cols: int = 160, rows: int = 40) -> Iterator[Tui]:
    t = Tui(args, prefix, cols, rows)
    try:
        yield t
    finally:
        t.close()


# -- network namespaces -------------------------------------------------------------

_seq = count()
TX_IP, RX_IP = "10.78.0.1", "10.78.0.2"


@dataclass(frozen=True)
class VethPair:
    tx_ns: str
    rx_ns: str
    tx: str = "vfltx"
    rx: str = "vflrx"

    def rx_exec(self) -> tuple[str, ...]:
        return ("ip", "netns", "exec", self.rx_ns)

    def tx_exec(self) -> tuple[str, ...]:
        return ("ip", "netns", "exec", self.tx_ns)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


@contextmanager
def veth_pair() -> Iterator[VethPair]:
    """Two fresh namespaces joined by a veth pair (TX_IP <-> RX_IP); always deleted with everything in them."""
    n = next(_seq)
    pair = VethPair(f"ebt-fl-tx-{os.getpid()}-{n}", f"ebt-fl-rx-{os.getpid()}-{n}")
    try:
        for ns in (pair.tx_ns, pair.rx_ns):
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", pair.tx_ns, "link", "add", pair.tx, "type", "veth", "peer", "name", pair.rx, "netns", pair.rx_ns)
        _ip("-n", pair.tx_ns, "addr", "add", f"{TX_IP}/24", "dev", pair.tx)
        _ip("-n", pair.rx_ns, "addr", "add", f"{RX_IP}/24", "dev", pair.rx)
        _ip("-n", pair.tx_ns, "link", "set", pair.tx, "up")
        _ip("-n", pair.rx_ns, "link", "set", pair.rx, "up")
        yield pair
    finally:
        for ns in (pair.tx_ns, pair.rx_ns):
            _ip("netns", "del", ns, check=False)


# A bound UDP socket in the receiving namespace, so the flood gets no ICMP
# port-unreachable replies; it never reads (the socket buffer drops the rest).
UDP_SINK = "import socket, sys, time; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); " \
    "s.bind((sys.argv[1], int(sys.argv[2]))); print('ready', flush=True); time.sleep(3600)"


@contextmanager
def udp_sink(pair: VethPair, port: int) -> Iterator[None]:
    proc = subprocess.Popen([*pair.rx_exec(), sys.executable, "-c", UDP_SINK, RX_IP, str(port)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        yield
    finally:
        proc.kill()
        proc.wait(10)
