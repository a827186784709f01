"""Loaded BPF objects held by fd: compiled in a child process (compiler.py), attached and read from here.

ebpftop itself never imports bcc: a compile runs in a short-lived process
that loads the programs and maps and sends their fds back (SCM_RIGHTS). From
then on this process holds them by fd alone: maps are read and written with
libbpf, tracepoints attached with perf_event_open, raw tracepoints with
BPF_RAW_TRACEPOINT_OPEN. Every attachment is an fd, so when ebpftop dies,
however it dies, the kernel detaches everything.
"""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ebpftop.probes import libbpf

COMPILER = Path(__file__).with_name("compiler.py")
# A compile under emulation (TCG) took minutes; past this the child is killed and the probe fails.
COMPILE_TIMEOUT_ENV = "EBPFTOP_COMPILE_TIMEOUT"
COMPILE_TIMEOUT_DEFAULT, COMPILE_TIMEOUT_MAX = 900.0, 86400.0
_SECONDS = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)
_TRACEFS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")

ENDING_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT}  # blocked in the compiler (load)

_PERCPU_TYPES = {5, 6, 10}  # BPF_MAP_TYPE_PERCPU_HASH, PERCPU_ARRAY, LRU_PERCPU_HASH


class LoadError(Exception):
    """A compile, load or attach failed; str() is one line for the user."""


class LoadCancelled(Exception):
    """cancel() said ebpftop is stopping: the compile was killed, nothing is loaded."""


def compile_timeout() -> float:
    """Seconds one compile may take: $EBPFTOP_COMPILE_TIMEOUT, else 900.

    ValueError (one line for the user) when it is set to anything but a
    number of seconds above 0: ebpftop checks it at startup (cli.main), so a
    typo is one line and exit 2, not a traceback or every probe failing.
    """
    text = os.environ.get(COMPILE_TIMEOUT_ENV, "").strip()
    if not text:
        return COMPILE_TIMEOUT_DEFAULT
    value = float(text) if _SECONDS.fullmatch(text) and len(text) <= 30 else -1.0
    if not 0 < value <= COMPILE_TIMEOUT_MAX:
        raise ValueError(
            f"{COMPILE_TIMEOUT_ENV} must be a number of seconds above 0 and at most {COMPILE_TIMEOUT_MAX:.0f} "
            f"in ASCII digits (default {COMPILE_TIMEOUT_DEFAULT:.0f}), not {text[:24]!a}"
        )
    return value


class Map:
    """One BPF map by fd: its kernel-reported shape, and the few operations ebpftop needs of it."""

    def __init__(self, name: str, fd: int) -> None:
        self.name = name
        self.map_fd = fd
        info = libbpf.map_info(fd)
        self.type, self.key_size, self.value_size, self.max_entries = (
            info.type, info.key_size, info.value_size, info.max_entries
        )
        self.percpu = self.type in _PERCPU_TYPES
        # What one lookup copies: a per-CPU map's value is one 8-aligned slot per possible CPU.
        self.ncpus = libbpf.possible_cpus() if self.percpu else 1
        self.slot_size = (self.value_size + 7) & ~7 if self.percpu else self.value_size

    def lookup(self, key: bytes) -> bytes | None:
        """The value (every CPU's slot, for a per-CPU map), or None when the key is absent."""
        buf = ctypes.create_string_buffer(self.slot_size * self.ncpus)
        if not libbpf.map_lookup_elem(self.map_fd, key, buf):
            return None
        return buf.raw

    def update(self, key: bytes, value: bytes) -> None:
        libbpf.map_update_elem(self.map_fd, key, value, f"map {self.name}")

    def keys(self) -> list[bytes]:
        out: list[bytes] = []
        key = ctypes.create_string_buffer(self.key_size)
        prev: bytes | None = None
        while libbpf.map_get_next_key(self.map_fd, prev, key):
            prev = key.raw
            out.append(prev)
        return out

    def items(self) -> list[tuple[bytes, bytes]]:
        """Every (key, value) now (a hash map's; what is deleted meanwhile is left out)."""
        out = []
        for key in self.keys():
            value = self.lookup(key)
            if value is not None:
                out.append((key, value))
        return out

    def clear(self) -> None:
        """Delete every key (hash maps)."""
        for key in self.keys():
            libbpf.map_delete_elem(self.map_fd, key)

    def sum(self, index: int) -> int:
        """A per-CPU array's u64 at index, summed over CPUs (0 when it cannot be read)."""
        raw = self.lookup(struct.pack("<I", index))
        if raw is None:
            return 0
        return sum(int.from_bytes(raw[i : i + 8], "little") for i in range(0, len(raw), self.slot_size))


