"""XDP probe on the real kernel, in network namespaces this test creates and deletes.

ebpftop runs under `ip netns exec` (which execs, so the PID is ebpftop's):
exact UDP counts on lo, nothing left attached after SIGKILL/SIGTERM, another
program's interface left untouched and passing traffic, a deleted veth's row
going away. No traffic ever leaves these namespaces.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from itertools import count
from typing import Any

import pytest

from tests.kernel.helpers import ROOT, BatchRun, batch, loaded_prog_ids, prog_ids_of, scaled, wait_progs_gone

DATAGRAMS = 1000
PAYLOAD = 100
# What XDP sees of one such datagram on lo: Ethernet 14 + IPv4 20 + UDP 8 + payload.
WIRE_BYTES = 14 + 20 + 8 + PAYLOAD

_seq = count()


def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=check)


@contextmanager
def netns(n: int = 1) -> Iterator[list[str]]:
    """n fresh network namespaces with lo up; always deleted (with every interface in them)."""
    names = [f"ebt-xdp-{os.getpid()}-{next(_seq)}" for _ in range(n)]
    try:
        for name in names:
            run("ip", "netns", "add", name)
            run("ip", "-n", name, "link", "set", "lo", "up")
        yield names
    finally:
        for name in names:
            run("ip", "netns", "del", name, check=False)


def veth(ns_a: str, ns_b: str, a: str = "vxa", b: str = "vxb") -> None:
    """A veth pair a (10.77.0.1) in ns_a <-> b (10.77.0.2) in ns_b."""
    run("ip", "-n", ns_a, "link", "add", a, "type", "veth", "peer", "name", b, "netns", ns_b)
    run("ip", "-n", ns_a, "addr", "add", "10.77.0.1/24", "dev", a)
    run("ip", "-n", ns_b, "addr", "add", "10.77.0.2/24", "dev", b)
    run("ip", "-n", ns_a, "link", "set", a, "up")
    run("ip", "-n", ns_b, "link", "set", b, "up")


def batch_in(ns: str, *args: str, env: dict[str, str]) -> AbstractContextManager[BatchRun]:
    """helpers.batch, but with ebpftop inside ns."""
    return batch("--probes", "xdp", *args, env=env, prefix=("ip", "netns", "exec", ns))


def link_xdp(ns: str, dev: str) -> dict[str, Any] | None:
    """What `ip -d link show` says is attached as XDP (None when nothing)."""
    out = run("ip", "-n", ns, "-j", "-d", "link", "show", "dev", dev).stdout
    return json.loads(out)[0].get("xdp")


def bpftool_net(ns: str) -> list[dict[str, Any]]:
    out = run("ip", "netns", "exec", ns, "bpftool", "-j", "net", "show").stdout
    return json.loads(out)[0]["xdp"]


def rows(frames: list[dict[str, Any]], ifname: str) -> list[dict[str, Any]]:
    return [r for f in frames for r in f.get("xdp", []) if r["ifname"] == ifname]


def udp_on(frames: list[dict[str, Any]], ifname: str) -> int:
    """UDP packets XDP counted on ifname over these frames."""
    return sum(r["by_proto"]["udp"]["packets"] for r in rows(frames, ifname))


def wait_for(run_: BatchRun, pred: Any, timeout: float = 20.0) -> dict[str, Any]:
    """The first frame (from now on) for which pred(frame) holds; the timeout is scaled."""
    deadline = time.monotonic() + scaled(timeout)
    seen = len(run_.frames)
    while time.monotonic() < deadline:
        frames = run_.wait_frames(seen + 1, timeout=deadline - time.monotonic())
        for f in frames[seen:]:
            if pred(f):
                return f
        seen = len(frames)
    raise TimeoutError("no frame matched")


# Inside the namespace: a bound receiver (so no ICMP port-unreachable), then
# exactly N datagrams of PAYLOAD bytes to it over lo, all received.
UDP_ON_LO = r"""
import socket, sys
n, size = int(sys.argv[1]), int(sys.argv[2])
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
r.bind(("127.0.0.1", 0))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
got = 0
for i in range(n):
    s.sendto(b"u" * size, r.getsockname())
    r.recv(65536); got += 1
