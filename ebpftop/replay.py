"""--replay FILE: read a recording (output/record.py) back, as JSON lines (--batch) or as frames for the TUI.

No BPF and no root: nothing here touches the kernel. A recording may come
from another machine: lines are parsed as data only, frames are type-checked
as they are decoded (model/decode.py), strings reach the panes through the
same sanitizer as live ones, and --batch prints a recorded line as it is only
when it is plain printable ASCII (what ebpftop writes), else re-encodes it.
"""

from __future__ import annotations

import errno
import json
import os
import re
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ebpftop import __version__
from ebpftop.model.decode import HEADER_KEYS, DecodeError, frame_from_json
from ebpftop.model.frame import SCHEMA_VERSION, Frame
from ebpftop.output.record import FORMAT_VERSION, MAGIC
from ebpftop.pids import PidFilter
from ebpftop.registry import SPECS
from ebpftop.ui.source import FrameSink, NoticeSink, StatusSink

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
CHUNK = 1 << 16
_TIME = re.compile(r'"time":(-?[0-9.eE+-]+)')
MIN_SPEED, MAX_SPEED = 1 / 16, 64.0
MAX_LINE = 64 << 20  # bytes of one recorded line at most (a frame of ~300 000 rows)
MAX_WAIT = 5.0  # seconds the player waits at most between two frames, whatever gap the recording has


class ReplayError(Exception):
    """The recording cannot be replayed: one line for the user (exit 2)."""


def _pack(text: str) -> bytes:
    return zlib.compress(text.encode("utf-8", "surrogatepass"), 1)


def _unpack(packed: bytes) -> str:
    return zlib.decompress(packed).decode("utf-8", "surrogatepass")


class Entry:
    """One recorded frame: its --batch line as written, and its view line (None: cut off before it).

    Both are kept zlib-compressed in memory and decompressed when read (a frame is read when it is
    shown): the text of a recording is 5 to 10 times its file, and a full 64 MiB file held as text
    took gigabytes. Compressed one line at a time (level 1) it is about 1.5 times the file.
    """

    __slots__ = ("_line", "_view", "time")

    def __init__(self, time: float, line: str, view: str | None = None) -> None:
        self.time = time
        self._line = _pack(line)
        self._view = None if view is None else _pack(view)

    @property
    def line(self) -> str:
        return _unpack(self._line)

    @line.setter
    def line(self, text: str) -> None:
        self._line = _pack(text)

    @property
    def view(self) -> str | None:
        return None if self._view is None else _unpack(self._view)

    @view.setter
    def view(self, text: str | None) -> None:
        self._view = None if text is None else _pack(text)

    def __repr__(self) -> str:
        return f"Entry(time={self.time!r}, {len(self._line)} + {len(self._view or b'')} bytes packed)"


@dataclass(slots=True)
class Recording:
    path: str
    header: dict[str, Any]
    entries: list[Entry] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


def _chunks(path: str, notices: list[str]) -> Iterator[bytes]:
    """The decompressed bytes of a gzip file, member after member, up to where it ends or breaks."""
    try:
        f = open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise ReplayError(f"cannot read {path!a}: {exc.strerror or exc}") from None
    with f:
        d = zlib.decompressobj(31)
        started = False  # the current member has had input
        offset = 0
        while True:
            try:
                data = f.read(CHUNK)
            except OSError as exc:
                notices.append(
                    f"{path!a}: read error at byte {offset}: {exc.strerror or exc}; replaying what came before"
                )
                return
            if not data:
                break
            if offset == 0 and not data.startswith(b"\x1f\x8b"):
                raise ReplayError(f"{path!a} is not an ebpftop recording (not gzip)")
            offset += len(data)
            while data:
                started = True
                saved = d.copy()
                try:
                    out = d.decompress(data)
                except zlib.error as exc:
                    # Again in small steps from before this chunk: what precedes the damage is kept.
                    d = saved
                    for i in range(0, len(data), 64):
                        try:
                            out = d.decompress(data[i : i + 64])
                        except zlib.error:
                            break
                        if out:
                            yield out
                    notices.append(f"{path!a} is corrupt near byte {offset}: {exc}; replaying what came before")
                    return
                if out:
                    yield out
                if d.eof:
                    data = d.unused_data
                    d = zlib.decompressobj(31)
                    started = False
                else:
                    data = b""
        if started:
            notices.append(
                f"{path!a} was not closed (ebpftop was killed, or is still recording): "
                "replaying up to its last whole frame"
            )


