"""Real frames of all four probes, for the record/replay tests: run inside a network namespace of the test's own.

``python -m tests.kernel.recordframes OUTDIR NAME`` runs the sampler in-process with every probe (XDP
on this namespace's lo), drives a small workload (getppid calls and spawns from processes named NAME,
a file written, UDP on lo), and writes OUTDIR/frames.pkl (the Frame objects) and OUTDIR/rec.gz (the
same frames through the recorder). Only a test runs it; it loads BPF programs and detaches them.
"""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
import threading
import time

from ebpftop.env import checks
from ebpftop.model.frame import ERROR, LIVE, UNAVAILABLE, Frame
from ebpftop.output.record import Recorder, header
from ebpftop.registry import NAMES, SPECS
from ebpftop.sampler import Sampler
from ebpftop.settings import Settings
from tests.kernel.workloads import GETPPID_LOOP

SPAWNER = r"""
import ctypes, subprocess, sys
ctypes.CDLL(None).prctl(15, sys.argv[1].encode(), 0, 0, 0)
for _ in range(int(sys.argv[2])):
    subprocess.run(["sh", "-c", "exit 3"])
"""


def main(out: str, name: str) -> None:
    frames: list[Frame] = []
    cond = threading.Condition()

    def on_frame(frame: Frame) -> None:
        with cond:
            frames.append(frame)
            cond.notify_all()

    def wait_for(pred, timeout: float = 180.0) -> Frame:  # type: ignore[no-untyped-def]
        with cond:
            seen = len(frames)
            deadline = time.monotonic() + timeout
            while True:
                for f in frames[seen:]:
                    if any(p.state in (ERROR, UNAVAILABLE) for p in f.probes):
                        raise SystemExit(f"recordframes: a probe failed: {f.probes}")
                    if pred(f):
                        return f
                seen = len(frames)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SystemExit(f"recordframes: condition not met in {timeout}s")
                cond.wait(left)

    settings = Settings(interval=0.4, probes=NAMES, xdp_ifaces=("lo",))
    checks.preflight(settings)
    sampler = Sampler(SPECS, NAMES, 0.4, on_frame, settings=settings, stats="always")
    sampler.start()
    try:
        wait_for(lambda f: all(p.state == LIVE for p in f.probes) and len(f.panes) == 4)
        start = len(frames)
        subprocess.run([sys.executable, "-c", GETPPID_LOOP, name, "1000"], check=True)
        subprocess.run([sys.executable, "-c", SPAWNER, name, "3"], check=True)
        with open(os.path.join(out, "written"), "wb") as f:
            f.write(b"x" * 4096)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(5):
                s.sendto(b"y" * 64, ("127.0.0.1", 9))
        last = wait_for(lambda f: True).time
        wait_for(lambda f: f.time > last)  # the interval the workload ended in is read
        wait_for(lambda f: True)
    finally:
        sampler.stop()
        sampler.join(30)
    with cond:
        kept = frames[start:]  # not the start-up frame: it holds every file the compiles read
    with open(os.path.join(out, "frames.pkl"), "wb") as f:
        pickle.dump(kept, f)
    recorder = Recorder(os.path.join(out, "rec.gz"), header(0.4, NAMES), queue_frames=len(kept) + 1)
    for frame in kept:
        assert recorder.put(frame)
    assert recorder.close(30.0) == 0 and recorder.error is None


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