@dataclass(slots=True)
class Program:
    name: str
    kind: str  # "tracepoint" | "raw_tracepoint" | "xdp"
    target: str  # "category:event" or the raw tracepoint; "" for XDP (attached per interface)
    fd: int


@dataclass(slots=True)
class Loaded:
    """What one compile loaded: programs and maps by name, and the fds that attach the programs."""

    source: str
    progs: dict[str, Program]
    maps: dict[str, Map]
    _attached: list[int] = field(default_factory=list)
    _closed: bool = False

    def __getitem__(self, name: str) -> Map:
        return self.maps[name]

    def attach_tracepoints(self) -> None:
        """Attach every tracepoint and raw tracepoint program; LoadError naming the first that fails."""
        for prog in self.progs.values():
            if prog.kind == "tracepoint":
                self._attached.append(_attach_tracepoint(prog))
            elif prog.kind == "raw_tracepoint":
                fd = libbpf.raw_tracepoint_open(prog.target, prog.fd)
                if fd < 0:
                    raise LoadError(f"{self.source}: raw tracepoint {prog.target}: {os.strerror(-fd)}")
                self._attached.append(fd)

    def close(self) -> None:
        """Detach and unload: attachments first (events stop), then programs and maps. Idempotent."""
        if self._closed:
            return
        self._closed = True
        fds = [*self._attached, *(p.fd for p in self.progs.values()), *(m.map_fd for m in self.maps.values())]
        self._attached.clear()
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass


def _tracepoint_id(target: str) -> int:
    category, _, event = target.partition(":")
    for root in _TRACEFS:
        try:
            return int(Path(root, "events", category, event, "id").read_text())
        except (OSError, ValueError):
            continue
    mounted = [root for root in _TRACEFS if Path(root, "events").is_dir()]
    if mounted:  # tracefs is there: this kernel has no such event (a program for another kernel)
        raise LoadError(f"tracepoint {target}: this kernel has no such tracepoint (not in {mounted[0]}/events)")
    raise LoadError(f"tracepoint {target}: no id under {' or '.join(_TRACEFS)} (is tracefs mounted?)")


def _attach_tracepoint(prog: Program) -> int:
    try:
        return libbpf.attach_tracepoint(_tracepoint_id(prog.target), prog.fd)
    except OSError as exc:
        raise LoadError(f"tracepoint {prog.target}: {exc.strerror}") from None


