"""The --metrics accumulator: exact totals from real model tables, monotonic across toggles, capped series."""

from __future__ import annotations

import itertools
import subprocess
import sys

from ebpftop.model.files import FileIO, FilesModel, FilesSample
from ebpftop.model.frame import LIVE, OFF, Frame, ProbeStatus
from ebpftop.model.metrics import (
    BPF_RUN_SECONDS,
    BPF_RUNS,
    COUNTER,
    EXECS,
    EXITS,
    FILE_READ_BYTES,
    FILE_READS,
    FILE_WRITE_BYTES,
    FORKS,
    LOST,
    PATH_READ_BYTES,
    SERIES,
    SERIES_DROPPED,
    SYSCALLS,
    XDP_ATTACHED,
    XDP_BYTES,
    XDP_PACKETS,
    MetricsAccumulator,
    MetricsOptions,
    Snapshot,
    exit_status,
    label_value,
    totals,
)
from ebpftop.model.proctree import EXEC, EXIT, FORK, ProcEvent, ProcSample, ProcTreeModel
from ebpftop.model.syscalls import SyscallCount, SyscallSample, SyscallsModel
from ebpftop.model.xdp import ATTACHED, NSLOTS, PROTOS, IfaceSample, XdpModel, XdpSample

T0 = 1_800_000_000.0


def status(name: str, state: str = LIVE, lost: int = 0, runs: int = 0, ns: int = 0) -> ProbeStatus:
    return ProbeStatus(name, state, lost_total=lost, runs_measured=runs, run_ns_measured=ns)  # type: ignore[arg-type]


def frame(i: int, panes: dict, probes: tuple[ProbeStatus, ...] = ()) -> Frame:
    return Frame(time=T0 + i, elapsed=1.0, probes=probes, panes=panes, rss_bytes=1000 + i)


def syscalls_table(model: SyscallsModel, *counts: tuple[int, str, str, int]) -> object:
    sample = SyscallSample(tuple(SyscallCount(pid, 0, name, n, comm) for pid, comm, name, n in counts))
    return model.update(sample, 1.0)


def test_syscall_totals_are_exact_sums_of_every_interval() -> None:
    acc = MetricsAccumulator()
    model = SyscallsModel()
    acc.add(frame(1, {"syscalls": syscalls_table(model, (10, "a", "read", 5), (10, "a", "getppid", 7))}))
    acc.add(frame(2, {"syscalls": syscalls_table(model, (10, "a", "read", 1), (11, "a", "read", 2))}))
    snap = acc.add(frame(3, {"syscalls": syscalls_table(model, (12, "b", "write", 3))}))
    got = totals(snap)[SYSCALLS]
    # Two processes named "a" add up in one series; every syscall of every process is counted.
    assert got == {("a", "read"): 8, ("a", "getppid"): 7, ("b", "write"): 3}
    assert snap.frames == 3


def test_every_syscall_of_a_process_is_counted_not_only_its_top_few() -> None:
    acc = MetricsAccumulator()
    names = [f"sys{i}" for i in range(40)]
    table = syscalls_table(SyscallsModel(), *[(7, "many", n, i + 1) for i, n in enumerate(names)])
    got = totals(acc.add(frame(1, {"syscalls": table})))[SYSCALLS]
    assert got == {("many", n): i + 1 for i, n in enumerate(names)}


def test_pid_label_only_when_asked() -> None:
    acc = MetricsAccumulator(MetricsOptions(pid_label=True))
    table = syscalls_table(SyscallsModel(), (10, "a", "read", 5), (11, "a", "read", 2))
    snap = acc.add(frame(1, {"syscalls": table}))
    assert totals(snap)[SYSCALLS] == {("a", "read", "10"): 5, ("a", "read", "11"): 2}
    spec = next(f.spec for f in snap.families if f.spec.name == SYSCALLS)
    assert spec.labels == ("comm", "syscall", "pid")
    plain = MetricsAccumulator().add(frame(1, {}))
    assert next(f.spec for f in plain.families if f.spec.name == SYSCALLS).labels == ("comm", "syscall")


