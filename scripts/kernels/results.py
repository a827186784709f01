"""The kernel matrix's results table, from the outputs scripts/test-kernels.sh leaves under RUNS.

`results.py RUNS` prints Markdown: for each kernel the LATEST run found under RUNS/<stamp>/<release>/
(the matrix tests' and the TUI smoke's columns: the latest run that ran them, named when older)
(meta, steps.tsv, doctor.out, junit.xml, batch-*.out, tui.out): one row per probe (matrix tests passed,
their time, the --batch smoke, what --doctor said) and one summary line per kernel (boot, one bcc
compile, the subset, the TUI smoke, the whole guest). Only what a run measured; absent is "–".
"""

from __future__ import annotations

import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

PROBES = ("files", "syscalls", "proctree", "xdp")
MODULE_PROBE = {
    "test_files_probe": "files",
    "test_syscalls_probe": "syscalls",
    "test_proctree_probe": "proctree",
    "test_xdp_probe": "xdp",
}
BATCH_KEY = {"files": "files", "syscalls": "syscalls", "proctree": "procs", "xdp": "xdp"}


def read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def meta(d: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in read(d / "meta").splitlines() if "=" in line)


def steps(d: Path) -> dict[str, tuple[int, float]]:
    out = {}
    for line in read(d / "steps.tsv").splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            out[parts[0]] = (int(parts[1]), float(parts[2]))
    return out


def doctor(d: Path) -> dict[str, str]:
    """name -> 'yes detail' / 'no detail' from --doctor's two-column lines."""
    got = {}
    for line in read(d / "doctor.out").splitlines():
        m = re.match(r"  (\S.{0,17}?)\s+(yes|no|\?)\s*(.*)$", line)
        if m:
            got[m.group(1).strip()] = f"{m.group(2)} {m.group(3)}".strip()
    return got


def headers(said: str) -> str:
    if "running kernel's headers" in said:
        return "real: its own (" + said.split("(", 1)[1]
    if "fallback" in said:
        m = re.search(r"headers of (\S+)", said)
        return f"absent: fallback ({m.group(1) if m else '?'} headers)"
    return said


def junit(d: Path) -> dict[str, dict]:
    """probe -> {passed, total, seconds, failed: [names]}."""
    per = {p: {"passed": 0, "total": 0, "seconds": 0.0, "failed": []} for p in PROBES}
    try:
        root = ET.parse(d / "junit.xml").getroot()
    except (OSError, ET.ParseError):
        return streamed(d, per)
    for case in root.iter("testcase"):
        module = case.get("classname", "").split(".")[-1]
        probe = MODULE_PROBE.get(module)
        if probe is None:
            continue
        r = per[probe]
        if case.find("skipped") is not None:
            continue
        r["total"] += 1
        r["seconds"] += float(case.get("time", 0))
        if case.find("failure") is None and case.find("error") is None:
            r["passed"] += 1
        else:
            r["failed"].append(case.get("name"))
    return per


def streamed(d: Path, per: dict[str, dict]) -> dict[str, dict]:
    """No junit.xml (the guest was killed by the budget mid-run): the tests pytest -v reported so far."""
    text = read(d / "pytest.out")
    seen = False
    for m in re.finditer(r"^tests/kernel/(test_\w+)\.py::(\S+) (PASSED|FAILED|ERROR)", text, re.M):
        probe = MODULE_PROBE.get(m.group(1))
        if probe is None:
            continue
        seen = True
        per[probe]["total"] += 1
        if m.group(3) == "PASSED":
            per[probe]["passed"] += 1
        else:
            per[probe]["failed"].append(m.group(2))
    for m in re.finditer(r"^([\d.]+)s call\s+tests/kernel/(test_\w+)\.py::", text, re.M):
        if MODULE_PROBE.get(m.group(2)):
            per[MODULE_PROBE[m.group(2)]]["seconds"] += float(m.group(1))
    return per if seen else {}


def smoke(d: Path, probe: str) -> str:
    """What `--batch -n 2` with every probe said about this one: its state and rows in the frames."""
    name = "batch" if (d / "batch.out").exists() else f"batch-{probe}"
    text = read(d / f"{name}.out")
    if name not in steps(d):
        return "batch: not run"
    rc = steps(d)[name][0]
    frames = []
    for line in text.splitlines():
        try:
            frames.append(json.loads(line))
        except ValueError:
            continue
    if not frames:
        err = text.strip().splitlines()[-1][:80] if text.strip() else "no output"
        return f"batch: no frame (exit {rc}: {err})"
    st = frames[-1]["probes"].get(probe, {})
    key = BATCH_KEY[probe]
    n = sum(len(f.get(key, {}).get("events", []) if probe == "proctree" else f.get(key, [])) for f in frames)
    what = "events" if probe == "proctree" else "rows"
    reason = f" ({st.get('reason')})" if st.get("reason") else ""
    return f"batch: {st.get('state')}{reason}, {n} {what} in {len(frames)} frames, exit {rc}"