print(got)
"""


@pytest.mark.matrix
def test_1000_udp_datagrams_counted_exactly_on_lo() -> None:
    with netns() as (ns,):
        with batch_in(ns, "--interval", "0.3", env={"EBPFTOP_XDP": "lo"}) as b:
            b.wait_live("xdp")
            first = wait_for(b, lambda f: any(r["state"] == "attached" for r in f.get("xdp", [])))
            assert rows([first], "lo")[0]["mode"] == "generic"
            out = run("ip", "netns", "exec", ns, sys.executable, "-c", UDP_ON_LO, str(DATAGRAMS), str(PAYLOAD)).stdout
            assert out.strip() == str(DATAGRAMS)
            time.sleep(0.4)
            frames = b.stop(signal.SIGINT)
        assert b.proc.returncode == 0, b.proc.stderr.read()
        assert frames[-1].get("final") is True
        lo = rows(frames, "lo")
        assert {r["state"] for r in lo} == {"attached"}
        # Nothing else runs in a fresh namespace: every packet on lo is ours.
        assert sum(r["packets"] for r in lo) == DATAGRAMS
        assert sum(r["bytes"] for r in lo) == DATAGRAMS * WIRE_BYTES
        for proto, expected in (
            ("udp", DATAGRAMS),
            ("ipv4", DATAGRAMS),
            ("tcp", 0),
            ("ipv6", 0),
            ("arp", 0),
            ("icmp", 0),
        ):
            assert sum(r["by_proto"][proto]["packets"] for r in lo) == expected, proto
        assert sum(r["by_proto"]["udp"]["bytes"] for r in lo) == DATAGRAMS * WIRE_BYTES
        # The kernel's own counters agree (they count from the IP header: no Ethernet header on lo).
        assert sum(r["kernel"]["rx_packets"] for r in lo) == DATAGRAMS
        assert max(r["pps"] for r in lo) > 0
    assert all(f["probes"]["xdp"]["lost"] == 0 for f in frames)


@pytest.mark.matrix
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_signal_leaves_no_xdp_program_on_the_interface(sig: int) -> None:
    with netns(2) as (ns_a, ns_b):
        veth(ns_a, ns_b)
        with batch_in(ns_a, "--interval", "0.3", env={"EBPFTOP_XDP": "lo,vxa"}) as b:
            b.wait_live("xdp")
            wait_for(b, lambda f: sum(r["state"] == "attached" for r in f.get("xdp", [])) == 2)
            ours = set(prog_ids_of(b.proc.pid))
            assert len(ours) == 1
            for dev in ("lo", "vxa"):
                xdp = link_xdp(ns_a, dev)
                assert xdp is not None and xdp["prog"]["id"] in ours and xdp["prog"]["name"] == "xdp_count"
            assert {(e["devname"], e["mode"]) for e in bpftool_net(ns_a)} == {("lo", "generic"), ("vxa", "generic")}
            b.stop(sig)
        assert b.proc.returncode == (-signal.SIGKILL if sig == signal.SIGKILL else 0)
        assert link_xdp(ns_a, "lo") is None
        assert link_xdp(ns_a, "vxa") is None
        assert bpftool_net(ns_a) == []
        assert wait_progs_gone(ours) == set()


# Load an XDP_PASS program with bcc and attach it the old way (netlink): it
# stays attached after this helper exits, like someone's production program.
OTHER_PROGRAM = r"""
import sys
from ebpftop.env import checks
checks.preflight()
from bcc import BPF
b = BPF(text=b"int prod_pass(struct xdp_md *ctx) { return XDP_PASS; }")
fn = b.load_func(b"prod_pass", BPF.XDP)
BPF.attach_xdp(sys.argv[1].encode(), fn, BPF.XDP_FLAGS_SKB_MODE)
"""

# Receiver bound in ns A, sender in ns B (setns between the two sockets):
# prints how many of N datagrams crossed the veth pair.
ACROSS_VETH = r"""
import ctypes, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
def enter(ns):  # os.setns only exists from Python 3.12
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    assert libc.setns(fd, 0x40000000) == 0, ctypes.get_errno()  # CLONE_NEWNET
    os.close(fd)
ns_a, ns_b, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
enter(ns_a)
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r.bind(("10.77.0.1", 9999)); r.settimeout(5)
enter(ns_b)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
got = 0
for i in range(n):
    s.sendto(b"p" * 100, ("10.77.0.1", 9999))
    r.recv(2048); got += 1
