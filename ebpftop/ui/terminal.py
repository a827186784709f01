"""Keep fd 2 off the screen: bcc and libraries write diagnostics there, which would scribble over the TUI."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
import time
from collections import deque
from typing import IO, Any

from textual import events
from textual.drivers.linux_driver import LinuxDriver
from textual.geometry import Size

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


WINCH_MIN_GAP = 0.02  # seconds between two Resize events the app is sent, however fast SIGWINCH comes


def block_winch() -> object:
    """Block SIGWINCH in this thread and every thread started after it; returns the mask to restore.

    Textual handles SIGWINCH with a Python signal handler, and CPython runs a
    handler again inside itself when a new signal lands while it runs: a
    flood of resizes nested them until a RecursionError killed the TUI. With
    the signal blocked everywhere, one thread takes it with sigwait() instead
    (see driver_class), so handling never nests.
    """
    return signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGWINCH})


def driver_class(stream: IO[str], winch_thread: bool = False) -> type[LinuxDriver]:
    """A LinuxDriver that writes to ``stream`` instead of sys.__stderr__.

    With ``winch_thread`` (SIGWINCH blocked by block_winch() before the app
    started), resizes are read by one thread with sigwait(): pending signals
    coalesce, the size is read once per wake-up, and the app gets at most one
    Resize per WINCH_MIN_GAP, only when the size changed.
    """

    class _Driver(LinuxDriver):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._file = stream  # type: ignore[assignment]  # Textual types it as the TextIOWrapper it opens itself
            self._winch_done = False
            self._winch: threading.Thread | None = None

        def start_application_mode(self) -> None:
            super().start_application_mode()
            if winch_thread:
                loop = asyncio.get_running_loop()
                self._winch = threading.Thread(target=self._winch_loop, args=(loop,), name="ebpftop-winch", daemon=True)
                self._winch.start()

        def stop_application_mode(self) -> None:
            self._winch_done = True
            if self._winch is not None and self._winch.ident is not None:
                with contextlib.suppress(OSError, ValueError):
                    signal.pthread_kill(self._winch.ident, signal.SIGWINCH)  # wakes its sigwait()
            super().stop_application_mode()

        def _winch_loop(self, loop: asyncio.AbstractEventLoop) -> None:
            last = self._get_terminal_size()  # start_application_mode sent this one
            while True:
                signal.sigwait({signal.SIGWINCH})
                if self._winch_done or loop.is_closed():
                    return
                size = self._get_terminal_size()
                if size == last:
                    continue
                last = size
                event = events.Resize(Size(*size), Size(*size))
                coro = self._app._post_message(event)
                try:
                    asyncio.run_coroutine_threadsafe(coro, loop)
                except RuntimeError:  # the loop closed meanwhile
                    coro.close()
                    return
                time.sleep(WINCH_MIN_GAP)  # signals meanwhile stay pending and coalesce into one

    return _Driver
