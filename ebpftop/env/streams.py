"""Standard streams as the process found them: closed ones plugged, terminals told apart from pipes and files."""

from __future__ import annotations

import io
import os
import select
import stat
import sys
from typing import NoReturn

NAMES = {0: "stdin", 1: "stdout", 2: "stderr"}


def plug_closed() -> frozenset[int]:
    """Open /dev/null on whichever of fds 0-2 is closed and return those fds.

    A closed standard fd is the next number open() hands out: a BPF program
    or map fd would land on it, and a stray write to "stdout" would go into
    it. Python also leaves sys.stdout/sys.stderr None then, and print(file=None)
    falls back to stdout. Plugging them first keeps every later fd above 2.
    """
    closed = set()
    for fd in NAMES:
        try:
            os.fstat(fd)
        except OSError:
            closed.add(fd)
    for fd in sorted(closed):
        null = os.open(os.devnull, os.O_RDWR)
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
    if 0 in closed or sys.stdin is None:
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
    if 1 in closed or sys.stdout is None:
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=True)
    if 2 in closed or sys.stderr is None:
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True, errors="backslashreplace")
    return frozenset(closed)


def describe(fd: int, closed: frozenset[int] = frozenset()) -> str:
    """'a terminal', 'closed', 'a pipe', 'a file', ... for a message."""
    if fd in closed:
        return "closed"
    try:
        if os.isatty(fd):
            return "a terminal"
        mode = os.fstat(fd).st_mode
    except OSError:
        return "closed"
    if stat.S_ISFIFO(mode):
        return "a pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISCHR(mode):
        return "a device that is not a terminal"
    return "not a terminal"


def not_terminals(closed: frozenset[int] = frozenset()) -> list[str]:
    """'stdin is a pipe', ... for each standard stream that is not a terminal."""
    return [f"{name} is {describe(fd, closed)}" for fd, name in NAMES.items() if describe(fd, closed) != "a terminal"]


def exit_now(note: str, code: int) -> NoReturn:
    """Leave now, from any thread or signal handler: one line to stderr if it takes it at once, then _exit.

    Exiting closes every BPF program, perf event and link fd this process
    holds, which detaches whatever the sampler did not get to. The line is
    written only if stderr is writable this instant: never a write that can
    block on a reader that is gone.
    """
    try:
        if select.select([], [2], [], 0)[1]:
            os.write(2, f"ebpftop: {note}\n".encode())
    except (OSError, ValueError):
        pass
    finally:
        os._exit(code)


class StdoutError(Exception):
    """A write of a report to stdout failed (its reader went away, a full disk): not a check's own OSError."""

    def __init__(self, error: OSError) -> None:
        super().__init__(error.strerror or str(error))
        self.error = error


class Checked:
    """stdout for a report (--doctor): a failed write or flush raises StdoutError."""

    def __init__(self, stream: io.TextIOBase | None = None) -> None:
        self._stream = stream if stream is not None else sys.stdout

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as exc:
            raise StdoutError(exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise StdoutError(exc) from None


def silence_stdout() -> None:
    """Point fd 1 at /dev/null: what is still buffered goes there, and the interpreter's last flush
    cannot fail a second time (a traceback, or "Exception ignored" and exit 120)."""
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
    finally:
        os.close(null)


def stdout_failed(error: OSError) -> int:
    """Told once, on stderr: a reader that went away (EPIPE) ended the run normally (0); any other
    write error is one line and exit 1."""
    import errno

    silence_stdout()
    if error.errno == errno.EPIPE:
        return 0
    try:
        print(f"ebpftop: cannot write to stdout: {error.strerror or error}", file=sys.stderr, flush=True)
    except OSError:
        pass  # stderr is gone too: nothing left to tell
    return 1