def _lines(path: str, notices: list[str]) -> Iterator[str]:
    """The lines, each at most MAX_LINE bytes: a longer one (a few MB of gzip hold GBs of one line)
    ends the replay there, before it is held in memory."""
    held: list[bytes] = []  # the line so far, in pieces (each chunk is split once, never the line)
    size = 0
    for chunk in _chunks(path, notices):
        *whole, last = chunk.split(b"\n")
        for raw in whole:
            if held:
                raw, held, size = b"".join([*held, raw]), [], 0
            if len(raw) > MAX_LINE:
                break
            yield raw.decode("utf-8", "surrogateescape")
        else:
            if last:
                held.append(last)
                size += len(last)
            if size <= MAX_LINE:
                continue
        notices.append(
            f"{path!a} has a line longer than {MAX_LINE >> 20} MiB (ebpftop writes none): replaying what came before it"
        )
        return
    if held:
        notices.append(f"{path!a} ends inside a frame (cut off mid-write): that last frame is left out")


def check_header(path: str, obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict) or MAGIC not in obj:
        raise ReplayError(f"{path!a} is not an ebpftop recording (no header)")
    version = obj[MAGIC]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ReplayError(f"{path!a}: unknown recording format {str(version)[:20]!a}")
    if version > FORMAT_VERSION:
        raise ReplayError(
            f"{path!a} is recording format {version}, written by ebpftop {str(obj.get('ebpftop'))[:20]!a}; "
            f"this ebpftop ({__version__}) reads format {FORMAT_VERSION}: replay it with a newer ebpftop"
        )
    schema = obj.get("schema")
    if not isinstance(schema, int) or schema > SCHEMA_VERSION:
        raise ReplayError(
            f"{path!a} holds frames of --batch schema {str(schema)[:20]!a}; this ebpftop knows {SCHEMA_VERSION}"
        )
    return obj


def records(path: str, notices: list[str]) -> Iterator[tuple[str, Any, str]]:
    """('header' | 'frame' | 'view', parsed object, the line as written), after checking the first header."""
    first = True
    for line in _lines(path, notices):
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):  # not JSON, or nested past what json parses
            if first:
                raise ReplayError(f"{path!a} is not an ebpftop recording (no header)") from None
            notices.append(f"{path!a} has a line that is not JSON: replaying what came before it")
            return
        if first:
            check_header(path, obj)
            first = False
            yield "header", obj, line
        elif isinstance(obj, dict) and MAGIC in obj:
            yield "header", check_header(path, obj), line
        elif isinstance(obj, dict) and "view" in obj:
            yield "view", obj["view"], line
        elif isinstance(obj, dict) and "schema" in obj:
            yield "frame", obj, line
        else:
            notices.append(f"{path!a} has a line ebpftop does not write: replaying what came before it")
            return
    if first:
        raise ReplayError(f"{path!a} is empty: no recording in it")


def load(path: str) -> Recording:
    """Every frame of a recording, as text (decoded into Frames one at a time, as they are shown)."""
    notices: list[str] = []
    recording: Recording | None = None
    for kind, obj, line in records(path, notices):
        if kind == "header":
            if recording is None:
                recording = Recording(path, obj, notices=notices)
        elif kind == "frame" and recording is not None:
            match = _TIME.search(line[:200])
            t = float(match.group(1)) if match else obj.get("time")
            if not isinstance(t, (int, float)):
                notices.append(f"{path!a}: a frame without a time: replaying what came before it")
                break
            recording.entries.append(Entry(float(t), line))
        elif kind == "view" and recording is not None and recording.entries:
            recording.entries[-1].view = line
    assert recording is not None  # records() raised otherwise
    if not recording.entries:
        raise ReplayError(f"{path!a} holds no frame")
    return recording