print(got)
"""


def test_interface_with_another_program_is_left_alone_and_reported_busy() -> None:
    with netns(2) as (ns_a, ns_b):
        veth(ns_a, ns_b)
        run("ip", "netns", "exec", ns_a, sys.executable, "-c", OTHER_PROGRAM, "vxa")
        other = link_xdp(ns_a, "vxa")
        assert other is not None and other["prog"]["name"] == "prod_pass"
        other_id = other["prog"]["id"]
        with batch_in(ns_a, "--interval", "0.3", env={"EBPFTOP_XDP": "vxa,lo"}) as b:
            b.wait_live("xdp")
            frame = wait_for(b, lambda f: any(r["ifname"] == "vxa" for r in f.get("xdp", [])))
            (row,) = rows([frame], "vxa")
            assert row["state"] == "busy"
            assert (row["prog_id"], row["prog_name"], row["mode"]) == (other_id, "prod_pass", "generic")
            assert "untouched" in row["reason"]
            assert rows([frame], "lo")[0]["state"] == "attached"  # the free interface is counted
            # The other program is still the one on vxa, and traffic still passes through it.
            assert link_xdp(ns_a, "vxa")["prog"]["id"] == other_id  # type: ignore[index]
            out = run(sys.executable, "-c", ACROSS_VETH, ns_a, ns_b, "50").stdout
            assert out.strip() == "50"
            frames = b.stop(signal.SIGTERM)
        assert b.proc.returncode == 0
        assert {r["state"] for r in rows(frames, "vxa")} == {"busy"}
        assert sum(r["packets"] for r in rows(frames, "vxa")) == 0
        after = link_xdp(ns_a, "vxa")
        assert after is not None and after["prog"]["id"] == other_id
        assert [(e["devname"], e["id"]) for e in bpftool_net(ns_a)] == [("vxa", other_id)]
        assert other_id in loaded_prog_ids()
        out = run(sys.executable, "-c", ACROSS_VETH, ns_a, ns_b, "20").stdout
        assert out.strip() == "20"


@pytest.mark.parametrize("interval", ["0.3", "30"])
def test_deleted_interface_row_goes_and_probe_keeps_running(interval: str) -> None:
    """Its counts since the last read come in one last row (state gone), then the row goes. With a 30 s
    interval the delete always comes before the next read: the old code never reported those packets."""
    with netns(2) as (ns_a, ns_b):
        veth(ns_a, ns_b)
        with batch_in(ns_a, "--interval", interval, env={"EBPFTOP_XDP": "vxa,lo"}) as b:
            b.wait_live("xdp")
            if interval == "0.3":
                wait_for(b, lambda f: any(r["ifname"] == "vxa" and r["state"] == "attached" for r in f.get("xdp", [])))
            else:  # the first frame is 30 s away: ask the kernel
                deadline = time.monotonic() + scaled(20)
                while (link_xdp(ns_a, "vxa") or {}).get("prog", {}).get("id") not in prog_ids_of(b.proc.pid):
                    assert time.monotonic() < deadline, "XDP never attached to vxa"
                    time.sleep(0.05)
            out = run(sys.executable, "-c", ACROSS_VETH, ns_a, ns_b, "30").stdout
            assert out.strip() == "30"
            run("ip", "-n", ns_b, "link", "del", "vxb")  # at once; takes its peer vxa with it
            if interval == "30":
                frames = b.stop(signal.SIGINT)  # the final frame is the first read after the delete
                last = rows(frames, "vxa")[-1]  # (wait_live took the first frame, before the datagrams)
                assert last["state"] == "gone" and frames[-1]["final"] and last in frames[-1]["xdp"]
                assert last["by_proto"]["udp"] == {"packets": 30, "bytes": 30 * WIRE_BYTES}
                assert udp_on(frames, "vxa") == 30
                return
            gone = wait_for(b, lambda f: not any(r["ifname"] == "vxa" for r in f.get("xdp", [])))
            assert gone["probes"]["xdp"]["state"] == "live"
            later = wait_for(b, lambda f: True)
            assert later["probes"]["xdp"]["state"] == "live"
            assert [r["ifname"] for r in later["xdp"]] == ["lo"]
            assert later["xdp"][0]["state"] == "attached"
            frames = b.stop(signal.SIGINT)
        assert b.proc.returncode == 0, b.proc.stderr.read()
        vxa = rows(frames, "vxa")
        assert vxa[-1]["state"] == "gone" and {r["state"] for r in vxa[:-1]} == {"attached"}
        # Each datagram crossed vxa once; whatever else arrived there (ARP, IPv6 ND) is IP-other or ARP.
        assert udp_on(frames, "vxa") == 30
        assert sum(r["by_proto"]["udp"]["bytes"] for r in vxa) == 30 * WIRE_BYTES
        assert link_xdp(ns_a, "lo") is None


# The probe API the pane's key uses, inside a namespace: attach/detach by name,
# an unknown name and an impossible mode give one reason each, never an exception.
API = r"""
import json
from ebpftop.env import checks
checks.preflight()
from ebpftop.probes.xdp import XdpProbe
out = {}
p = XdpProbe(ifaces=None, mode="generic")
assert p.available() is None
p.enable()
out["start"] = [(i.ifname, i.state) for i in p.read().ifaces]
out["unknown"] = p.attach_iface("nope0")
out["attach"] = p.attach_iface("lo")
out["again"] = p.attach_iface("lo")
out["after_attach"] = [(i.ifname, i.state, i.mode) for i in p.read().ifaces]
out["detach"] = p.detach_iface("lo")
out["detach_again"] = p.detach_iface("lo")
out["after_detach"] = [(i.ifname, i.state) for i in p.read().ifaces]
out["toggle"] = p.attach_iface("lo")
out["attached"] = p.attached()
p.disable()
out["disabled_attach"] = p.attach_iface("lo")
native = XdpProbe(ifaces=("lo",), mode="native")
native.enable()
out["native"] = [(i.ifname, i.state, i.reason) for i in native.read().ifaces]
native.disable()
out["bad_mode"] = XdpProbe(mode="turbo").available()
print(json.dumps(out))
"""


def test_probe_api_attach_detach_and_reasons() -> None:
    with netns() as (ns,):
        proc = subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, "-c", API], capture_output=True, text=True, cwd=ROOT
        )
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert link_xdp(ns, "lo") is None
    assert out["start"] == [["lo", "off"]]
    assert out["unknown"] == "no interface named 'nope0' in this network namespace"
    assert out["attach"] is None and out["again"] is None
    assert out["after_attach"] == [["lo", "attached", "generic"]]
    assert out["detach"] is None
    assert out["detach_again"] == "xdp is not attached to 'lo'"
    assert out["after_detach"] == [["lo", "off"]]
    assert out["toggle"] is None and out["attached"] == {"lo": 1}
    assert out["disabled_attach"] == "the xdp probe is off"
    ((name, state, reason),) = out["native"]
    assert (name, state) == ("lo", "error")
    assert reason.startswith("cannot attach native XDP to lo:")
    assert "unknown XDP mode 'turbo'" in out["bad_mode"]


# Datagrams on lo, then the interface's counter detached (the pane's key) before the next read.
DETACH = r"""
import json, socket, sys
sys.path.insert(0, ".")
from ebpftop.model.xdp import XdpModel
from ebpftop.probes.xdp import XdpProbe
p = XdpProbe(ifaces=("lo",))
p.enable()
model, out = XdpModel(), {}
model.update(p.read(), 1.0)
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.bind(("127.0.0.1", 0))
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(int(sys.argv[1])):
    tx.sendto(b"x" * 100, rx.getsockname())
