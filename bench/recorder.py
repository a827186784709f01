"""--record's cost on disk: bytes per frame and per hour on an idle and a loaded box, and zlib levels compared.

sudo .venv/bin/python bench/recorder.py [--frames N]   (prints a Markdown section for bench/RESULTS.md)

Each box runs `ebpftop --batch --interval 1 -n N --record FILE` (all probes; stdout to /dev/null) and
reads the recording back: compressed bytes per frame (the file over its frames), what that is per hour
at a 1 s interval, and the text behind it (the --batch line, and the view line the TUI needs). Then
the same frames are compressed again in-process, one sync flush per frame as the recorder does, at
zlib levels 1, 6 (the recorder's) and 9: bytes per frame and CPU ms per frame for each.
Load: `loops load 200 2000` (200 processes writing and reading 2000 files, ten times a second each)
and `loops spawn` in a loop (fork+exec of /bin/true), from bench/loops.c.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.run import LOOPS, build_loops  # noqa: E402
from ebpftop.replay import load  # noqa: E402

SPAWN_LOOP = f"while :; do {LOOPS} spawn 200; sleep 0.2; done"


def record(frames: int, path: Path) -> tuple[float, str]:
    started = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-m", "ebpftop", "--batch", "--interval", "1", "-n", str(frames), "--record", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=HERE.parent,
        timeout=frames * 10 + 900,  # a loaded shared box compiles slowly
    )
    if r.returncode != 0:
        sys.exit(f"bench: ebpftop exited {r.returncode}: {r.stderr}")
    return time.monotonic() - started, r.stderr


def levels(path: Path) -> list[tuple[int, float, float]]:
    rec = load(str(path))
    texts = [f"{e.line}\n{e.view}\n".encode() for e in rec.entries]
    out = []
    for level in (1, 6, 9):
        z = zlib.compressobj(level, zlib.DEFLATED, 31)
        size = 0
        cpu = time.process_time()
        for t in texts:
            size += len(z.compress(t) + z.flush(zlib.Z_SYNC_FLUSH))
        out.append((level, size / len(texts), (time.process_time() - cpu) * 1000 / len(texts)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=30)
    args = ap.parse_args()
    build_loops()
    rows, level_rows = [], []
    for box in ("idle", "load"):
        procs: list[subprocess.Popen[bytes]] = []
        tmp = Path(tempfile.mkdtemp(prefix="ebpftop-bench-rec-", dir="/dev/shm"))
        if box == "load":
            procs.append(
                subprocess.Popen(
                    [str(LOOPS), "load", "200", "2000", str(args.frames + 60), str(tmp)], start_new_session=True
                )
            )
            procs.append(
                subprocess.Popen(["sh", "-c", SPAWN_LOOP], stdout=subprocess.DEVNULL, start_new_session=True)
            )
            time.sleep(3)
        try:
            path = tmp / "rec.gz"
            load1 = os.getloadavg()[0]
            record(args.frames, path)
            rec = load(str(path))
            n = len(rec.entries)
            size = path.stat().st_size
            batch = sum(len(e.line) + 1 for e in rec.entries) / n
            view = sum(len(e.view or "") + 1 for e in rec.entries) / n
            per_frame = size / n
            rows.append(
                f"| {box} | {n} | {per_frame / 1024:.1f} KiB | {per_frame * 3600 / 2**20:.0f} MiB | "
                f"{batch / 1024:.1f} KiB | {view / 1024:.1f} KiB | {(batch + view) / per_frame:.1f}x | {load1:.1f} |"
            )
            for level, b, ms in levels(path):
                level_rows.append(f"| {box} | {level} | {b / 1024:.1f} KiB | {ms:.2f} ms |")
        finally:
            for p in procs:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                p.wait(30)
            subprocess.run(["rm", "-rf", str(tmp)], check=False)
    print("### Recorder: bytes on disk\n")
    print(__doc__.split("\n\n", 2)[2].strip().replace("\n", " ") + "\n")
    print("| box | frames | per frame (gzip) | per hour at 1 s | --batch line | view line | ratio | load avg |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print("\n".join(rows))
    print("\n| box | zlib level | per frame | CPU per frame |")
    print("| --- | ---: | ---: | ---: |")
    print("\n".join(level_rows))


if __name__ == "__main__":
    main()
