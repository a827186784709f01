"""--record FILE: every frame, gzip-compressed, to a file that rotates by size; a sink any mode attaches.

The format (FORMAT_VERSION) is gzip of JSON lines, flushed after every frame
(a sync flush), so whatever was written before a crash or a SIGKILL reads back
up to the last whole frame. Each file starts with a header line
(``{"ebpftop_recording": 1, ...}``: format version, ebpftop version, host,
kernel, interval, probes, start time). Then, per frame, two lines: exactly the
line ``--batch`` prints for it without ``--top`` (``output.batch.dumps``), and
``{"view": ...}``, what the TUI draws that --batch leaves out
(``model.decode.view_json``).

Rotation: when FILE reaches ``max_size`` compressed bytes it is closed and
renamed FILE.1 (FILE.1 to FILE.2, ...; ``keep`` files in all, the oldest
goes), and a new FILE starts with its own header. An existing FILE is rotated
out the same way when recording starts. Only regular files rotate: a FIFO or
a device is written as it is.

The recorder never blocks the sampler or the exit: frames wait in a bounded
queue for a writer thread that opens the file itself (opening a FIFO nobody
reads blocks; so can any call on a stalled network or FUSE mount), and frames
beyond the queue are dropped and counted. A write error (a full disk, EIO)
stops the recording with one notice; monitoring goes on.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from typing import Any

from ebpftop import __version__
from ebpftop.model.decode import view_json
from ebpftop.model.frame import SCHEMA_VERSION, Frame

FORMAT_VERSION = 1
MAGIC = "ebpftop_recording"  # the header line's first key
DEFAULT_MAX_SIZE = 64 << 20  # compressed bytes per file
DEFAULT_KEEP = 4  # files kept: FILE, FILE.1, FILE.2, FILE.3
QUEUE_FRAMES = 16  # frames waiting for the writer at most; more are dropped (and counted)
LEVEL = 6  # zlib level: measured in bench/recorder.py


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":"))


def header(
    interval: float, probes: tuple[str, ...], part: int = 0, start: float | None = None, **extra: Any
) -> dict[str, Any]:
    """The first line of every file of a recording."""
    uname = os.uname()
    return {
        MAGIC: FORMAT_VERSION,
        "ebpftop": __version__,
        "schema": SCHEMA_VERSION,
        "host": socket.gethostname(),
        "kernel": uname.release,
        "machine": uname.machine,
        "interval": interval,
        "probes": list(probes),
        "start": round(time.time() if start is None else start, 6),
        "part": part,
        **extra,
    }


def frame_lines(frame: Frame, line: str | None = None) -> str:
    """One frame as recorded: its --batch line (given, when already made) and its view line."""
    from ebpftop.output.batch import dumps

    return f"{line if line is not None else dumps(frame)}\n{_dumps({'view': view_json(frame)})}\n"


def _foreign_link(path: str) -> str | None:
    """Why FILE, a symlink another user owns, is not followed (None: not one). Root following a link a
    user planted in /tmp writes the recording over any file of the system it names (and the host's
    fs.protected_symlinks may be off); a link of our own, or root's, is followed."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISLNK(st.st_mode) and st.st_uid not in (0, os.geteuid()):
        return f"is a symlink owned by another user (uid {st.st_uid}): not followed"
    return None


def rotate(path: str, keep: int) -> None:
    """FILE -> FILE.1 -> ... -> FILE.<keep-1>; the oldest is removed. keep 1: FILE is removed."""
    if keep <= 1:
        os.unlink(path)
        return
    for n in range(keep - 1, 0, -1):
        older = f"{path}.{n - 1}" if n > 1 else path
        if os.path.lexists(older):
            os.replace(older, f"{path}.{n}")