out["detach"] = p.detach_iface("lo")
for step in ("next", "after"):
    (row,) = [r for r in model.update(p.read(), 1.0).rows if r.ifname == "lo"]
    out[step] = [row.state, row.by_proto["udp"].packets, row.by_proto["udp"].bytes]
p.disable()
print(json.dumps(out))
"""


def test_a_detached_interface_reports_its_counts_up_to_the_detach() -> None:
    """The pane's detach key closed the link and zeroed its counter slot: packets since the last read
    were never reported. Now the next read has them, once, on the row (state off); then nothing."""
    with netns() as (ns,):
        proc = subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, "-c", DETACH, "40"], capture_output=True, text=True, cwd=ROOT
        )
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["detach"] is None
    assert out["next"] == ["off", 40, 40 * WIRE_BYTES]
    assert out["after"] == ["off", 0, 0]


def test_name_asked_for_before_it_exists_is_attached_when_it_appears() -> None:
    with netns(2) as (ns_a, ns_b):
        with batch_in(ns_a, "--interval", "0.3", env={"EBPFTOP_XDP": "vxa"}) as b:
            b.wait_live("xdp")
            frame = wait_for(b, lambda f: bool(f.get("xdp")))
            (row,) = rows([frame], "vxa")
            assert row["state"] == "missing" and row["ifindex"] == 0
            assert row["reason"] == "no interface named 'vxa' in this network namespace"
            veth(ns_a, ns_b)
            frame = wait_for(b, lambda f: any(r["ifname"] == "vxa" and r["state"] == "attached" for r in f["xdp"]))
            assert len(rows([frame], "vxa")) == 1  # one row per name, never a stale "missing" beside it
            assert link_xdp(ns_a, "vxa")["prog"]["name"] == "xdp_count"  # type: ignore[index]
            b.stop(signal.SIGINT)
        assert b.proc.returncode == 0
        assert link_xdp(ns_a, "vxa") is None