def cut(obj: dict[str, Any], top: int | None) -> dict[str, Any]:
    """A recorded (uncut) --batch object as --batch --top N prints it (as Frame.to_json(top) cuts)."""
    out = dict(obj)
    out["top"] = top
    if top is None:
        return out
    for key, value in obj.items():
        if key in HEADER_KEYS or key == "rows":
            continue
        if isinstance(value, list):
            out[key] = value[:top]
        elif isinstance(value, dict):
            out[key] = {k: v[:top] if isinstance(v, list) else v for k, v in value.items()}
    return out


def _safe(line: str) -> bool:
    # What ebpftop writes (ensure_ascii JSON): printable ASCII only, so it can go to a terminal as is.
    return line.isascii() and line.isprintable()


def run_batch(path: str, top: int | None = None, count: int | None = None, out_fd: int = 1) -> int:
    """Print the recorded frames as --batch printed them live; notices on stderr."""
    notices: list[str] = []
    printed = 0

    def say(text: str) -> None:
        print(f"ebpftop: {text}", file=sys.stderr, flush=True)

    try:
        for kind, obj, line in records(path, notices):
            if kind != "frame":
                continue
            text = (
                line
                if top is None and _safe(line)
                else json.dumps(cut(obj, top), ensure_ascii=True, separators=(",", ":"))
            )
            data = (text + "\n").encode()
            view = memoryview(data)
            while view:
                view = view[os.write(out_fd, view) :]
            printed += 1
            if count is not None and printed >= count:
                break
    except ReplayError as exc:
        for n in notices:
            say(n)
        say(str(exc))
        return EXIT_USAGE
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            return EXIT_OK
        say(f"cannot write to stdout: {exc.strerror or exc}")
        return EXIT_FAILED
    for n in notices:
        say(n)
    return EXIT_OK


def when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch)) + f".{int(epoch % 1 * 10)}"


def parse_jump(text: str, entries: list[Entry]) -> int:
    """A jump target to a frame index: 'HH:MM[:SS]' (local time, the first frame at or after it),
    '+S' / '-S' seconds (s, m, h) from the start / before the end, or '#N' (frame N, from 1)."""
    text = text.strip()
    if not entries:
        raise ValueError("no frames")
    times = [e.time for e in entries]
    if m := re.fullmatch(r"#([0-9]{1,9})", text, re.ASCII):
        return max(0, min(len(entries) - 1, int(m.group(1)) - 1))
    if m := re.fullmatch(r"([+-])([0-9]{1,9}(?:\.[0-9]*)?)([smh]?)", text, re.ASCII):
        seconds = float(m.group(2)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(3)]
        target = times[0] + seconds if m.group(1) == "+" else times[-1] - seconds
        return _at_or_after(times, target)
    if m := re.fullmatch(r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}(?:\.[0-9]*)?))?", text, re.ASCII):
        h, mi, s = int(m.group(1)), int(m.group(2)), float(m.group(3) or 0)
        if h > 23 or mi > 59 or s >= 60:
            raise ValueError(f"no such time of day: {text}")
        start = time.localtime(times[0])
        for day in range(0, 400):
            base = time.mktime((start.tm_year, start.tm_mon, start.tm_mday + day, h, mi, 0, 0, 0, -1)) + s
            if base >= times[0] - 1e-6:
                if base > times[-1] + 1e-6:
                    raise ValueError(f"{text} is after the recording's end ({when(times[-1])})")
                return _at_or_after(times, base)
        raise ValueError(f"{text} is not in the recording")
    raise ValueError(f"not a time: {text[:40]!a} (HH:MM[:SS], +30s, -5m, #12)")


def _at_or_after(times: list[float], target: float) -> int:
    import bisect

    return max(0, min(len(times) - 1, bisect.bisect_left(times, target - 1e-6)))


