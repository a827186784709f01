"""`ebpftop --metrics` scraped by a real Prometheus server (Debian's package), counts checked through its query API.

Everything runs inside a network namespace of this test's own: ebpftop (with its
XDP counter on that namespace's lo), Prometheus (scraping every second, its
storage in a temp dir) and a small HTTP client that the test asks for URLs. The
workload has a known size: N getppid calls from a process with a hostile, unique
name, N UDP datagrams on lo, K spawns of a uniquely named program exiting with
code 3. Prometheus must then say exactly N and K. At the end nothing of
ebpftop's stays loaded or attached.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.kernel.floods import LIVE, tui
from tests.kernel.helpers import (
    ROOT,
    STARTUP,
    batch,
    fresh_netns,
    loaded_prog_ids,
    orphaned,
    prog_ids_of,
    prog_names,
    scaled,
)
from tests.kernel.test_xdp_probe import UDP_ON_LO
from tests.kernel.workloads import getppid_loop

PROMETHEUS = "/usr/bin/prometheus"
NETNS = f"ebpftop-test-metrics-{os.getpid()}"
EBPFTOP_PORT, PROM_PORT = 9187, 9190  # inside the test's own namespace: nobody else listens there
N = 5000
K = 7
PAYLOAD = 64
# A cap far above anything the box makes meanwhile: the test's own series are never refused.
EBPFTOP_ARGS = ("--interval", "0.5", "--xdp", "lo", "--metrics-paths", "5", "--metrics-max-series", "1000000")
DASHBOARD = ROOT / "contrib" / "grafana-dashboard.json"

# Runs inside the namespace: reads one URL per line, answers one JSON line {"status", "body"}.
CLIENT = r"""
import json, sys, urllib.request, urllib.error
for line in sys.stdin:
    try:
        with urllib.request.urlopen(line.strip(), timeout=10) as r:
            out = {"status": r.status, "body": r.read().decode("utf-8")}
    except urllib.error.HTTPError as e:
        out = {"status": e.code, "body": e.read().decode("utf-8", "replace")}
    except OSError as e:
        out = {"status": 0, "body": str(e)}
    print(json.dumps(out), flush=True)