def test_counters_never_decrease_across_probe_toggles() -> None:
    acc = MetricsAccumulator()
    model = SyscallsModel()
    seen: list[dict] = []
    snaps: list[Snapshot] = []
    plan = [
        ({"syscalls": syscalls_table(model, (1, "a", "read", 4))}, (status("syscalls", lost=2, runs=10, ns=500),)),
        # Switched off: no pane in the frame, the status keeps its cumulative figures.
        ({}, (status("syscalls", OFF, lost=2, runs=10, ns=500),)),
        ({}, (status("syscalls", OFF, lost=2, runs=10, ns=500),)),
        # On again: counts go on from where they stood.
        ({"syscalls": syscalls_table(model, (1, "a", "read", 3))}, (status("syscalls", lost=5, runs=25, ns=900),)),
        # A status with a smaller figure (never from the sampler; guarded anyway) lowers nothing.
        ({"syscalls": syscalls_table(model, (1, "a", "read", 1))}, (status("syscalls", lost=1, runs=3, ns=100),)),
    ]
    for i, (panes, probes) in enumerate(plan):
        snaps.append(acc.add(frame(i, panes, probes)))
        seen.append(totals(snaps[-1]))
    reads = [s[SYSCALLS].get(("a", "read"), 0) for s in seen]
    assert reads == [4, 4, 4, 7, 8]
    assert [s[LOST][("syscalls",)] for s in seen] == [2, 2, 2, 5, 5]
    assert [s[BPF_RUNS][("syscalls",)] for s in seen] == [10, 10, 10, 25, 25]
    assert seen[-1][BPF_RUN_SECONDS][("syscalls",)] == 900e-9
    for earlier, later in itertools.pairwise(snaps):
        after = {f.spec.name: f.samples for f in later.families}
        for fam in earlier.families:
            if fam.spec.kind == COUNTER:
                for key, value in fam.samples.items():
                    assert after[fam.spec.name][key] >= value, (fam.spec.name, key)


def test_series_cap_keeps_the_busiest_and_counts_what_it_drops() -> None:
    acc = MetricsAccumulator(MetricsOptions(max_series=3))
    model = SyscallsModel()
    five = [(i, f"p{i}", "read", 10 * i) for i in range(1, 6)]
    snap = acc.add(frame(1, {"syscalls": syscalls_table(model, *five)}))
    t = totals(snap)
    assert t[SYSCALLS] == {("p5", "read"): 50, ("p4", "read"): 40, ("p3", "read"): 30}
    assert t[SERIES] == {(): 3}
    # The per-cgroup family found the cap full too (it is shared by every capped family).
    assert t[SERIES_DROPPED] == {("ebpftop_syscalls_total",): 2, ("ebpftop_cgroup_syscalls_total",): 1}
    # Next interval: kept series go on counting; the refused two are refused again (and counted again).
    t = totals(acc.add(frame(2, {"syscalls": syscalls_table(model, *five)})))
    assert t[SYSCALLS] == {("p5", "read"): 100, ("p4", "read"): 80, ("p3", "read"): 60}
    assert t[SERIES_DROPPED] == {("ebpftop_syscalls_total",): 4, ("ebpftop_cgroup_syscalls_total",): 2}
    # The cap is shared by every capped family: exits are refused too now.
    tree = ProcTreeModel().update(ProcSample((ProcEvent(EXIT, 99, 1, "x", T0, exit_code=3),), 0, T0, seed=()), 1.0)
    t = totals(acc.add(frame(3, {"procs": tree})))
    assert t[EXITS] == {}
    assert t[SERIES_DROPPED][("ebpftop_process_exits_total",)] == 1
    assert t[SERIES] == {(): 3}


def test_zero_counts_make_no_series() -> None:
    acc = MetricsAccumulator(MetricsOptions(max_series=1))
    io = FileIO(5, 3, 1, "/tmp/x", "file", "reader", reads=2, writes=0, read_bytes=100, write_bytes=0)
    files = FilesModel().update(FilesSample((io,)), 1.0)
    t = totals(acc.add(frame(1, {"files": files})))
    # One series allowed: the first nonzero family takes it; no empty write series were made.
    assert t[FILE_READ_BYTES] == {("reader", "file"): 100}
    assert t[FILE_WRITE_BYTES] == {}
    assert t[SERIES_DROPPED] == {("ebpftop_file_reads_total",): 1, ("ebpftop_cgroup_file_read_bytes_total",): 1}


