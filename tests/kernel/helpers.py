"""Shared helpers for kernel tests: run ebpftop --batch for real, drive workloads, ask the kernel what is loaded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# Tests' waits were written for this machine's kernel on the host; under emulation (the kernel matrix
# boots kernels in TCG qemu, several times slower, bcc compiles included) every wait stretches by this
# factor. Only how long a test WAITS for a condition changes, never what it asserts.
TIMESCALE = max(1.0, float(os.environ.get("EBPFTOP_TEST_TIMESCALE", "1") or 1))


# How long a test may wait for ebpftop to compile and attach its probes before its first frame: a
# bound for the wait only, never a timing assert. One bcc compile takes ~0.4 s on an idle box but
# 5-30 s on a busy 2-core one (the first of a run loads clang cold), and a run compiles up to four
# probes one after another: 30 s was not enough for two slow compiles.
STARTUP = 120.0


def scaled(seconds: float) -> float:
    """A wait of ``seconds`` on the host, stretched by EBPFTOP_TEST_TIMESCALE."""
    return seconds * TIMESCALE


def probe_status(frame: Any, name: str) -> Any:
    """The named probe's ProbeStatus in a Frame, None if the frame has none (what only the tests ask)."""
    return next((status for status in frame.probes if status.name == name), None)


def ebpftop_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "ebpftop", *args]


class FrameCollector:
    """The frames (and status tuples) of an in-process Sampler, taken from its thread, with waits on them."""

    def __init__(self) -> None:
        self.frames: list[Any] = []
        self.statuses: list[tuple[Any, ...]] = []
        self._cond = threading.Condition()

    def on_frame(self, frame: Any) -> None:
        with self._cond:
            self.frames.append(frame)
            self._cond.notify_all()

    def on_status(self, statuses: tuple[Any, ...]) -> None:
        with self._cond:
            self.statuses.append(statuses)
            self._cond.notify_all()

    def until(self, pred: Callable[[], bool], timeout: float, what: str) -> None:
        """Block until pred() holds (checked under the lock); the timeout is scaled."""
        with self._cond:
            assert self._cond.wait_for(pred, scaled(timeout)), f"{what} not within {scaled(timeout):.0f}s"

    def latest(self, pred: Callable[[Any], bool], timeout: float = 120.0) -> Any:
        """The latest frame, once the latest frame satisfies pred."""
        with self._cond:
            ok = self._cond.wait_for(lambda: bool(self.frames) and pred(self.frames[-1]), scaled(timeout))
            assert ok, f"no such latest frame in {scaled(timeout):.0f}s; last: {self.frames[-1:]}"
            return self.frames[-1]

    def next(self, pred: Callable[[Any], bool], timeout: float = 60.0) -> Any:
        """The first frame from now on that satisfies pred."""
        deadline = time.monotonic() + scaled(timeout)
        with self._cond:
            seen = len(self.frames)
            while True:
                for frame in self.frames[seen:]:
                    if pred(frame):
                        return frame
                seen = len(self.frames)
                left = deadline - time.monotonic()
                assert left > 0, f"no such frame in {scaled(timeout):.0f}s; last: {self.frames[-1:]}"
                self._cond.wait(min(left, 0.5))


@dataclass
class BatchRun:
    """A live `ebpftop --batch` process whose JSON frames are collected by a thread."""

    proc: subprocess.Popen[str]
    frames: list[dict[str, Any]] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def _collect(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            frame = json.loads(line)
            with self._cond:
                self.frames.append(frame)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_frames(self, n: int, timeout: float = STARTUP) -> list[dict[str, Any]]:
        """Block until at least n frames arrived in total (timeout scaled by EBPFTOP_TEST_TIMESCALE).

        --batch prints its first frame once every probe asked for is live, so the first frame's
        wait holds all their compiles: the default is the start-up bound.
        """
        return self._wait_frames_until(n, time.monotonic() + scaled(timeout))

    def _wait_frames_until(self, n: int, deadline: float) -> list[dict[str, Any]]:
        timeout = round(deadline - time.monotonic(), 1)
        with self._cond:
            while len(self.frames) < n:
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and len(self.frames) < n):
                    if self.proc.poll() is not None:
                        break
                    raise TimeoutError(f"only {len(self.frames)} of {n} frames in {timeout}s")
                self._cond.wait(min(left, 0.5))
            return list(self.frames)

    def wait_read_after(self, when: float, timeout: float = 30.0) -> dict[str, Any]:
        """The first frame read wholly after wall-clock time ``when`` (its "time" is taken before its reads).

        What happened before ``when`` is in the frames up to it, and in what --metrics serves once
        it is printed (the exporter gets each frame first). Counting frames after ``when`` instead
        bets that this collector is less than an interval behind ebpftop's output.
        """
        deadline = time.monotonic() + scaled(timeout)
        seen = 0
        while True:
            frames = self._wait_frames_until(seen + 1, deadline)
            for f in frames[seen:]:
                if f["time"] > when:
                    return f
            if len(frames) == seen:  # ebpftop ended
                raise AssertionError(f"no frame read after {when}: ebpftop ended")
            seen = len(frames)

    def wait_live(self, probe: str, timeout: float = STARTUP) -> None:
        """Block until a frame reports the probe live (events counted from here on are in later frames)."""
        deadline = time.monotonic() + scaled(timeout)
        seen = 0
        while time.monotonic() < deadline:
            frames = self._wait_frames_until(seen + 1, deadline)
            for f in frames[seen:]:
                state = f["probes"].get(probe, {}).get("state")
                if state == "live":
                    return
                if state in ("error", "unavailable"):
                    raise AssertionError(f"probe {probe} {state}: {f['probes'][probe].get('reason')}")
            seen = len(frames)
        raise TimeoutError(f"probe {probe} not live after {scaled(timeout)}s")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Signal ebpftop (it flushes a final frame) and return every frame."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait(scaled(timeout))
        self._thread.join(scaled(timeout))
        return list(self.frames)