class Recorder:
    """Takes frames from any thread (``put`` never blocks) and writes them from its own thread."""

    def __init__(
        self,
        path: str,
        head: dict[str, Any],
        max_size: int = DEFAULT_MAX_SIZE,
        keep: int = DEFAULT_KEEP,
        on_notice: Callable[[str], None] | None = None,
        queue_frames: int = QUEUE_FRAMES,
        level: int = LEVEL,
    ) -> None:
        self.path = path
        self.head = head
        self.max_size = max_size
        self.keep = keep
        self.on_notice = on_notice
        self.limit = queue_frames
        self.level = level
        self.dropped = 0  # frames not queued: the writer was behind
        self.frames = 0  # frames written (in the current and earlier files)
        self.raw_bytes = 0  # their JSON text
        self.written = 0  # compressed bytes written, over every file
        self.files = 0  # files started
        self.error: Exception | None = None
        self._queue: deque[tuple[Frame, str | None]] = deque()
        self._busy = False
        self._closed = False
        self._dropping = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="ebpftop-record", daemon=True)
        self._thread.start()

    def _say(self, text: str) -> None:
        if self.on_notice is not None:
            self.on_notice(text)

    # -- any thread --------------------------------------------------------------------
    def put(self, frame: Frame, line: str | None = None) -> bool:
        """Queue a frame (``line``: its --batch line without --top, if already made); False if dropped."""
        with self._cond:
            if self.error is not None or self._closed:
                return False
            if len(self._queue) + self._busy >= self.limit:
                self.dropped += 1
                first = not self._dropping
                self._dropping = True
            else:
                self._queue.append((frame, line))
                self._cond.notify_all()
                return True
        if first:
            self._say(f"recording to {self.path!a} falls behind: frames are dropped (and counted) until it catches up")
        return False

    __call__ = put  # a FrameSink

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._queue) + self._busy

    def close(self, timeout: float) -> int:
        """Stop taking frames; wait up to ``timeout`` for the queued ones. Returns the frames not recorded
        (dropped, or still queued behind a writer that is stuck, which is abandoned)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            self._cond.wait_for(lambda: (not self._queue and not self._busy) or self.error is not None, timeout)
            unwritten = self.dropped + (len(self._queue) + self._busy if self.error is None else 0)
        self._thread.join(min(timeout, 1.0))  # the gzip trailer; a stuck writer is a daemon
        return unwritten

    # -- the writer thread -------------------------------------------------------------------
    def _open(self) -> tuple[int, bool]:
        # The open itself may block (a FIFO without a reader): only ever here, in this thread.
        regular = False
        if (why := _foreign_link(self.path)) is not None:
            raise OSError(errno.ELOOP, why)
        try:
            st = os.stat(self.path)
            regular = stat.S_ISREG(st.st_mode)
            if regular and st.st_size > 0 and self.files == 0:
                rotate(self.path, self.keep)  # an earlier recording is kept as FILE.1
        except FileNotFoundError:
            regular = True
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NOCTTY
        if not os.path.islink(self.path):
            flags |= os.O_NOFOLLOW  # no link then: one swapped in since is refused (ELOOP)
        # Recordings hold every process's argv and paths: root's eyes only.
        fd = os.open(self.path, flags, 0o600)
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
        return fd, regular

    def _start_file(self) -> tuple[int, bool, Any]:
        fd, regular = self._open()
        z = zlib.compressobj(self.level, zlib.DEFLATED, 31)  # 31: a gzip member
        text = _dumps({**self.head, "part": self.files}) + "\n"
        self.files += 1
        size = self._write(fd, z.compress(text.encode()) + z.flush(zlib.Z_SYNC_FLUSH))
        return fd, regular, (z, size)

    def _write(self, fd: int, data: bytes) -> int:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        self.written += len(data)
        return len(data)

    def _run(self) -> None:
        fd = -1
        try:
            fd, regular, (z, size) = self._start_file()
            in_file = 0  # frames in the current file
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._queue or self._closed)
                    if not self._queue:
                        break
                    frame, line = self._queue.popleft()
                    self._busy = True
                text = frame_lines(frame, line).encode()
                if regular and size >= self.max_size and in_file:
                    # Full: on to a new file before this frame (so no file is a header alone).
                    self._write(fd, z.flush(zlib.Z_FINISH))
                    os.close(fd)
                    fd = -1
                    rotate(self.path, self.keep)
                    fd, regular, (z, size) = self._start_file()
                    in_file = 0
                size += self._write(fd, z.compress(text) + z.flush(zlib.Z_SYNC_FLUSH))
                in_file += 1
                self.frames += 1
                self.raw_bytes += len(text)
                with self._cond:
                    self._busy = False
                    if self._dropping and not self._queue:
                        self._dropping = False
                    self._cond.notify_all()
            self._write(fd, z.flush(zlib.Z_FINISH))  # the gzip trailer: a complete file
        except Exception as exc:  # noqa: BLE001 (an OSError, or a frame that would not encode: either ends it)
            with self._cond:
                self.error = exc
                self._queue.clear()
                self._busy = False
                self._cond.notify_all()
            self._say(
                f"recording to {self.path!a} stopped: {getattr(exc, 'strerror', None) or exc} "
                f"({self.frames} frames recorded); monitoring goes on"
            )
        finally:
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
            with self._cond:
                self._busy = False
                self._cond.notify_all()


def start(settings: Any, on_notice: Callable[[str], None] | None = None) -> Recorder:
    """The recorder --record asks for (its file is opened by the writer thread, never here)."""
    head = header(
        settings.interval,
        settings.probes,
        pids=settings.pids.to_json() if hasattr(settings.pids, "to_json") else sorted(settings.pids or ()) or None,
        xdp=list(settings.xdp_ifaces) if settings.xdp_ifaces else None,
    )
    return Recorder(settings.record, head, settings.record_max_size, settings.record_keep, on_notice)


class RecordingSource:
    """A FrameSource that hands every frame to a recorder on its way to the app (the TUI with --record)."""

    def __init__(self, inner: Any, recorder: Recorder) -> None:
        self.inner = inner
        self.recorder = recorder

    @property
    def sampler(self) -> Any:
        return getattr(self.inner, "sampler", None)

    def start(self, on_frame: Callable[[Frame], None], on_status: Any, on_notice: Callable[[str], None]) -> None:
        self.recorder.on_notice = on_notice

        def tee(frame: Frame) -> None:
            self.recorder.put(frame)
            on_frame(frame)

        self.inner.start(tee, on_status, on_notice)

    def toggle(self, name: str) -> None:
        self.inner.toggle(name)

    def set_interval(self, seconds: float) -> None:
        self.inner.set_interval(seconds)

    def set_pids(self, pids: Any) -> None:
        self.inner.set_pids(pids)

    def probe_command(self, name: str, verb: str, *args: Any) -> None:
        self.inner.probe_command(name, verb, *args)

    def stop(self, timeout: float = 10.0) -> None:
        self.inner.stop(timeout)


def check_path(path: str, timeout: float = 2.0) -> str | None:
    """Why FILE cannot be recorded to (a missing directory, no write permission, a directory), or None.

    Asked before any probe is loaded. The look runs in a daemon thread: a path on a stalled mount that
    does not answer within ``timeout`` is let through (the writer thread then waits there, alone).
    """
    answer: list[str | None] = []

    def look() -> None:
        try:
            if (why := _foreign_link(path)) is not None:
                answer.append(why)
            elif os.path.isdir(path):
                answer.append("is a directory")
            elif os.path.lexists(path):
                answer.append(None if os.access(path, os.W_OK) else "is not writable")
            else:
                parent = os.path.dirname(os.path.abspath(path))
                if not os.path.isdir(parent):
                    answer.append(f"has no directory {parent!a}")
                else:
                    answer.append(None if os.access(parent, os.W_OK) else f"cannot be created in {parent!a}")
        except OSError as exc:
            answer.append(exc.strerror or str(exc))

    thread = threading.Thread(target=look, name="ebpftop-record-check", daemon=True)
    thread.start()
    thread.join(timeout)
    return answer[0] if answer else None
