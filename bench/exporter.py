"""The --metrics exporter's cost with 10 000 series: the sampler's hand-over per frame, and one scrape.

No BPF: frames are built with the real syscall model (1000 processes x 10
syscalls = 10 000 labelled series, comm names 15 bytes long like a busy box's),
handed to the real Exporter, and scraped the ways Prometheus does. Prints the
section for bench/RESULTS.md (bench/run.py adds it to a full run's results).

    .venv/bin/python bench/exporter.py [--series 10000] [--runs 30]
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import sys
import time
import urllib.request
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest  # noqa: E402

from ebpftop.model.frame import Frame  # noqa: E402
from ebpftop.model.metrics import MetricsOptions  # noqa: E402
from ebpftop.model.syscalls import SyscallCount, SyscallSample, SyscallsModel  # noqa: E402
from ebpftop.output.metrics import Exporter  # noqa: E402

SYSCALLS = ("read", "write", "openat", "close", "newfstatat", "futex", "mmap", "epoll_wait", "recvfrom", "sendto")


def frames(series: int, count: int) -> list[Frame]:
    model = SyscallsModel()
    procs = series // len(SYSCALLS)
    out = []
    for i in range(count):
        counts = tuple(
            SyscallCount(1000 + p, n, name, 1 + (p * 7 + n + i) % 500, f"worker-{p:08d}")  # 15 bytes
            for p in range(procs)
            for n, name in enumerate(SYSCALLS)
        )
        out.append(
            Frame(time=1.8e9 + i, elapsed=1.0, probes=(), panes={"syscalls": model.update(SyscallSample(counts), 1.0)})
        )
    return out


def median_ms(fn: object, runs: int) -> tuple[float, float]:
    """Median wall ms and median CPU ms (this thread's process) of fn() over runs."""
    walls, cpus = [], []
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        fn()  # type: ignore[operator]
        walls.append((time.perf_counter() - w) * 1000)
        cpus.append((time.process_time() - c) * 1000)
    return statistics.median(walls), statistics.median(cpus)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    exp = Exporter("127.0.0.1", 0, MetricsOptions(max_series=args.series))
    batch = frames(args.series, args.runs + 1)
    exp.sink(batch[0])  # every series created
    it = iter(batch[1:])
    add_wall, add_cpu = median_ms(lambda: exp.sink(next(it)), args.runs)
    kept = exp.accumulator.snapshot
    n = sum(len(f.samples) for f in kept.families)
    text_wall, text_cpu = median_ms(exp.render, args.runs)
    om_wall, om_cpu = median_ms(lambda: openmetrics_latest(exp.registry), args.runs)
    body = exp.render()
    om = openmetrics_latest(exp.registry)
    gz_wall, gz_cpu = median_ms(lambda: gzip.compress(om), args.runs)
    exp.start()
    try:
        req = urllib.request.Request(
            exp.url,
            headers={
                "Accept": "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
                "Accept-Encoding": "gzip",
            },
        )
        wire = len(urllib.request.urlopen(req, timeout=30).read())
        http_wall, http_cpu = median_ms(lambda: urllib.request.urlopen(req, timeout=30).read(), args.runs)
    finally:
        exp.stop()
    print(f"### Exporter: one scrape with {args.series:,} series".replace(",", " "))
    print()
    print(
        f"`bench/exporter.py`: the real Exporter (prometheus_client {version('prometheus_client')}) fed frames from the"
        f" real syscall model: {args.series // len(SYSCALLS)} processes x {len(SYSCALLS)} syscalls, every series"
        f" incremented every frame; {n} samples per scrape in all. Medians of {args.runs}."
    )
    print()
    kib = f"{len(body) / 1024:.0f} KiB"
    rows = [
        ("hand-over per frame (sampler: accumulate, publish snapshot)", add_wall, add_cpu, ""),
        ("collect + render, Prometheus text", text_wall, text_cpu, kib),
        ("collect + render, OpenMetrics (what Prometheus asks for)", om_wall, om_cpu, f"{len(om) / 1024:.0f} KiB"),
        ("gzip of it (Prometheus sends Accept-Encoding: gzip)", gz_wall, gz_cpu, f"{wire / 1024:.0f} KiB"),
        ("whole scrape over HTTP on loopback (OpenMetrics, gzip)", http_wall, http_cpu, f"{wire / 1024:.0f} KiB"),
    ]
    print("| step | wall | CPU | size |")
    print("| --- | ---: | ---: | ---: |")
    for step, wall, cpu, size in rows:
        print(f"| {step} | {wall:.1f} ms | {cpu:.1f} ms | {size} |")
    print()
    load = os.getloadavg()[0]
    print(
        f"- CPU is this process's (server and client threads both, for the HTTP row); wall is what a scraper waits."
        f" Load average {load:.1f} on {os.cpu_count()} CPUs during the run: wall times stretch with it, CPU much less."
    )
    print(
        "- A scrape runs in its own HTTP thread and reads an immutable snapshot: it costs the sampler nothing but the"
        " GIL it shares; the hand-over is what each frame adds to the sampler's refresh work."
    )
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