@contextmanager
def batch(*args: str, env: dict[str, str] | None = None, prefix: tuple[str, ...] = ()) -> Iterator[BatchRun]:
    """`ebpftop --batch ARGS` (behind ``prefix``, e.g. ip netns exec NS) with its frames collected."""
    proc = subprocess.Popen(
        [*prefix, *ebpftop_cmd("--batch", *args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    run = BatchRun(proc)
    run._thread = threading.Thread(target=run._collect, daemon=True)  # type: ignore[attr-defined]
    run._thread.start()  # type: ignore[attr-defined]
    try:
        yield run
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


ENDING_MASK = sum(1 << (s - 1) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT))


def wait_handling(pid: int, timeout: float = 60.0) -> None:
    """Until ebpftop in process pid catches INT, TERM, HUP and QUIT (its __main__ installs them first thing).

    Before that the process is a Python interpreter starting (or `ip netns exec` about to exec
    it): a signal takes its default action there, with nothing loaded. Under load that window
    lasts seconds, so a test that times its signal from the spawn must time it from here.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return  # it ended: the caller sees how
        caught = int(next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1], 16)
        # SIGINT alone is no sign: the interpreter catches it before any of ebpftop runs.
        if b"ebpftop" in cmdline and b"netns" not in cmdline and caught & ENDING_MASK == ENDING_MASK:
            return
        time.sleep(0.005)
    raise AssertionError(f"pid {pid} did not catch INT, TERM, HUP and QUIT within {timeout} s")


def our_prog_names() -> set[str]:
    """The kernel names of every program ebpftop loads (all probes), from one real run."""
    with batch("--interval", "0.3") as run:
        run.wait_frames(1)
        names = set(prog_names(set(prog_ids_of(run.proc.pid))).values())
        run.stop()
    assert len(names) >= 4
    return names


def prog_ids_of(pid: int) -> list[int]:
    """BPF program ids a process holds fds to (from /proc/PID/fdinfo)."""
    ids = []
    for info in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            text = info.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("prog_id:"):
                ids.append(int(line.split()[1]))
    return ids


def loaded_prog_ids() -> set[int]:
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, check=True).stdout
    return {p["id"] for p in json.loads(out or "[]")}


def wait_progs_gone(ids: set[int], timeout: float = 5.0) -> set[int]:
    """Programs are freed asynchronously (RCU) after their last fd closes: poll until gone."""
    deadline = time.monotonic() + scaled(timeout)
    left = ids & loaded_prog_ids()
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = ids & loaded_prog_ids()
    return left


def held_prog_ids() -> set[int]:
    """Programs some live process holds an fd to (program or link fds), from every /proc/*/fdinfo."""
    ids: set[int] = set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                ids.update(prog_ids_of(int(proc.name)))
            except OSError:
                continue  # it exited while we looked
    return ids


def prog_names(ids: set[int]) -> dict[int, str]:
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, check=True).stdout
    return {p["id"]: p.get("name", "") for p in json.loads(out or "[]") if p["id"] in ids}


def orphaned(before: set[int], names: set[str], timeout: float = 5.0) -> dict[int, str]:
    """Programs named like ebpftop's, loaded since ``before``, that no live process holds.

    That is what a dead ebpftop would have left in the kernel. Programs of
    other BPF users running meanwhile are held by their processes, or (perf
    event attachments, whose fdinfo does not name the program) have other
    names, so this holds while other tools come and go.
    """
    deadline = time.monotonic() + scaled(timeout)
    while True:
        left = {i: n for i, n in prog_names(loaded_prog_ids() - before - held_prog_ids()).items() if n in names}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


@contextmanager
def fresh_netns(name: str) -> Iterator[str]:
    """A network namespace of this test run's own, with lo up; deleted after (and first, if a run left it)."""
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