def test_process_events_forks_execs_exits_with_status() -> None:
    acc = MetricsAccumulator()
    seed_model = ProcTreeModel()
    events = (
        ProcEvent(FORK, 100, 1, "sh", T0),
        ProcEvent(EXEC, 100, 1, "uniq3", T0, filename="/x/uniq3", argv=("uniq3",)),
        ProcEvent(EXIT, 100, 1, "uniq3", T0, exit_code=3),
        ProcEvent(FORK, 101, 1, "sh", T0),
        ProcEvent(EXEC, 101, 1, "uniq3", T0, filename="/x/uniq3", argv=("uniq3",)),
        ProcEvent(EXIT, 101, 1, "uniq3", T0, signal="KILL"),
        ProcEvent(FORK, 102, 1, "sh", T0),
        ProcEvent(EXIT, 102, 1, "sh", T0, exit_code=0),
    )
    tree = seed_model.update(ProcSample(events, 0, T0, seed=()), 1.0)
    t = totals(acc.add(frame(1, {"procs": tree})))
    assert t[FORKS] == {(): 3}
    assert t[EXECS] == {("uniq3",): 2}
    assert t[EXITS] == {("uniq3", "3"): 1, ("uniq3", "SIGKILL"): 1, ("sh", "0"): 1}
    assert exit_status(None, "RTMIN+2") == "SIGRTMIN+2"
    assert exit_status(None, None) == "unknown"


def xdp_sample(attach_id: int, udp_packets: int, size: int = 142) -> XdpSample:
    pk = [0] * NSLOTS
    by = [0] * NSLOTS
    for proto in ("ipv4", "udp"):
        pk[PROTOS.index(proto)] = udp_packets
        by[PROTOS.index(proto)] = udp_packets * size
    return XdpSample((IfaceSample("lo", 1, ATTACHED, up=True, xdp=tuple(pk + by), attach_id=attach_id),))


def test_xdp_totals_follow_the_kernel_counters_across_a_reattach() -> None:
    acc = MetricsAccumulator()
    model = XdpModel()
    t = [
        totals(acc.add(frame(i, {"xdp": model.update(s, 1.0)})))
        for i, s in enumerate([xdp_sample(1, 10), xdp_sample(1, 25), xdp_sample(2, 4), xdp_sample(2, 9)])
    ]
    # Attach 1 counted 25, the new attach (its counters from zero) 9 more.
    assert [x[XDP_PACKETS][("lo", "l4", "udp")] for x in t] == [10, 25, 29, 34]
    assert t[-1][XDP_PACKETS][("lo", "l3", "ipv4")] == 34
    assert t[-1][XDP_BYTES][("lo", "l4", "udp")] == 34 * 142
    assert ("lo", "l4", "tcp") not in t[-1][XDP_PACKETS]  # nothing counted, no series
    assert t[-1][XDP_ATTACHED] == {("lo",): 1}
    # Probe off: attached nowhere, totals kept.
    off = totals(acc.add(frame(9, {})))
    assert off[XDP_ATTACHED] == {} and off[XDP_PACKETS][("lo", "l4", "udp")] == 34


def test_file_totals_by_comm_and_type_and_tracked_paths() -> None:
    acc = MetricsAccumulator(MetricsOptions(top_paths=2))
    model = FilesModel()

    def io(pid: int, path: str, comm: str, rb: int, wb: int, kind: str = "file") -> FileIO:
        return FileIO(
            pid, 3, 1, path, kind, comm, reads=1 if rb else 0, writes=1 if wb else 0, read_bytes=rb, write_bytes=wb
        )

    first = (
        io(1, "/big", "cat", 1000, 0),
        io(2, "/mid", "cat", 500, 0),
        io(3, "/small", "dd", 0, 10),
        io(4, "fd 3", "x", 7, 0, "unknown"),
    )
    acc.add(frame(1, {"files": model.update(FilesSample(first), 1.0)}))
    second = (io(1, "/small", "dd", 0, 10), io(2, "/new", "cp", 9000, 0), io(3, "/mid", "cat", 1, 0))
    t = totals(acc.add(frame(2, {"files": model.update(FilesSample(second), 1.0)})))
    assert t[FILE_READ_BYTES] == {("cat", "file"): 1501, ("x", "unknown"): 7, ("cp", "file"): 9000}
    assert t[FILE_WRITE_BYTES] == {("dd", "file"): 20}
    assert t[FILE_READS] == {("cat", "file"): 3, ("x", "unknown"): 1, ("cp", "file"): 1}
    # The first interval's two busiest paths got series and count on; /new came when no room was left.
    assert t[PATH_READ_BYTES] == {("/big", "file"): 1000, ("/mid", "file"): 501}


