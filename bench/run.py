"""make bench: ebpftop's probes against the bare workload and against bcc/bpftrace peers, side by side in one run.

Each section times one C workload (bench/loops.c) with nothing attached, with
ebpftop's probe, and with each peer tool, round-robin over several rounds so
drift hits every scenario alike. The figure is the cost a tool ADDS per
operation (median ns/op with it minus median ns/op bare), and the ratio of
ebpftop's added cost to each peer's. Results go to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
LOOPS = OUT / "loops"
RESULTS = HERE / "RESULTS.md"


@dataclass
class Tool:
    """Something attached while the workload runs; None cmd = bare."""

    name: str
    cmd: list[str] | None
    ready: str = ""  # regex on the tool's output that says it is attached
    env: dict[str, str] = field(default_factory=dict)
    skip: str | None = None  # why it cannot run here


@dataclass
class Section:
    title: str
    workload: list[str]  # loops arguments, N included
    unit: str
    tools: list[Tool]
    samples: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    target: str = ""
    bpf_ns: dict[str, float] = field(default_factory=dict)  # ebpftop's own BPF-stats ns/event
    prefix: list[str] = field(default_factory=list)  # e.g. ip netns exec NS


def build_loops() -> None:
    OUT.mkdir(exist_ok=True)
    src = HERE / "loops.c"
    if not LOOPS.exists() or LOOPS.stat().st_mtime < src.stat().st_mtime:
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            sys.exit("bench: needs a C compiler (apt-get install gcc)")
        subprocess.run([cc, "-O2", "-o", str(LOOPS), str(src)], check=True)


def bcc_env() -> dict[str, str]:
    """bcc tools need the same header fallback ebpftop uses by itself."""
    sys.path.insert(0, str(ROOT))
    from ebpftop.env import headers

    found = headers.find()
    if found and found.kind == "fallback" and found.path:
        return {"BCC_KERNEL_SOURCE": str(found.path)}
    return {}


def ebpftop(probes: str, *extra: str) -> Tool:
    return Tool(
        f"ebpftop ({probes} probe{', ' + ' '.join(extra) if extra else ''})",
        [sys.executable, "-m", "ebpftop", "--batch", "--probes", probes, "--interval", "1", *extra],
        ready=r'^\{"time"',
    )


def peer(name: str, cmd: list[str], ready: str, env: dict[str, str] | None = None) -> Tool:
    exe = shutil.which(cmd[0])
    if exe is None:
        return Tool(name, cmd, ready, skip=f"{cmd[0]} not installed")
    return Tool(name, [exe, *cmd[1:]], ready, env=env or {})


class Running:
    """A tool process; its output is drained by a thread so it never blocks on a full pipe."""

    def __init__(self, tool: Tool) -> None:
        self.tool = tool
        self.lines: list[str] = []
        self.event = threading.Event()
        self.proc = subprocess.Popen(
            tool.cmd,  # type: ignore[arg-type]
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            cwd=ROOT,
            env={**os.environ, **tool.env},
            start_new_session=True,
        )
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        pattern = re.compile(self.tool.ready)
        for line in self.proc.stdout:
            self.lines.append(line)
            if pattern.search(line):
                self.event.set()
        self.event.set()  # ended: wait_ready sees the exit and says why

    def wait_ready(self, timeout: float = 60.0) -> None:
        ok = self.event.wait(timeout)
        time.sleep(0.2)  # a tool that failed right after its banner has exited by now
        if not ok or self.proc.poll() is not None:
            tail = "".join(self.lines[-5:]).strip()
            raise RuntimeError(f"{self.tool.name} did not start: {tail or 'timeout'}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.thread.join(5)


def run_workload(args: list[str], prefix: list[str] | None = None) -> float:
    out = subprocess.run([*(prefix or []), str(LOOPS), *args], capture_output=True, text=True, check=True).stdout
    return float(out.strip())


def measure(section: Section, rounds: int, reps: int) -> None:
    print(f"== {section.title}", flush=True)
    for tool in section.tools:
        section.samples.setdefault(tool.name, [])
    for r in range(rounds):
        for tool in section.tools:
            if tool.skip:
                continue
            running = Running(tool) if tool.cmd else None
            try:
                if running:
                    running.wait_ready()
                    time.sleep(0.1)
                values = [run_workload(section.workload, section.prefix) for _ in range(reps)]
                section.samples[tool.name].extend(values)
                print(f"  round {r + 1} {tool.name:<32} {statistics.median(values):12.1f} {section.unit}", flush=True)
            except (RuntimeError, subprocess.CalledProcessError) as exc:
                tool.skip = str(exc).splitlines()[0]
                print(f"  {tool.name}: {tool.skip}", flush=True)
            finally:
                if running:
                    running.stop()
                    if tool.cmd and "always" in tool.cmd:  # sampled windows may miss the workload
                        _ebpftop_bpf_ns(section, tool, running)


def _ebpftop_bpf_ns(section: Section, tool: Tool, running: Running) -> None:
    """ebpftop reports its own programs' ns/event (BPF stats): keep the busiest interval's figure."""
    best = (0.0, 0.0)
    for line in running.lines:
        if not line.startswith("{"):
            continue
        try:
            frame = json.loads(line)
        except json.JSONDecodeError:
            continue
        for status in frame.get("probes", {}).values():
            if status.get("state") == "live" and status.get("events_per_s", 0) > best[0]:
                best = (status["events_per_s"], status.get("avg_ns", 0.0))
    if best[0]:
        section.bpf_ns[tool.name] = best[1]


def summarize(section: Section) -> list[str]:
    bare_name = section.tools[0].name
    bare = section.samples.get(bare_name) or []
    if not bare:
        return [f"### {section.title}", "", "bare workload did not run", ""]
    base = statistics.median(bare)
    rows = [
        f"### {section.title}",
        "",
        f"Workload: `loops {' '.join(section.workload)}`. Target: {section.target}",
        "",
        f"| scenario | median {section.unit} | min | max | added {section.unit} | vs bare |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    added: dict[str, float] = {}
    for tool in section.tools:
        values = section.samples.get(tool.name) or []
        if tool.skip and not values:
            rows.append(f"| {tool.name} | did not run: {tool.skip} | | | | |")
            continue
        med = statistics.median(values)
        added[tool.name] = med - base
        rows.append(
            f"| {tool.name} | {med:,.1f} | {min(values):,.1f} | {max(values):,.1f} | "
            f"{med - base:+,.1f} | {med / base:.3f}x |"
        )
    rows.append("")
    ours = [n for n in added if n.startswith("ebpftop")]
    for name in ours:
        for other, cost in added.items():
            if other in (name, bare_name) or other.startswith("ebpftop"):
                continue
            if other.startswith("empty"):
                rows.append(f"- {name} adds {added[name] - cost:+.1f} {section.unit} over the {other.split(' (')[0]}.")
                continue
            if cost <= 0:
                rows.append(f"- {other} added nothing measurable here, so no ratio (noise is larger than its cost).")
                continue
            rows.append(f"- {name} adds **{added[name] / cost:.2f}x** what {other} adds.")
        if name in section.bpf_ns:
            rows.append(f"- {name}: its programs' own run time from BPF stats: {section.bpf_ns[name]:.1f} ns per event.")
    rows.extend(f"- {note}" for note in section.notes)
    rows.append("")
    return rows


def sections(env: dict[str, str], only: set[str] | None) -> list[Section]:
    out = []
    if not only or "syscalls" in only:
        out.append(
            Section(
                "Per syscall: getppid",
                ["getppid", "2000000"],
                "ns/call",
                [
                    Tool("bare", None),
                    Tool(
                        "empty raw tracepoint on sys_enter (the hook's own cost)",
                        [sys.executable, str(HERE / "empty_prog.py"), "sys_enter"],
                        ready=r"^attached",
                    ),
                    ebpftop("syscalls"),
                    ebpftop("syscalls", "--bpf-stats", "always"),
                    peer("syscount-bpfcc -P", ["syscount-bpfcc", "-P"], r"Tracing|Ctrl", env),
                    peer(
                        "bpftrace @[pid] = count()",
                        ["bpftrace", "-e", "tracepoint:raw_syscalls:sys_enter { @[pid] = count(); }"],
                        r"Attaching",
                    ),
                ],
                target="ebpftop adds at most 0.5x what syscount adds.",
            )
        )
    if not only or "files" in only:
        out.append(
            Section(
                "Per read: 1-byte read of /dev/zero",
                ["read", "2000000"],
                "ns/read",
                [
                    Tool("bare", None),
                    ebpftop("files"),
                    ebpftop("files", "--bpf-stats", "always"),
                    peer(
                        "bpftrace per-fd sum(args.ret)",
                        [
                            "bpftrace",
                            "-e",
                            # bpftrace 0.17 (Debian 12) spells tracepoint fields args->x
                            "tracepoint:syscalls:sys_enter_read { @fd[tid] = args->fd; } "
                            "tracepoint:syscalls:sys_exit_read /@fd[tid]/ "
                            "{ @bytes[pid, @fd[tid]] = sum(args->ret); delete(@fd[tid]); }",
                        ],
                        r"Attaching",
                    ),
                    Tool("filetop-bpfcc", None, skip="bcc's filetop needs kprobes (vfs_read), which this kernel lacks"),
                ],
                target="ebpftop adds at most 0.25x what bpftrace adds.",
            )
        )
    if not only or "spawn" in only:
        out.append(
            Section(
                "Spawn rate: fork+exec+wait of /bin/true",
                ["spawn", "2000"],
                "ns/spawn",
                [
                    Tool("bare", None),
                    ebpftop("proctree"),
                    ebpftop("proctree", "--bpf-stats", "always"),
                    peer("exitsnoop-bpfcc", ["exitsnoop-bpfcc"], r"PCOMM|TIME", env),
                    Tool("execsnoop-bpfcc", None, skip="bcc's execsnoop needs kprobes, which this kernel lacks"),
                ],
                target="spawn rate within 2% of bare.",
            )
        )
    if not only or "xdp" in only:
        rx = ["ip", "netns", "exec", NETNS_RX]
        out.append(
            Section(
                "XDP: UDP flood of 64-byte datagrams through a veth pair",
                ["udp", "1000000", RX_IP, "9"],
                "ns/packet",
                [
                    Tool("bare", None),
                    Tool(
                        "empty XDP_PASS program (generic XDP's own cost)",
                        [*rx, sys.executable, str(HERE / "empty_prog.py"), "xdp", "ebt-rx"],
                        ready=r"^attached",
                    ),
                    Tool(
                        "ebpftop (xdp counter on the receiving veth)",
                        [*rx, sys.executable, "-m", "ebpftop", "--batch", "--probes", "xdp", "--xdp", "ebt-rx"],
                        ready=r'^\{"time"',
                    ),
                    Tool(
                        "ebpftop (xdp counter, --bpf-stats always)",
                        [*rx, sys.executable, "-m", "ebpftop", "--batch", "--probes", "xdp", "--xdp", "ebt-rx",
                         "--bpf-stats", "always"],
                        ready=r'^\{"time"',
                    ),
                ],
                target="30 ns per packet or less (BPF stats).",
                prefix=["ip", "netns", "exec", NETNS_TX],
                notes=["Sender-side ns per packet: the veth peer receives in the sender's softirq, so the XDP run is in it."],
            )
        )
    return out


NETNS_TX, NETNS_RX = "ebpftop-bench-tx", "ebpftop-bench-rx"
TX_IP, RX_IP = "10.250.0.1", "10.250.0.2"  # only inside the two namespaces made here


def veth_setup() -> None:
    """Two namespaces joined by a veth pair: all flood traffic stays between them."""
    veth_teardown()
    cmds = [
        ["ip", "netns", "add", NETNS_TX],
        ["ip", "netns", "add", NETNS_RX],
        ["ip", "link", "add", "ebt-tx", "netns", NETNS_TX, "type", "veth", "peer", "name", "ebt-rx", "netns", NETNS_RX],
        ["ip", "-n", NETNS_TX, "addr", "add", f"{TX_IP}/30", "dev", "ebt-tx"],
        ["ip", "-n", NETNS_RX, "addr", "add", f"{RX_IP}/30", "dev", "ebt-rx"],
        ["ip", "-n", NETNS_TX, "link", "set", "ebt-tx", "up"],
        ["ip", "-n", NETNS_RX, "link", "set", "ebt-rx", "up"],
        ["ip", "-n", NETNS_RX, "link", "set", "lo", "up"],
    ]
    for cmd in cmds:
        subprocess.run(cmd, check=True)


def veth_teardown() -> None:
    for ns in (NETNS_TX, NETNS_RX):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def self_cost(seconds: float = 12.0) -> list[str]:
    """ebpftop's own user+system CPU and RSS over an idle stretch, first frame and all-probes-live times."""
    import psutil

    rows = ["### ebpftop's own cost", ""]
    rows.append("| mode | user+sys CPU % of one core | max RSS | first frame | all probes live |")
    rows.append("| --- | ---: | ---: | ---: | ---: |")
    for label, args in (
        ("--batch, all probes, 1 s", ["--batch", "--interval", "1"]),
        ("--batch, all probes, 1 s, --bpf-stats always", ["--batch", "--interval", "1", "--bpf-stats", "always"]),
    ):
        start = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "ebpftop", *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT
        )
        ps = psutil.Process(proc.pid)
        assert proc.stdout is not None
        first = proc.stdout.readline()
        t_first = time.monotonic() - start
        t_live = t_first if first and all(p["state"] == "live" for p in json.loads(first)["probes"].values()) else float("nan")
        cpu0 = sum(ps.cpu_times()[:2])
        t0 = time.monotonic()
        rss = 0
        while time.monotonic() - t0 < seconds:
            proc.stdout.readline()
            rss = max(rss, ps.memory_info().rss)
        cpu = (sum(ps.cpu_times()[:2]) - cpu0) / (time.monotonic() - t0) * 100
        proc.send_signal(signal.SIGINT)
        proc.wait(20)
        # --batch prints its first frame one interval after every probe is live.
        rows.append(f"| {label} | {cpu:.2f}% | {rss / 2**20:.0f} MiB | {t_first:.2f} s | {t_live - 1.0:.2f} s (+1 s interval) |")
    rows += [
        "",
        "- CPU is sampled from /proc while ebpftop runs on an otherwise idle box; RSS includes bcc/LLVM (~70 MB by itself).",
        "",
    ]
    return rows


def write_results(done: list[Section], rounds: int, reps: int, extra: list[str] | None = None) -> None:
    uname = os.uname()
    lines = [
        "# ebpftop benchmark results",
        "",
        f"Made by `make bench` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.",
        f"Machine: {platform.node()}, {os.cpu_count()} CPUs, kernel {uname.release} ({uname.machine}).",
        f"Method: {rounds} rounds x {reps} runs per scenario, scenarios interleaved round-robin in one run;",
        "each figure is ns per operation from the C workload in bench/loops.c; 'added' is median minus bare median.",
        "",
    ]
    for section in done:
        lines.extend(summarize(section))
    lines.extend(extra or [])
    RESULTS.write_text("\n".join(lines))
    print(f"wrote {RESULTS}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--only", default="", help="comma list of sections (syscalls, files, spawn, xdp, self)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root (sudo make bench)")
    build_loops()
    env = bcc_env()
    only = {s for s in args.only.split(",") if s} or None
    done = sections(env, only)
    if any(s.prefix for s in done):
        veth_setup()
    try:
        for section in done:
            measure(section, args.rounds, args.reps)
    finally:
        veth_teardown()
    extra = self_cost() if not only or "self" in only else []
    write_results(done, args.rounds, args.reps, extra)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
