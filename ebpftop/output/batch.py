"""--batch: one JSON object per interval on stdout, probe problems as one line each on stderr.

The sampler thread never writes to a file descriptor itself: stdout and
stderr each have a writer thread behind a bounded queue, so a reader that
stops reading (a full pipe, a terminal on ^S) costs frames, never the
sampler, and a signal still detaches every probe. If the sampler cannot end
within a grace time after a signal, the process leaves anyway: exiting
closes every BPF fd and link, so the kernel detaches what is left.

Exit codes: 0 ended normally (count reached, signal, reader closed the
pipe); 1 a runtime failure (sampler error, a write error, frames that could
not be written); 3 no probe could be started.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import threading
from collections import deque
from collections.abc import Callable

from ebpftop.env.streams import exit_now
from ebpftop.model.frame import ERROR, UNAVAILABLE, Frame, ProbeStatus, notices_of
from ebpftop.registry import SPECS
from ebpftop.sampler import Sampler
from ebpftop.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_NO_PROBE = 0, 1, 3
GRACE = 5.0  # seconds from the first signal to the emergency exit
DRAIN_AFTER_SIGNAL = 1.0  # seconds a signalled run waits for queued frames to reach a slow reader
# Frames waiting for stdout at most; beyond this they are dropped (and counted). A burst of files
# makes frames of up to 65 536 rows (~25 MB of JSON each) seconds apart: the queue
# holds a couple of them while a reader parses the last.
QUEUE_BYTES = 64 << 20
RECORD_DRAIN = 5.0  # seconds a run that ended by itself waits for the recorder's queued frames
ENDING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def dumps(frame: Frame, top: int | None = None) -> str:
    # ensure_ascii keeps every control character escaped and carries
    # undecodable bytes (surrogate escapes) exactly; see model.sanitize.decode.
    return json.dumps(frame.to_json(top), ensure_ascii=True, separators=(",", ":"))


class Writer:
    """Writes queued lines to one fd from its own thread; ``put`` never blocks.

    The thread may block in write() for good (nobody reads): it is a daemon
    and is abandoned at exit. Lines beyond ``limit`` queued bytes are dropped
    and counted, so memory stays bounded whatever the reader does.
    """

    def __init__(
        self, fd: int, name: str, limit: int = QUEUE_BYTES, on_error: Callable[[OSError], None] | None = None
    ) -> None:
        self.fd = fd
        self.limit = limit
        self.dropped = 0
        self.error: OSError | None = None
        self._on_error = on_error
        self._lines: deque[bytes] = deque()
        self._queued = 0  # bytes in _lines plus the line being written
        self._busy = False
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"ebpftop-{name}", daemon=True)
        self._thread.start()

    def put(self, line: bytes) -> bool:
        with self._cond:
            # The limit bounds what waits behind a slow reader; one frame is always taken when
            # nothing waits, however big (a 10 s spawn flood's frame is tens of MB): dropping it
            # would lose every event in it without a trace.
            full = self._queued > 0 and self._queued + len(line) > self.limit
            if self.error is not None or self._closed or full:
                self.dropped += 1
                return False
            self._lines.append(line)
            self._queued += len(line)
            self._cond.notify_all()
            return True

    @property
    def pending(self) -> int:
        """Lines queued or being written (not yet in the fd)."""
        with self._cond:
            return len(self._lines) + self._busy

    def drain(self, timeout: float | None) -> bool:
        """Wait until every queued line is written (or the writer failed); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: (not self._lines and not self._busy) or self.error is not None, timeout)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._lines or self._closed)
                if not self._lines:
                    return
                line = self._lines.popleft()
                self._busy = True
            try:
                view = memoryview(line)
                while view:
                    view = view[os.write(self.fd, view) :]
            except OSError as exc:
                with self._cond:
                    self.error = exc
                    self._busy = False
                    self._queued -= len(line)
                    self._lines.clear()
                    self._cond.notify_all()
                if self._on_error is not None:
                    self._on_error(exc)
                return
            with self._cond:
                self._busy = False
                self._queued -= len(line)
                self._cond.notify_all()


