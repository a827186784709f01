"""--batch: each probe's events/s is this interval's count over its own read window, and the window is in the frame."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.kernel.floods import ROOT
from tests.kernel.helpers import probe_status

SPIN = (
    "import os, time\n"
    "end = time.monotonic() + float(__import__('sys').argv[1])\n"
    "while time.monotonic() < end: os.getppid()\n"
)


def test_events_per_s_is_the_interval_count_over_the_probe_window() -> None:
    spinner = subprocess.Popen([sys.executable, "-c", SPIN, "60"])
    try:
        out = subprocess.run(
            [sys.executable, "-m", "ebpftop", "--batch", "-n", "12", "-i", "0.3", "--probes", "syscalls"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
    finally:
        spinner.kill()
        spinner.wait()
    frames = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert len(frames) == 12
    for frame in frames:
        status = frame["probes"]["syscalls"]
        counted = sum(row["count"] for row in frame["syscalls"])
        assert counted > 0  # the spinner runs throughout: every interval counts syscalls
        # Not a figure held over from an older window: this interval's count, over this probe's window.
        assert status["window_s"] > 0 and status["window_start"] <= frame["time"]
        # events_per_s is kept to 0.001 and window_s to 1 ns, so the product is within 0.01 of
        # the count below 10^7 events/s: rounded, it is the count. (With window_s kept to 1 µs,
        # 2.1 million events/s put it 1.01 off.)
        assert round(status["events_per_s"] * status["window_s"]) == counted, (status, counted)
        # Run time per event: from a sampled stats window, with its age; never a made-up 0.
        if status["avg_ns"] is None:
            assert status["cost_age_s"] is None
        else:
            assert status["avg_ns"] > 0 and status["cost_age_s"] is not None and status["cost_age_s"] >= 0
    assert any(f["probes"]["syscalls"]["avg_ns"] is not None for f in frames)


def test_a_probe_switched_back_on_reports_unmeasured_not_zero() -> None:
    """After off/on the header must say '–' (None) until the probe is read, never the '0/s 0ns' it showed before."""
    import queue

    from ebpftop.model import frame as fr
    from ebpftop.registry import SPECS
    from ebpftop.sampler import Sampler
    from ebpftop.settings import Settings

    frames: queue.SimpleQueue = queue.SimpleQueue()
    statuses: queue.SimpleQueue = queue.SimpleQueue()
    spinner = subprocess.Popen([sys.executable, "-c", SPIN, "60"])
    s = Sampler(
        SPECS, ("syscalls",), 0.3, on_frame=frames.put, on_status=statuses.put, settings=Settings(), stats="always"
    )
    s.start()
    try:

        def next_frame():  # type: ignore[no-untyped-def]
            return frames.get(timeout=60)

        while probe_status((f := next_frame()), "syscalls").events_per_s is None:
            pass
        assert probe_status(f, "syscalls").events_per_s > 0 and probe_status(f, "syscalls").avg_ns > 0
        s.toggle("syscalls")
        while probe_status(next_frame(), "syscalls").state != fr.OFF:
            pass
        while not statuses.empty():
            statuses.get()
        s.toggle("syscalls")
        # Every status between switching back on and the first read says "not measured".
        while True:
            status = next(x for x in statuses.get(timeout=60) if x.name == "syscalls")
            if status.state == fr.LIVE:
                break
        assert (status.events_per_s, status.avg_ns, status.cpu_pct, status.cost_age_s) == (None, None, None, None)
        # Frames go on during the compile (the probe loading in them): the first with it live is its first read.
        while probe_status((f := next_frame()), "syscalls").state != fr.LIVE:
            pass
        assert probe_status(f, "syscalls").events_per_s is not None and probe_status(f, "syscalls").events_per_s > 0
    finally:
        s.stop()
        s.join(30)
        spinner.kill()
        spinner.wait()
