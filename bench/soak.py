"""Memory soak: the real TUI in a pty for N minutes under a mixed load, every probe toggled each minute; is RSS flat?

    sudo .venv/bin/python bench/soak.py [minutes] [--toggle-every S]     (make soak MINUTES=30)

1. At rest: the TUI alone (no load), every probe live; RSS is sampled for 20 s.
2. Soak: load, all at once: 200 processes holding 2000 active files (`loops
   load`), about 200 spawns/s of /bin/true, the tabs switched every 30 s so
   every pane draws, and every S seconds (60) a toggle cycle: keys 1-4 switch
   every probe off, and once every badge says off, on again (four recompiles
   and reloads), as a user would.
RSS and RssAnon are sampled every 10 s and just before each toggle cycle. The
report: RSS at rest, RSS under the load (median and peak), the RSS slope in
MiB per hour (least squares over the second half's samples) and the slope
per toggle cycle (least squares over the second half's pre-toggle samples).
It is printed and written to bench/out/soak.md.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as bench  # noqa: E402

NAMES = ("files", "syscalls", "proctree", "xdp")
# A probe's header badge: key, name, then its events/s when live, "off" when switched off.
LIVE = {n: re.compile(rb"%d %s [0-9.]+[kMG]?/s" % (i, n.encode())) for i, n in enumerate(NAMES, 1)}
OFF = {n: re.compile(rb"%d %s off" % (i, n.encode())) for i, n in enumerate(NAMES, 1)}
KEYS = b"".join(str(i).encode() for i in range(1, len(NAMES) + 1))


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs (0 with fewer than two points)."""
    if len(xs) < 2:
        return 0.0
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def wait_badges(run: bench.Ebpftop, markers: dict[str, re.Pattern[bytes]], mark: int, timeout: float) -> bool:
    """Until every probe's badge matches after byte ``mark`` of the output; False on timeout or exit."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and run.proc.poll() is None:
        text = run.screen_since(mark)
        if all(m.search(text) for m in markers.values()):
            return True
        time.sleep(0.2)
    return False


def mib(run: bench.Ebpftop) -> tuple[float, float]:
    return run.rss() / 2**20, run.rss_anon() / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("minutes", nargs="?", type=float, default=10.0)
    parser.add_argument("--toggle-every", type=float, default=60.0, help="seconds between toggle cycles (0: none)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("soak: run as root (sudo make soak)")
    bench.build_loops()
    seconds = args.minutes * 60
    run = bench.Ebpftop(["--interval", "1"], tui=True)
    samples: list[tuple[float, float, float, float]] = []  # t, RSS MiB, RssAnon MiB, CPU s
    cycles: list[tuple[int, float, float, float]] = []  # cycle, t, RSS MiB, RssAnon MiB just before it
    slow: list[str] = []
    load = spawner = None
    tmp = Path(tempfile.mkdtemp(prefix="ebpftop-soak-", dir="/dev/shm"))
    try:
        run.first.wait(30)
        if not wait_badges(run, LIVE, 0, 180):
            print("soak: the probes did not all go live", file=sys.stderr)
            return 1
        time.sleep(5)  # the first frames drawn
        rest = []
        for _ in range(10):
            rest.append(mib(run))
            time.sleep(2)
        load = subprocess.Popen(
            [str(bench.LOOPS), "load", "200", "2000", str(seconds + 60), str(tmp)], start_new_session=True
        )
        spawner = subprocess.Popen(
            ["sh", "-c", f"end=$(($(date +%s)+{int(seconds) + 60})); while [ $(date +%s) -lt $end ]; do "
             f"{bench.LOOPS} spawn 200 >/dev/null; sleep 0.5; done"],
            start_new_session=True,
        )
        time.sleep(3)
        start = time.monotonic()
        cpu0 = run.cpu_s()
        next_tab, next_sample = start + 30, start
        next_toggle = start + args.toggle_every if args.toggle_every > 0 else float("inf")
        while (now := time.monotonic()) - start < seconds:
            if run.proc.poll() is not None:
                print("soak: ebpftop exited", file=sys.stderr)
                return 1
            if now >= next_sample:
                samples.append((now - start, *mib(run), run.cpu_s() - cpu0))
                while next_sample <= now:  # one sample per 10 s slot, none owed after a long toggle
                    next_sample += 10
            if now >= next_tab:
                os.write(run._master, b"]")
                while next_tab <= now:
                    next_tab += 30
            if now >= next_toggle:
                cycles.append((len(cycles) + 1, now - start, *mib(run)))
                for markers in (OFF, LIVE):
                    mark = run.screen_total
                    os.write(run._master, KEYS)
                    if not wait_badges(run, markers, mark, 180):
                        slow.append(f"cycle {len(cycles)}: not every badge went {'off' if markers is OFF else 'live'}")
                next_toggle += args.toggle_every
            time.sleep(max(0.0, min(next_sample, next_tab, next_toggle) - time.monotonic()))
    finally:
        run.stop()
        for proc in (load, spawner):
            if proc is not None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    second = [s for s in samples if s[0] >= seconds / 2]
    per_hour = slope([s[0] for s in second], [s[1] for s in second]) * 3600
    per_hour_anon = slope([s[0] for s in second], [s[2] for s in second]) * 3600
    late = [c for c in cycles if c[1] >= seconds / 2]
    per_cycle = slope([c[0] for c in late], [c[2] for c in late])
    per_cycle_anon = slope([c[0] for c in late], [c[3] for c in late])
    rest_rss = statistics.median(r for r, _ in rest)
    rest_anon = statistics.median(a for _, a in rest)
    lines = [
        f"# Memory soak: {args.minutes:g} min of the TUI under 200 processes x 2000 files and ~200 spawns/s,"
        f" every probe toggled off and on every {args.toggle_every:g} s ({len(cycles)} cycles)",
        "",
        f"- RSS at rest (all four probes live, no load; median of 10 samples over 20 s): {rest_rss:.0f} MiB"
        f" (RssAnon {rest_anon:.0f} MiB).",
        f"- RSS under the load: median {statistics.median(s[1] for s in samples):.0f} MiB,"
        f" peak {max(s[1] for s in samples):.0f} MiB (RssAnon peak {max(s[2] for s in samples):.0f} MiB).",
        f"- RSS slope over the second half ({len(second)} samples, least squares): {per_hour:+.1f} MiB/hour"
        f" (RssAnon {per_hour_anon:+.1f} MiB/hour).",
        f"- Per toggle cycle of all four probes, second half ({len(late)} cycles, least squares):"
        f" {per_cycle:+.2f} MiB/cycle (RssAnon {per_cycle_anon:+.2f} MiB/cycle).",
        f"- CPU: {samples[-1][3] / max(1.0, samples[-1][0]) * 100:.1f}% of one core, toggles and load included.",
        *(f"- {s}" for s in slow),
        "",
        "| t (s) | RSS MiB | RssAnon MiB | CPU s |",
        "| ---: | ---: | ---: | ---: |",
        *(f"| {t:.0f} | {r:.0f} | {a:.0f} | {c:.1f} |" for t, r, a, c in samples[:: max(1, len(samples) // 20)]),
        "",
        "Before each toggle cycle (cycle: RSS / RssAnon MiB): "
        + ", ".join(f"{n}: {r:.0f}/{a:.0f}" for n, _, r, a in cycles),
    ]
    text = "\n".join(lines) + "\n"
    (bench.OUT / "soak.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