def run(
    settings: Settings,
    out_fd: int = 1,
    err_fd: int = 2,
    print_frames: bool = True,
    on_each: Callable[[Frame], None] | None = None,
) -> int:
    """Run until the count, a signal or a failure. ``print_frames`` False: no JSON on out_fd (the
    headless --metrics exporter); ``on_each`` is handed every frame on the sampler thread first."""
    reported: dict[str, str | None] = {}
    states: dict[str, str] = {}
    outcome: dict[str, int | None] = {"code": None}  # set once: why the run ends early
    signalled = threading.Event()
    lock = threading.Lock()

    # Its own descriptor for the stderr it was given: a bcc compile points fd 2 at a memfd for a
    # moment (probes/base.py), and a line written to fd 2 then went into the compiler's output,
    # lost from stderr and glued into another probe's error (seen: "probe syscalls error" inside
    # proctree's reason, one run in eight when every compile fails at once).
    try:
        err_fd = os.dup(err_fd)
    except OSError:
        pass  # closed: the writer reports its own error, as before
    err = Writer(err_fd, "stderr", limit=1 << 20)

    def say(text: str) -> None:
        err.put(f"ebpftop: {text}\n".encode(errors="replace"))

    def finish(code: int) -> None:
        with lock:
            if outcome["code"] is None:
                outcome["code"] = code
        sampler.stop()

    def on_out_error(exc: OSError) -> None:
        if exc.errno == errno.EPIPE:
            finish(EXIT_OK)  # the reader is gone (`| head`): a normal end
        else:
            say(f"cannot write to stdout: {exc.strerror or exc}")
            finish(EXIT_FAILED)

    out = Writer(out_fd, "stdout", on_error=on_out_error)
    dropping = threading.Event()
    none_started = threading.Event()
    started = threading.Event()  # a frame was emitted: every probe has been tried

    def on_grace_expired(name: str, in_startup: bool) -> None:
        if not in_startup:
            exit_now(f"still running {GRACE:g}s after {name}: exiting (the kernel detaches the probes)", EXIT_FAILED)
        # The sampler reads commands only between the start-up compiles, which
        # take seconds each on a busy box: nothing ran yet, so this is a normal end.
        exit_now(
            f"{name} during start-up: exiting without waiting for the compiles (the kernel detaches what was loaded)",
            EXIT_OK,
        )

    def on_status(statuses: tuple[ProbeStatus, ...]) -> None:
        for s in statuses:
            states[s.name] = s.state
            if s.state in (ERROR, UNAVAILABLE) and reported.get(s.name) != s.reason:
                reported[s.name] = s.reason
                say(f"probe {s.name} {s.state}: {s.reason}")
        failed = settings.probes and all(states.get(n) in (ERROR, UNAVAILABLE) for n in settings.probes)
        if failed and not none_started.is_set():
            none_started.set()
            say("no probe could be started")
            finish(EXIT_NO_PROBE)

    warned: set[str] = set()
    recorder = None
    if settings.record is not None:
        from ebpftop.output import record

        recorder = record.start(settings, say)

    def on_frame(frame: Frame) -> None:
        started.set()
        if on_each is not None:
            on_each(frame)
        for text in notices_of(frame):  # each once: they repeat every frame while true
            if text not in warned:
                warned.add(text)
                say(text)
        line = dumps(frame, settings.top) if print_frames else None
        if line is not None and not out.put((line + "\n").encode()) and out.error is None and not dropping.is_set():
            dropping.set()
            say("stdout is not being read: frames are dropped until it is")
        if recorder is not None:  # headless --metrics records too; the recording is never cut by --top
            recorder.put(frame, line if settings.top is None else None)

    sampler = Sampler(
        SPECS,
        settings.probes,
        settings.interval,
        on_frame,
        on_status=on_status,
        count=settings.count,
        pids=settings.pids,
        stats=settings.bpf_stats,
        settings=settings,
    )

    def on_signal(signum: int, _frame: object) -> None:
        # Flush the partial interval so Ctrl-C never loses counted events.
        sampler.stop(flush=True)
        if not signalled.is_set():
            signalled.set()
            name = signal.Signals(signum).name
            # Whether start-up was over when the signal came, not when the grace ends:
            # a signal during the compiles may see them end, a first frame and a
            # slow shutdown inside the grace, and is still an interrupted start-up.
            timer = threading.Timer(GRACE, on_grace_expired, args=(name, not started.is_set()))
            timer.daemon = True
            timer.start()

    for sig in ENDING_SIGNALS:
        signal.signal(sig, on_signal)
    sampler.start()
    while sampler.is_alive():
        sampler.join(0.25)
    # Every probe is detached now. Let queued frames reach the reader: all of
    # them when the run ended by itself, a bounded wait after a signal.
    while not out.drain(0.25):
        if signalled.wait(0) and not out.drain(DRAIN_AFTER_SIGNAL):
            break
    code = outcome["code"]
    if sampler.error is not None:
        say(f"{type(sampler.error).__name__}: {sampler.error}")
        code = EXIT_FAILED
    unwritten = out.dropped + out.pending
    if unwritten and out.error is None:
        say(f"{unwritten} frame{'s' * (unwritten != 1)} not written: stdout was not read")
        code = code if code not in (None, EXIT_OK) else EXIT_FAILED
    if recorder is not None:
        unrecorded = recorder.close(DRAIN_AFTER_SIGNAL if signalled.is_set() else RECORD_DRAIN)
        if unrecorded:
            say(f"{unrecorded} frame{'s' * (unrecorded != 1)} not recorded to {recorder.path!a}")
    out.close()
    err.close()
    err.drain(1.0)  # a stderr nobody reads must not hold the exit either
    return EXIT_OK if code is None else code