def test_file_pid_filter_is_applied() -> None:
    acc = MetricsAccumulator()
    ios = (FileIO(1, 3, 1, "/a", "file", "keep", 1, 0, 10, 0), FileIO(2, 3, 1, "/a", "file", "drop", 1, 0, 20, 0))
    t = totals(acc.add(frame(1, {"files": FilesModel().update(FilesSample(ios), 1.0, frozenset({1}))})))
    assert t[FILE_READ_BYTES] == {("keep", "file"): 10}


def test_label_values_are_valid_utf8_whatever_the_bytes() -> None:
    raw = b'a\xff"\\\n\x1b[31m\xc3'
    text = raw.decode("utf-8", "surrogateescape")  # what the probes hand the model
    value = label_value(text)
    value.encode("utf-8")  # no surrogates left
    assert value == raw.decode("utf-8", "backslashreplace") == 'a\\xff"\\\n\x1b[31m\\xc3'
    assert label_value("plain") == "plain"
    assert label_value("é") == "é"


def test_snapshot_is_a_new_frozen_object_per_frame() -> None:
    acc = MetricsAccumulator()
    # Before the first frame: every family there, empty, and no frame counted.
    before = totals(acc.snapshot)
    assert before[SYSCALLS] == {} and before["ebpftop_frames"] == {(): 0}
    model = SyscallsModel()
    one = acc.add(frame(1, {"syscalls": syscalls_table(model, (1, "a", "read", 1))}))
    two = acc.add(frame(2, {"syscalls": syscalls_table(model, (1, "a", "read", 1))}))
    assert one is not two and acc.snapshot is two
    # The older snapshot a scrape may still be rendering is untouched by later frames.
    assert totals(one)[SYSCALLS] == {("a", "read"): 1}
    assert totals(two)[SYSCALLS] == {("a", "read"): 2}


def test_model_metrics_imports_no_prometheus() -> None:
    code = "import sys, ebpftop.model.metrics; print([m for m in sys.modules if m.startswith(('prometheus', 'bcc'))])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_syscalls_and_execs_per_cgroup_by_name() -> None:
    import dataclasses

    from ebpftop.cgroups import describe
    from ebpftop.model.metrics import CGROUP_EXECS, CGROUP_SYSCALLS
    from ebpftop.model.proctree import EXEC
    from ebpftop.model.syscalls import SyscallCount, SyscallSample

    counts = (
        SyscallCount(1, 39, "getpid", 30, "a", 40),
        SyscallCount(2, 39, "getpid", 20, "b", 40),
        SyscallCount(3, 39, "getpid", 7, "c", 41),
        SyscallCount(4, 39, "getpid", 5, "d", 0),
    )
    table = SyscallsModel().update(SyscallSample(counts), 1.0)
    tree = ProcTreeModel().update(
        ProcSample((ProcEvent(EXEC, 9, 1, "x", T0, filename="/x", argv=("x",), cgroup=41),), 0, T0, seed=()), 1.0
    )
    named = {40: describe(40, "/system.slice/nginx.service"), 41: describe(41, "/evil\nname")}
    acc = MetricsAccumulator()
    f = dataclasses.replace(frame(1, {"syscalls": table, "procs": tree}), cgroups=named)
    t = totals(acc.add(f))
    nginx, evil = ("nginx.service", "/system.slice/nginx.service"), ("/evil\nname", "/evil\nname")
    assert t[CGROUP_SYSCALLS] == {nginx: 50, evil: 7, ("unknown", "unknown"): 5}
    assert t[CGROUP_EXECS] == {evil: 1}


def test_two_cgroups_of_one_name_keep_two_series() -> None:
    """dbus.service under system.slice and under a user's manager: one name, two groups, two series."""
    import dataclasses

    from ebpftop.cgroups import describe
    from ebpftop.model.metrics import CGROUP_SYSCALLS
    from ebpftop.model.syscalls import SyscallCount, SyscallSample

    system, user = "/system.slice/dbus.service", "/user.slice/user-1000.slice/user@1000.service/app.slice/dbus.service"
    named = {40: describe(40, system), 41: describe(41, user)}
    assert named[40].name == named[41].name == "dbus.service"
    counts = (SyscallCount(1, 39, "getpid", 30, "dbus-daemon", 40), SyscallCount(2, 39, "getpid", 7, "dbus-daemon", 41))
    table = SyscallsModel().update(SyscallSample(counts), 1.0)
    t = totals(MetricsAccumulator().add(dataclasses.replace(frame(1, {"syscalls": table}), cgroups=named)))
    assert t[CGROUP_SYSCALLS] == {("dbus.service", system): 30, ("dbus.service", user): 7}
