"""Memory soak: the real TUI in a pty for N minutes under a mixed load; is its memory flat?

    sudo .venv/bin/python bench/soak.py [minutes]     (make soak)

Load, all at once: 200 processes holding 2000 active files (`loops load`),
about 200 spawns/s of /bin/true, and the tabs switched every 30 s so every pane
draws. RSS and RssAnon are sampled every 10 s; the result is printed and
written to bench/out/soak.md. A leak shows as a slope over the second half.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as bench  # noqa: E402


def main() -> int:
    minutes = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    if os.geteuid() != 0:
        sys.exit("soak: run as root (sudo make soak)")
    bench.build_loops()
    seconds = minutes * 60
    tmp = Path(tempfile.mkdtemp(prefix="ebpftop-soak-", dir="/dev/shm"))
    load = subprocess.Popen(
        [str(bench.LOOPS), "load", "200", "2000", str(seconds + 60), str(tmp)], start_new_session=True
    )
    spawner = subprocess.Popen(
        ["sh", "-c", f"end=$(($(date +%s)+{int(seconds) + 60})); while [ $(date +%s) -lt $end ]; do "
         f"{bench.LOOPS} spawn 200 >/dev/null; sleep 0.5; done"],
        start_new_session=True,
    )
    time.sleep(3)
    run = bench.Ebpftop(["--interval", "1"], tui=True)
    samples: list[tuple[float, int, int, float]] = []
    try:
        run.first.wait(30)
        start = time.monotonic()
        cpu0 = run.cpu_s()
        next_tab = start + 30
        while (now := time.monotonic()) - start < seconds:
            if run.proc.poll() is not None:
                print("soak: ebpftop exited", file=sys.stderr)
                return 1
            samples.append((now - start, run.rss(), run.rss_anon(), run.cpu_s() - cpu0))
            if now >= next_tab:
                os.write(run._master, b"]")
                next_tab += 30
            time.sleep(10)
    finally:
        run.stop()
        for proc in (load, spawner):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    half = [s for s in samples if s[0] >= seconds / 2]
    slope = (half[-1][2] - half[0][2]) / max(1.0, half[-1][0] - half[0][0]) * 60 / 2**20 if len(half) > 1 else 0.0
    lines = [
        f"# Memory soak: {minutes:g} min of the TUI under 200 processes x 2000 files and ~200 spawns/s",
        "",
        "| t (s) | RSS MiB | RssAnon MiB | CPU s |",
        "| ---: | ---: | ---: | ---: |",
        *(
            f"| {t:.0f} | {r / 2**20:.0f} | {a / 2**20:.0f} | {c:.1f} |"
            for t, r, a, c in samples[:: max(1, len(samples) // 20)]
        ),
        "",
        f"Private memory (RssAnon) over the second half: {slope:+.2f} MiB per minute;"
        f" peak RSS {max(s[1] for s in samples) / 2**20:.0f} MiB;"
        f" CPU {samples[-1][3] / samples[-1][0] * 100:.1f}% of one core.",
    ]
    text = "\n".join(lines) + "\n"
    (bench.OUT / "soak.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