def load(
    src: Path, cflags: list[str], load_as: dict[str, str] | None = None, cancel: Callable[[], bool] | None = None
) -> tuple[Loaded | None, str, str]:
    """Compile and load src in a child process: (what it loaded, or None; the error; the compiler's stderr).

    load_as names functions to load beyond the tracepoint ones, with their
    kind ("xdp"). Waits at most compile_timeout() for the child, or until
    cancel() says ebpftop is stopping (checked every 50 ms), then kills it:
    a quit during a compile (minutes under emulation) is answered at once.
    """
    timeout = compile_timeout()
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    err = os.fdopen(os.memfd_create("ebpftop-cc-stderr", os.MFD_CLOEXEC), "w+b")
    with parent, err:
        # The compiler starts with INT/TERM/HUP/QUIT blocked (a mask survives exec; compiler.py never
        # unblocks them): Ctrl-C at a terminal, a hangup, `kill -- -PGID` or a service's stop reach
        # the whole group or cgroup, and a compiler dead of it was reported as a failed probe (exit 3)
        # before ebpftop's own handler could cancel the compile. ebpftop decides: cancel() kills the
        # child, PR_SET_PDEATHSIG kills it if ebpftop dies.
        saved = signal.pthread_sigmask(signal.SIG_BLOCK, ENDING_SIGNALS)
        try:
            with child:
                proc = subprocess.Popen(
                    [sys.executable, str(COMPILER), str(child.fileno())],
                    pass_fds=(child.fileno(),),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    cwd="/",  # never a user's directory, which may sit on a stalled mount
                )
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, saved)
        try:
            parent.send(json.dumps(
                {"parent": os.getpid(), "src": str(src), "cflags": cflags, "load": load_as or {}}
            ).encode())
            deadline = time.monotonic() + timeout
            while True:
                try:
                    proc.wait(max(0.0, min(0.05, deadline - time.monotonic())))
                    break
                except subprocess.TimeoutExpired:
                    if cancel is not None and cancel():
                        proc.kill()
                        proc.wait()
                        raise LoadCancelled(src.name) from None
                    if time.monotonic() >= deadline:
                        raise
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None, f"compile took longer than {timeout:g} s ({COMPILE_TIMEOUT_ENV})", ""
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        err.seek(0)
        stderr = err.read().decode(errors="replace")
        parent.setblocking(False)
        try:
            data, fds, _flags, _addr = socket.recv_fds(parent, 1 << 20, 253, socket.MSG_CMSG_CLOEXEC)
        except BlockingIOError:
            data, fds = b"", []
    if not data:
        return None, f"the compiler process ended with status {proc.returncode} and no answer", stderr
    meta = json.loads(data)
    if "error" in meta:
        for fd in fds:
            os.close(fd)
        return None, str(meta["error"]), stderr
    progs, names = meta["progs"], meta["maps"]
    if len(fds) != len(progs) + len(names):
        for fd in fds:
            os.close(fd)
        return None, f"the compiler sent {len(fds)} fds for {len(progs)} programs and {len(names)} maps", stderr
    loaded = Loaded(src.name, {}, {})
    try:
        for (name, kind, target), fd in zip(progs, fds, strict=False):
            loaded.progs[name] = Program(name, kind, target, fd)
        for name, fd in zip(names, fds[len(progs):], strict=True):
            loaded.maps[name] = Map(name, fd)
    except BaseException:
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass
        raise
    return loaded, "", stderr


class Ring:
    """The consumer side of a BPF ring buffer, read through its own mapping (no callback per record).

    Page 0 is the consumer position (ours to write), page 1 the producer
    position, then the data, mapped twice by the kernel so a record that wraps
    reads as one piece. A record is an 8-byte header (length, busy and discard
    bits) then its bytes, padded to 8. x86-64 only (the probes are): its loads
    are ordered, so plain reads of the positions and headers are enough.
    """

    BUSY, DISCARD = 1 << 31, 1 << 30
    _HEADER = struct.Struct("<I")

    def __init__(self, map_fd: int, size: int) -> None:
        page = mmap.PAGESIZE
        self.size = size
        self._mask = size - 1
        self._cons_map = mmap.mmap(map_fd, page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
        self._data_map = mmap.mmap(map_fd, page + 2 * size, mmap.MAP_SHARED, mmap.PROT_READ, offset=page)
        self._cons = memoryview(self._cons_map).cast("Q")
        self._prod = memoryview(self._data_map)[:8].cast("Q")
        self._data = memoryview(self._data_map)[page:]
        self.consumed = 0  # bytes of records read

    def read(self) -> list[bytes]:
        """Every committed record, oldest first; their space goes back to the kernel."""
        cons, prod = self._cons[0], self._prod[0]
        if cons >= prod:
            return []
        # One copy of everything written so far (the double mapping makes it
        # contiguous), then parsing in it. A header is read before its data,
        # so data behind a committed header is complete.
        start = cons & self._mask
        chunk = bytes(self._data[start : start + (prod - cons)])
        pos, end, out = 0, prod - cons, []
        unpack, busy, discard = self._HEADER.unpack_from, self.BUSY, self.DISCARD
        while pos + 8 <= end:
            (head,) = unpack(chunk, pos)
            if head & busy:
                break  # reserved, not committed yet: read next time
            length = head & (discard - 1)
            if not head & discard:
                out.append(chunk[pos + 8 : pos + 8 + length])
                self.consumed += length
            pos += (length + 8 + 7) & ~7
        self._cons[0] = cons + pos
        return out

    def close(self) -> None:
        for view in (self._cons, self._prod, self._data):
            view.release()
        self._cons_map.close()
        self._data_map.close()


def ring_of(m: Map) -> Ring:
    """A reader of a BPF_MAP_TYPE_RINGBUF map (its max_entries is the data size)."""
    if m.type != libbpf.BPF_MAP_TYPE_RINGBUF:
        raise LoadError(f"map {m.name} is not a ring buffer (type {m.type})")
    return Ring(m.map_fd, m.max_entries)