def fmt_s(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x / 60:.1f} min" if x >= 120 else f"{x:.0f} s"


def latest(runs: Path) -> dict[str, Path]:
    by_rel: dict[str, Path] = {}
    for d in sorted(runs.glob("*/*")):
        if (d / "meta").exists() and (d / "status").exists():
            by_rel[d.name] = d  # sorted by stamp: the last one wins
    return by_rel


def latest_with(runs: Path, rel: str, name: str, fallback: Path) -> Path:
    """The latest finished run of kernel ``rel`` that has the file ``name`` (a run with MATRIX_ONLY= skips steps)."""
    found = [d for d in sorted(runs.glob(f"*/{rel}")) if (d / "status").exists() and (d / name).exists()]
    return found[-1] if found else fallback


def main() -> int:
    runs = Path(sys.argv[1])
    rows = []
    summary = []

    def order(kv: Any) -> Any:
        return (meta(kv[1]).get("kernel") != "host", [int(x) if x.isdigit() else x for x in re.split(r"[.-]", kv[0])])

    for rel, d in sorted(latest(runs).items(), key=order):
        d_tests, d_tui = latest_with(runs, rel, "junit.xml", d), latest_with(runs, rel, "tui.out", d)
        m, st, doc, ju = meta(d), steps(d), doctor(d), junit(d_tests)
        st_tests = steps(d_tests)
        status = read(d / "status").strip()
        kname = "host " + rel if m.get("kernel") == "host" else f"Debian {m.get('kernel')} ({rel})"
        for p in PROBES:
            r = ju.get(p)
            tests = f"{r['passed']}/{r['total']}" if r else "–"
            said = doc.get(p, "–")
            notes = ["doctor: can run" if said.startswith("yes can run") else f"doctor: {said}", smoke(d, p)]
            if r and d_tests != d:
                notes.append(f"tests: run {d_tests.parent.name} @ {meta(d_tests).get('commit', '?')}")
            if r and r["failed"]:
                notes.append("FAILED: " + ", ".join(r["failed"]))
            rows.append(f"| {kname} | {p} | {tests} | {fmt_s(r['seconds']) if r else '–'} | {'; '.join(notes)} |")
        tui = read(d_tui / "tui.out").splitlines()
        tui_line = next((line for line in tui if line.startswith("tui: exit")), "tui: –")
        tui_rc = steps(d_tui).get("tui", (None, 0.0))[0]
        if (
            tui_rc is not None
        ):  # the smoke's verdict (every probe live, every pane drawn, q answered), not the TUI's exit
            tui_line = f"tui: {'passed' if tui_rc == 0 else 'FAILED'}; " + tui_line.removeprefix("tui: ")
        quit_line = next((line for line in tui if line.startswith("tui: q answered") or "did not end" in line), "")
        if quit_line:
            tui_line += "; " + quit_line.removeprefix("tui: ")
        panes = [line.split()[2] for line in tui if line.startswith("tui: pane ")]
        if panes:
            tui_line += f"; panes drawn: {', '.join(panes)}"
        if d_tui != d and tui:
            tui_line += f" (run {d_tui.parent.name} @ {meta(d_tui).get('commit', '?')})"
        features = ("kprobes", "fentry/fexit", "BTF", "ring buffer", "batch map ops")
        feats = ", ".join(f"{k} {doc.get(k, '–').split()[0]}" for k in features)
        summary.append(
            f"| {kname} | {m.get('accel', '–')} x{m.get('timescale', '–')} "
            f"| {fmt_s(st['boot'][1]) if 'boot' in st and m.get('kernel') != 'host' else '–'} "
            f"| {fmt_s(st['compile'][1]) if 'compile' in st else '–'} "
            f"| {fmt_s(st_tests['pytest'][1]) if 'pytest' in st_tests else '–'} "
            f"| {fmt_s(float(read(d / 'seconds'))) if read(d / 'seconds').strip() else '–'} "
            f"| {headers(doc.get('headers', '–'))} | {feats} "
            f"| {tui_line.removeprefix('tui: ')} | {status}, load {m.get('loadavg', '–')} "
            f"on {m.get('host_cpus', '?')} CPUs, {d.parent.name} @ {m.get('commit', '?')} |"
        )
    print("# Kernel matrix results\n")
    print("Written by `sudo make test-kernels` (scripts/test-kernels.sh) from its latest run of each kernel;")
    print("every guest runs `ebpftop --doctor`, the kernel tests marked `matrix` (`pytest -m matrix tests/kernel`),")
    print("`ebpftop --batch -n 2` with every probe and the TUI in a pty. Times are wall-clock under emulation")
    print(
        "(TCG: no usable KVM here) on a 2-CPU VM shared with other jobs:"
        " compare them with each other, not with the host.\n"
    )
    print("| kernel | probe | matrix tests passed | tests' time | notes |")
    print("| --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    print(
        "\n| kernel | accel, time scale | boot | one bcc compile (`--batch -n 1`) | matrix tests | whole guest"
        " | headers | kernel features (--doctor) | TUI smoke | run |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
