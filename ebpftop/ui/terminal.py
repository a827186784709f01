"""Keep fd 2 off the screen: bcc and libraries write diagnostics there, which would scribble over the TUI."""

from __future__ import annotations

import os
import sys
import threading
from collections import deque
from typing import IO, Any

from textual.drivers.linux_driver import LinuxDriver

KEEP_LINES = 200


class StderrCapture:
    """Points fd 2 at a pipe drained by a thread while the TUI runs; hands the terminal back on close.

    ``terminal`` is a dup of the original fd 2, which the app's driver writes
    to. Lines written to fd 2 meanwhile (compiler warnings, tracebacks from
    threads) are kept and replayed to the real stderr on close, so nothing
    is lost and nothing lands in the middle of the screen.
    """

    def __init__(self) -> None:
        self.lines: deque[str] = deque(maxlen=KEEP_LINES)
        self._saved = os.dup(2)
        self.terminal: IO[str] = os.fdopen(os.dup(2), "w", encoding="utf-8", errors="replace")
        read_fd, write_fd = os.pipe()
        sys.stderr.flush()
        os.dup2(write_fd, 2)
        os.close(write_fd)
        self._reader = os.fdopen(read_fd, "rb")
        self._thread = threading.Thread(target=self._drain, name="ebpftop-stderr", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        for raw in self._reader:
            self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def abandon(self) -> list[str]:
        """Emergency hand-back: fd 2 is the terminal again, without flushing anything towards it
        (a terminal that stopped reading would block the flush forever)."""
        os.dup2(self._saved, 2)
        return list(self.lines)

    def close(self) -> list[str]:
        """Restore fd 2 and return what was written to it."""
        sys.stderr.flush()
        os.dup2(self._saved, 2)  # the pipe's last writer is gone: the drain thread ends
        os.close(self._saved)
        self._thread.join(2.0)
        self.terminal.close()
        return list(self.lines)


def driver_class(stream: IO[str]) -> type[LinuxDriver]:
    """A LinuxDriver that writes to ``stream`` instead of sys.__stderr__."""

    class _Driver(LinuxDriver):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._file = stream

    return _Driver