"""


class Client:
    """An HTTP client living in the namespace (where Prometheus and ebpftop listen on lo)."""

    def __init__(self, ns: str) -> None:
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-c", CLIENT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def get(self, url: str) -> tuple[int, str]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(url + "\n")
        self.proc.stdin.flush()
        out = json.loads(self.proc.stdout.readline())
        return out["status"], out["body"]

    def query(self, promql: str) -> list[dict[str, Any]] | None:
        """Prometheus's instant vector for promql; None while Prometheus does not answer."""
        status, body = self.get(
            f"http://127.0.0.1:{PROM_PORT}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        )
        if status != 200:
            return None
        data = json.loads(body)
        assert data["status"] == "success", data
        return data["data"]["result"]

    def value(self, promql: str) -> float | None:
        """The single series' value, None when there is no such series (yet)."""
        result = self.query(promql)
        if not result:
            return None
        assert len(result) == 1, result
        return float(result[0]["value"][1])

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(10)


def wait_until(what: str, pred: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + scaled(timeout)
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not after {scaled(timeout):g}s")
        time.sleep(0.2)


@pytest.fixture
def netns() -> Iterator[str]:
    with fresh_netns(NETNS) as name:
        yield name


def prometheus_config(tmp: Path) -> Path:
    config = tmp / "prometheus.yml"
    config.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  scrape_timeout: 1s\n"
        "scrape_configs:\n"
        "  - job_name: ebpftop\n"
        "    static_configs:\n"
        f"      - targets: ['127.0.0.1:{EBPFTOP_PORT}']\n"
    )
    return config


def check_dashboard(client: Client, exposition: str) -> None:
    """Every query of contrib/grafana-dashboard.json runs on this Prometheus, on metric names ebpftop serves."""
    served = {fam.name for fam in text_string_to_metric_families(exposition)}
    served |= {f"{name}_total" for name in served}
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 15
    for expr in exprs:
        names = set(re.findall(r"\bebpftop_[a-z_]+", expr))
        assert names and names <= served, (expr, names - served)
        promql = expr.replace("$__rate_interval", "30s").replace("$instance", ".*")
        status, body = client.get(
            f"http://127.0.0.1:{PROM_PORT}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        )
        assert status == 200 and json.loads(body)["status"] == "success", (promql, body)


def spawn_exit_3(tmp: Path, name: str, times: int) -> None:
    """K processes named ``name`` (a link to sh: the kernel names a process after the file it execs), each exit 3."""
    link = tmp / name
    link.symlink_to("/bin/sh")
    for _ in range(times):
        assert subprocess.run([str(link), "-c", "exit 3"]).returncode == 3


def workload_and_check(client: Client, netns: str, tmp: Path, tag: str) -> dict[str, float] | None:
    """One run of the workload, checked through Prometheus; the probes' losses meanwhile if any (then unchecked)."""
    hostile = b'm"\\\n\xff' + tag.encode()  # quote, backslash, newline, a byte that is not UTF-8
    exit_comm = f"ebmx{tag}"
    udp_query = 'ebpftop_xdp_packets_total{ifname="lo",layer="l4",proto="udp"}'
    bytes_query = 'ebpftop_xdp_bytes_total{ifname="lo",layer="l4",proto="udp"}'
    udp_before = client.value(udp_query) or 0.0
    bytes_before = client.value(bytes_query) or 0.0
    forks_before = client.value("ebpftop_process_forks_total") or 0.0
    lost_before = lost(client)

    getppid_loop(hostile.decode("utf-8", "surrogateescape"), N)
    out = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-c", UDP_ON_LO, str(N), str(PAYLOAD)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == str(N)
    spawn_exit_3(tmp, exit_comm, K)

    # ebpftop's own count of frames now (asked directly). The next frame may have begun its reads
    # before the workload ended (it was being built while we asked), so the one after it is the
    # first known to have read everything above: once Prometheus has scraped it, every event is in
    # what it holds.
    status, body = client.get(f"http://127.0.0.1:{EBPFTOP_PORT}/metrics")
    assert status == 200
    frames_now = next(float(line.split()[-1]) for line in body.splitlines() if line.startswith("ebpftop_frames_total "))
    wait_until("a scrape after the workload", lambda: (client.value("ebpftop_frames_total") or 0) > frames_now + 1)
    lost_after = lost(client)
    if lost_after != lost_before:
        return {p: lost_after[p] - lost_before.get(p, 0) for p in lost_after if lost_after[p] != lost_before.get(p)}

    # The getppid process's name arrives intact (as its bytes decoded with backslashreplace).
    series = client.query('ebpftop_syscalls_total{syscall="getppid"}') or []
    want = hostile.decode("utf-8", "backslashreplace")
    mine = [s for s in series if s["metric"].get("comm") == want]
    assert len(mine) == 1, [s["metric"] for s in series]
    assert float(mine[0]["value"][1]) == N
    assert client.value(f'ebpftop_process_execs_total{{comm="{exit_comm}"}}') == K
    assert client.value(f'ebpftop_process_exits_total{{comm="{exit_comm}",status="3"}}') == K
    assert client.value(f'count(ebpftop_process_exits_total{{comm="{exit_comm}"}})') == 1  # no other status
    assert (client.value("ebpftop_process_forks_total") or 0) - forks_before >= K  # others fork too
    assert (client.value(udp_query) or 0) - udp_before == N
    # What XDP sees of one datagram on lo: Ethernet 14 + IPv4 20 + UDP 8 + payload.
    assert (client.value(bytes_query) or 0) - bytes_before == N * (14 + 20 + 8 + PAYLOAD)
    return None


def lost(client: Client) -> dict[str, float]:
    """Events lost so far by the probes whose counts the test checks (not files: it checks none of those)."""
    result = client.query('ebpftop_events_lost_total{probe=~"syscalls|proctree|xdp"}') or []
    return {r["metric"]["probe"]: float(r["value"][1]) for r in result}


def test_prometheus_sees_exact_counts(netns: str, tmp_path: Path) -> None:
    assert os.access(PROMETHEUS, os.X_OK), "Debian's prometheus package is missing: run `sudo make setup`"
    before = loaded_prog_ids()
    in_ns = ("ip", "netns", "exec", netns)
    prom_args = (f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{PROM_PORT}")
    err_log = (tmp_path / "ebpftop.err").open("w+")
    ebpftop = subprocess.Popen(
        [*in_ns, sys.executable, "-m", "ebpftop", "--metrics", f"127.0.0.1:{EBPFTOP_PORT}", *EBPFTOP_ARGS],
        stdout=subprocess.DEVNULL,
        stderr=err_log,
        cwd=ROOT,
    )
    prom_log = (tmp_path / "prometheus.log").open("w")
    prometheus = subprocess.Popen(
        [*in_ns, PROMETHEUS, f"--config.file={prometheus_config(tmp_path)}", *prom_args],
        stdout=prom_log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    client = Client(netns)
    names: set[str] = set()
    try:
        # Prometheus scrapes ebpftop, and ebpftop has every probe live and its counter on lo.
        wait_until("prometheus scraping ebpftop", lambda: client.value('up{job="ebpftop"}') == 1)
        wait_until("every probe live", lambda: client.value("min(ebpftop_probe_live)") == 1, timeout=STARTUP)
        assert client.value("count(ebpftop_probe_live)") == 4
        wait_until("xdp on lo", lambda: client.value('ebpftop_xdp_attached{ifname="lo"}') == 1)
        names = set(prog_names(set(prog_ids_of(ebpftop.pid))).values())
        # Other users of this box may flood it meanwhile (other tests, other tools): a probe that
        # lost events during the workload cannot be held to an exact count, so the workload is run
        # again, with new names, until one run loses nothing (exactness is never relaxed).
        seen_loss = []
        for attempt in range(3):
            loss = workload_and_check(client, netns, tmp_path, f"{os.getpid() % 10000:04d}{attempt}")
            if loss is None:
                break
            seen_loss.append(loss)
        else:
            pytest.fail(f"every run of the workload saw probes lose events: {seen_loss}")
        status, body = client.get(f"http://127.0.0.1:{EBPFTOP_PORT}/metrics")
        assert status == 200
        check_dashboard(client, body)
        assert client.value("ebpftop_series_dropped_total") is None  # nothing refused under the test's cap
        assert (client.value("ebpftop_resident_memory_bytes") or 0) > 0
        # BPF stats: the first window (open from the start) closed with the first frame.
        assert (client.value('ebpftop_bpf_runs_total{probe="syscalls"}') or 0) > 0
        assert (client.value('ebpftop_bpf_run_seconds_total{probe="syscalls"}') or 0) > 0
        assert (client.value('sum(ebpftop_cpu_seconds_total{job="ebpftop"})') or 0) > 0
    finally:
        client.close()
        prometheus.send_signal(signal.SIGTERM)
        try:
            prometheus.wait(scaled(30))
        except subprocess.TimeoutExpired:
            prometheus.kill()
            prometheus.wait(10)
        if ebpftop.poll() is None:
            ebpftop.send_signal(signal.SIGTERM)
        try:
            ebpftop.wait(scaled(30))
        except subprocess.TimeoutExpired:
            ebpftop.kill()
            ebpftop.wait(10)
    err_log.seek(0)
    err = err_log.read()
    assert ebpftop.returncode == 0, err
    assert "Traceback" not in err, err
    assert err.startswith(f"ebpftop: serving metrics at http://127.0.0.1:{EBPFTOP_PORT}/metrics\n"), err
    assert prometheus.returncode == 0
    # Nothing of ebpftop's left in the kernel, nothing on lo.
    assert len(names) >= 4
    assert orphaned(before, names) == {}
    link = subprocess.run(["ip", "-n", netns, "-j", "-d", "link", "show", "lo"], capture_output=True, text=True)
    assert "xdp" not in json.loads(link.stdout)[0]


def scrape(client: Client, port: int = EBPFTOP_PORT, ok: bool = True) -> dict[str, float]:
    """ebpftop's /metrics, asked directly: 'name{labels}' -> value (with ok False: {} while it does not answer)."""
    status, body = client.get(f"http://127.0.0.1:{port}/metrics")
    if not ok and status != 200:
        return {}
    assert status == 200, body
    out = {}
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


def test_metrics_next_to_batch_frames(netns: str) -> None:
    """--metrics --batch: JSON frames on stdout as without it, and the same counts served."""
    client = Client(netns)
    try:
        with batch(
            "--probes",
            "syscalls",
            "--interval",
            "0.3",
            "--metrics",
            f"127.0.0.1:{EBPFTOP_PORT}",
            prefix=("ip", "netns", "exec", netns),
        ) as run:
            run.wait_live("syscalls")
            run.wait_frames(len(run.frames) + 2)
            got = wait_until("frames served", lambda: (m := scrape(client)).get("ebpftop_frames_total", 0) >= 2 and m)
            assert got['ebpftop_probe_live{probe="syscalls"}'] == 1
            assert any(k.startswith("ebpftop_syscalls_total{") for k in got)
            frames = run.stop(signal.SIGTERM)
        assert run.proc.returncode == 0
        assert frames and frames[-1]["final"] is True and "syscalls" in frames[-1]
    finally:
        client.close()


def test_metrics_with_the_tui_and_toggles_never_lower_a_counter(netns: str) -> None:
    """--metrics --tui: the TUI draws, the exporter serves; a probe switched off and on lowers no counter."""
    client = Client(netns)
    try:
        args = ["--probes", "syscalls", "-i", "0.3", "--metrics", f"127.0.0.1:{EBPFTOP_PORT}", "--tui"]
        with tui(args, prefix=("ip", "netns", "exec", netns)) as t:
            t.wait_for(LIVE["syscalls"], timeout=60)
            first = wait_until("syscalls served", lambda: (m := scrape(client)).get("ebpftop_frames_total") and m)
            since = len(t.out)
            os.write(t.master, b"2")  # the syscalls probe off
            t.wait_for(b"2 syscalls off", since)
            off = wait_until(
                "probe off served", lambda: (m := scrape(client))['ebpftop_probe_live{probe="syscalls"}'] == 0 and m
            )
            since = len(t.out)
            os.write(t.master, b"2")  # and on again
            t.wait_for(LIVE["syscalls"], since, timeout=60)
            on = wait_until(
                "probe on served", lambda: (m := scrape(client))['ebpftop_probe_live{probe="syscalls"}'] == 1 and m
            )
            for earlier, later in ((first, off), (off, on)):
                for key, value in earlier.items():
                    if key.startswith(("ebpftop_syscalls_total{", "ebpftop_events_lost_total{", "ebpftop_bpf_")):
                        assert later[key] >= value, key
            assert on["ebpftop_frames_total"] > off["ebpftop_frames_total"] > first["ebpftop_frames_total"]
            assert t.quit() == 0
    finally:
        client.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_stalled_scrapers_do_not_hold_the_exit(netns: str, sig: int) -> None:
    """Headless, with one scraper that never sends its request and one that never reads its answer:
    a signal still ends it (exit 0), every program detached."""
    before = loaded_prog_ids()
    proc = subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, "-m", "ebpftop", *SYSCALLS_ONLY],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    client = Client(netns)
    stall: subprocess.Popen[str] | None = None
    try:
        wait_until("served", lambda: scrape(client, ok=False).get('ebpftop_probe_live{probe="syscalls"}') == 1, 90)
        names = set(prog_names(set(prog_ids_of(proc.pid))).values())
        # The stalled peers live in the namespace too: a helper that opens them and then sleeps.
        stall = subprocess.Popen(
            ["ip", "netns", "exec", netns, sys.executable, "-c", STALL, str(EBPFTOP_PORT)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert stall.stdout is not None and stall.stdout.readline().strip() == "stalled"
        proc.send_signal(sig)
        proc.wait(scaled(30))
    finally:
        client.close()
        if stall is not None:
            stall.kill()
            stall.wait(10)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    assert proc.returncode == 0, err
    assert names and orphaned(before, names) == {}


SYSCALLS_ONLY = ("--probes", "syscalls", "-i", "0.3", "--metrics", f"127.0.0.1:{EBPFTOP_PORT}")
# Two stalled scrapers of ebpftop's /metrics: one connects and sends nothing, one asks and never reads.
STALL = r"""
import socket, sys, time
port = int(sys.argv[1])
silent = socket.create_connection(("127.0.0.1", port))
greedy = socket.socket()
greedy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
greedy.connect(("127.0.0.1", port))
greedy.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
print("stalled", flush=True)
time.sleep(600)
"""