class ReplaySource:
    """The app's FrameSource on a recording: a player thread that emits decoded frames at the recorded
    pace (times ``speed``), steps, jumps and pauses on request; probe toggles hide a pane's data and
    the PID filter filters in user space."""

    def __init__(self, recording: Recording, paused: bool = False) -> None:
        self.recording = recording
        self.entries = [e for e in recording.entries if e.view is not None]
        if not self.entries:
            raise ReplayError(f"{recording.path!a} holds no frame the TUI can draw (every one was cut off)")
        self.index = 0  # the frame shown (or about to be)
        self.speed = 1.0
        self.paused = paused
        self.pids: PidFilter | None = None
        self.hidden: set[str] = set()
        self._dirty = True
        self._stopped = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._on_frame: FrameSink | None = None
        self._on_status: StatusSink | None = None
        self._on_notice: NoticeSink | None = None

    # -- FrameSource -------------------------------------------------------------------------
    def start(self, on_frame: FrameSink, on_status: StatusSink, on_notice: NoticeSink) -> None:
        self._on_frame, self._on_status, self._on_notice = on_frame, on_status, on_notice
        for text in self.recording.notices:
            on_notice(text)
        if len(self.entries) < len(self.recording.entries):
            on_notice("the last frame has no view data (cut off mid-write): it is left out")
        self._thread = threading.Thread(target=self._run, name="ebpftop-replay", daemon=True)
        self._thread.start()

    def toggle(self, name: str) -> None:
        with self._cond:
            self.hidden ^= {name}
            self._touch()

    def set_interval(self, seconds: float) -> None:
        pass  # the recording's interval is what it is; the app offers the replay speed instead

    def set_pids(self, pids: PidFilter | None) -> None:
        with self._cond:
            self.pids = pids
            self._touch()

    def probe_command(self, name: str, verb: str, *args: Any) -> None:
        if self._on_notice is not None:
            self._on_notice("replay: nothing to attach or detach, this is a recording")

    def stop(self, timeout: float = 1.0) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    # -- player controls ---------------------------------------------------------------------
    def set_paused(self, paused: bool) -> None:
        with self._cond:
            self.paused = paused
            self._cond.notify_all()

    def step(self, n: int) -> None:
        with self._cond:
            self.paused = True
            self.index = max(0, min(len(self.entries) - 1, self.index + n))
            self._touch()

    def seek(self, index: int) -> None:
        with self._cond:
            self.index = max(0, min(len(self.entries) - 1, index))
            self._touch()

    def set_speed(self, factor: float) -> float:
        with self._cond:
            self.speed = max(MIN_SPEED, min(MAX_SPEED, self.speed * factor))
            self._cond.notify_all()
            return self.speed

    def position(self) -> tuple[int, int, float, float, bool]:
        """(frame index, frames, its time, speed, paused)."""
        with self._cond:
            i = self.index
            return i, len(self.entries), self.entries[i].time if self.entries else 0.0, self.speed, self.paused

    def _touch(self) -> None:
        self._dirty = True
        self._cond.notify_all()

    # -- the player thread ---------------------------------------------------------------------
    def decode(self, index: int) -> Frame:
        entry = self.entries[index]
        hidden = frozenset(self.hidden)
        panes = frozenset(s.pane_key for s in SPECS if s.name in hidden)
        view = json.loads(entry.view) if entry.view is not None else None
        return frame_from_json(json.loads(entry.line), view["view"] if isinstance(view, dict) else None,
                               self.pids, hidden, panes)  # fmt: skip

    def _run(self) -> None:
        assert self._on_frame is not None and self._on_notice is not None
        due = time.monotonic()
        ended = False
        while True:
            with self._cond:
                if self._stopped:
                    return
                if not self._dirty:
                    if self.paused or self.index >= len(self.entries) - 1:
                        self._cond.wait()
                        due = time.monotonic()
                        continue
                    gap = self.entries[self.index + 1].time - self.entries[self.index].time
                    wait = min(MAX_WAIT, max(0.0, gap)) / self.speed
                    remaining = due + wait - time.monotonic()
                    if remaining > 0:
                        self._cond.wait(remaining)  # a command may come first: re-check everything
                        continue
                    self.index += 1
                    due = time.monotonic()
                index = self.index
                self._dirty = False
                at_end = index >= len(self.entries) - 1
            try:
                frame = self.decode(index)
            except (DecodeError, ValueError, TypeError, KeyError, RecursionError, ArithmeticError) as exc:
                self._on_notice(f"replay: frame {index + 1} cannot be shown: {exc}")
                continue
            if self._on_status is not None:
                self._on_status(frame.probes)
            self._on_frame(frame)
            if at_end and not ended:
                ended = True
                self._on_notice("replay: end of the recording")
            elif not at_end:
                ended = False
