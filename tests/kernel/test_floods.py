"""Floods (issue 8): syscalls from 100 processes, 200 000 files, thousands of spawns/s, a UDP flood on a veth.

Two kinds of test per flood:
- the REAL TUI in a pty with every probe, while the flood runs: keys still
  work (tabs, probe toggle, PID filter: each must be drawn within a generous
  liveness timeout, never a timing assert), RSS stays under a fixed cap and
  stops growing, the loss count is drawn where a map overflows, and q exits
  cleanly leaving nothing loaded;
- `--batch` runs for exact accounting: what ebpftop counted plus what it
  reports lost equals what the workload (floods.c) counted it did.

The flood rates are whatever this machine reaches (2 CPUs, maybe shared with
a benchmark); nothing asserts a rate. Workloads, namespaces and files are
removed in finally blocks, also on failure.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.kernel.floods import (
    LIVE,
    RX_IP,
    RssSampler,
    Workload,
    build,
    tui,
    udp_sink,
    veth_pair,
    workload,
)
from tests.kernel.helpers import BatchRun, batch, prog_ids_of, scaled, wait_progs_gone

# RSS cap for ebpftop under any flood. Measured here: the idle TUI with all
# four probes ~95 MiB since compiles run in a child process (180-210 MiB when
# bcc and LLVM were in the process), `--batch` 65 MiB idle. 400 MiB leaves room
# for Textual's caches, a burst's backlog (32 MiB of copies, 65 536 file keys a
# frame) and 2000 lingering exited processes, while a leak of even one small
# object per event (millions of events here) would cross it.
RSS_CAP = 400 * 2**20
# Growth allowed over the second half of a flood: allocator noise, not a leak.
# Under these floods a per-event leak would add tens of MiB per second.
RSS_SLACK = 32 * 2**20

FILES = 200_000
SPIN_PROCS = 100
UDP_PORT = 9999
UDP_PAYLOAD = 64
# What XDP sees of one such datagram: Ethernet 14 + IPv4 20 + UDP 8 + payload.
UDP_WIRE = 14 + 20 + 8 + UDP_PAYLOAD


@pytest.fixture(scope="module")
def floods_bin() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="ebt-floods-") as tmp:
        yield build(Path(tmp))


@pytest.fixture(scope="module")
def files_dir(floods_bin: Path) -> Iterator[str]:
    """FILES one-byte files on tmpfs (/dev/shm), made once for the module and removed after."""
    path = tempfile.mkdtemp(dir="/dev/shm", prefix="ebt-floods-files-")
    try:
        subprocess.run([str(floods_bin), "mkfiles", path, str(FILES)], check=True, capture_output=True)
        yield path
    finally:
        subprocess.run([str(floods_bin), "rmfiles", path, str(FILES)], capture_output=True)
        shutil.rmtree(path, ignore_errors=True)


def next_frame(run: BatchRun) -> dict[str, Any]:
    return run.wait_frames(len(run.frames) + 1)[-1]


def rss_bounded(samples: list[int]) -> None:
    """Under the cap throughout, and not still climbing over the second half."""
    assert len(samples) >= 10, samples
    assert max(samples) < RSS_CAP, f"RSS peaked at {max(samples) / 2**20:.0f} MiB"
    # The floor of the last quarter against the top of the first: a leak raises
    # the floor (tens of MiB a second under these floods); decoding one big
    # frame (10 s of spawns) raises a peak for a moment and pymalloc keeps some
    # of it, which is not growth per event.
    half = samples[len(samples) // 2 :]
    mid = max(half[: len(half) // 4 or 1])
    end = min(half[-(len(half) // 4 or 1) :])
    assert end <= mid + RSS_SLACK, (
        f"RSS grew from {mid / 2**20:.0f} to {end / 2**20:.0f} MiB in the second half "
        f"(MiB, every 8th sample: {[round(s / 2**20) for s in samples[::8]]})"
    )


# -- exact accounting (--batch) ---------------------------------------------------------


def getppid_counts(frames: list[dict[str, Any]], pids: set[int]) -> tuple[dict[int, int], set[str]]:
    seen: dict[int, int] = collections.Counter()
    comms = set()
    for f in frames:
        for row in f.get("syscalls", []):
            if row["pid"] in pids:
                comms.add(row["comm"])
                seen[row["pid"]] += sum(t["count"] for t in row["top"] if t["name"] == "getppid")
    return dict(seen), comms


def test_syscall_flood_from_100_processes_counted_exactly(floods_bin: Path) -> None:
    """100 processes calling getppid as fast as they can for 3 s: every call counted under its own PID.

    The flood runs inside one long interval (6 s), so no map drain falls
    inside it; the next test has 15 drains in the flood.
    """
    with (
        workload(floods_bin, "spin", str(SPIN_PROCS), "3") as w,
        batch("--probes", "syscalls", "--interval", "6") as run,
    ):
        run.wait_live("syscalls")
        next_frame(run)  # an interval starts: 6 s before the next drain
        rss = RssSampler(run.proc.pid)
        w.go()
        counts = w.result()
        frames = run.stop(signal.SIGINT)  # flushes the partial interval
        samples = rss.stop()
    assert run.proc.returncode == 0
    seen, comms = getppid_counts(frames, set(counts))
    assert len(counts) == SPIN_PROCS
    assert seen == counts  # exact, per process
    assert comms == {"floods"}
    assert all(f["probes"]["syscalls"]["lost"] == 0 for f in frames)
    print(
        f"syscall flood: {sum(counts.values()):,} getppid in 3 s from {SPIN_PROCS} processes; "
        f"batch RSS max {max(samples) / 2**20:.0f} MiB"
    )


def test_syscall_flood_exact_across_map_drains(floods_bin: Path) -> None:
    """The same flood across 15 drains (0.2 s interval): still exact.

    Failed before the syscalls probe was double-buffered (0cd6cd7): increments
    landing between a drain's copy and delete of a key were lost, 2-3 of
    ~15 M calls per run, and reported nowhere.
    """
    with (
        workload(floods_bin, "spin", str(SPIN_PROCS), "3") as w,
        batch("--probes", "syscalls", "--interval", "0.2") as run,
    ):
        run.wait_live("syscalls")
        w.go()
        counts = w.result()
        frames = run.stop(signal.SIGINT)
    seen, _ = getppid_counts(frames, set(counts))
    lost = frames[-1]["probes"]["syscalls"]["lost"]
    assert sum(seen.values()) + lost == sum(counts.values())
    assert seen == counts


def test_200000_files_every_read_counted_or_lost(floods_bin: Path, files_dir: str) -> None:
    """One process opens, reads (1 byte) and closes 200 000 distinct files: reads named + lost == 200 000.

    The probe drains as the flood goes (issue 17); where it cannot keep up
    (a box too busy for ebpftop) reads are lost (counted in lost) and names
    may be lost (ring full) of keys that were counted: those rows must say
    they are unnamed ("unknown"), never borrow another file's name, and each
    counts in lost too. With one read per file, every read is thus either in
    a correctly named row or in lost, exactly once.
    """
    with (
        workload(floods_bin, "files", files_dir, str(FILES)) as w,
        batch("--probes", "files", "--interval", "1", "--pid", str(w.pid)) as run,
    ):
        run.wait_live("files")
        lost0 = next_frame(run)["probes"]["files"]["lost"]
        rss = RssSampler(run.proc.pid)
        w.go()
        assert w.result() == {w.pid: FILES}
        # ebpftop may still be working through the flood's backlog (40-60 us of CPU a file: on a
        # loaded box it lags the workload by seconds): SIGINT once a frame comes with none of it,
        # so the final flush is small and the exit orderly (exit 0). The count is the test, not a
        # Ctrl-C in the middle of a backlog (that one ends by the 5 s emergency exit, programs gone).
        deadline = time.monotonic() + scaled(120)
        while any(r["path"].startswith(files_dir + "/") for r in next_frame(run).get("files", [])):
            assert time.monotonic() < deadline, "ebpftop never caught up with the flood"
        frames = run.stop(signal.SIGINT)
        samples = rss.stop()
    assert run.proc.returncode == 0, run.proc.stderr.read() if run.proc.stderr else ""
    named: collections.Counter[str] = collections.Counter()
    named_bytes = unknown = report_writes = gate_unnamed = 0
    for f in frames:
        for row in f.get("files", []):
            assert row["pid"] == w.pid  # the kernel-side PID filter
            if row["type"] == "pipe":
                report_writes += row["writes"]  # its one write() of the result, counted or lost
            if row["path"] == "fd:0" and row["type"] == "unknown":
                # The gate's read of stdin, just before the flood: its name,
                # taken in the kernel at that read, can be evicted by the
                # flood's like theirs; then it is unnamed and in lost too.
                gate_unnamed += row["reads"]
            if row["path"].startswith(files_dir + "/"):
                named[row["path"]] += row["reads"]
                named_bytes += row["read_bytes"]
                assert row["type"] == "file" and row["comm"] == "floods" and row["writes"] == 0
            elif row["type"] == "unknown":
                unknown += row["reads"]
    lost = frames[-1]["probes"]["files"]["lost"] - lost0
    assert lost0 == 0
    # No name was given to a read that was not of that file: each path once.
    assert all(n == 1 for n in named.values()), named.most_common(3)
    assert named_bytes == sum(named.values())
    assert report_writes in (0, 1)
    # Every read is named or lost; so is the workload's one write() of its
    # report (lost when it lands in the interval the flood filled).
    assert sum(named.values()) + lost == FILES + (1 - report_writes) + gate_unnamed, (
        sum(named.values()),
        unknown,
        lost,
        gate_unnamed,
    )
    print(
        f"files flood: {FILES:,} files, {sum(named.values()):,} reads named, {unknown:,} unnamed, "
        f"{lost:,} lost; batch RSS max {max(samples) / 2**20:.0f} MiB"
    )


def proc_events(frames: list[dict[str, Any]], parents: set[int]) -> tuple[int, int]:
    """How many fork and exit events of children of these parents were delivered.

    Counted, not collected by PID: tens of thousands of spawns wrap PIDs around.
    """
    forks = exits = 0
    for f in frames:
        for ev in f.get("procs", {}).get("events", []):
            if ev["ppid"] in parents:
                if ev["type"] == "fork":
                    forks += 1
                elif ev["type"] == "exit":
                    assert ev["exit_code"] == 0, ev
                    exits += 1
    return forks, exits


def test_5000_spawns_per_second_every_one_seen(floods_bin: Path) -> None:
    """4 forkers paced to 5000 fork+exit per second in all, 3 s: every fork and exit is an event, none lost."""
    with workload(floods_bin, "forks", "4", "3", "5000") as w, batch("--probes", "proctree", "--interval", "1") as run:
        run.wait_live("proctree")
        next_frame(run)
        w.go()
        counts = w.result()
        next_frame(run)
        frames = run.stop(signal.SIGINT)
    total = sum(counts.values())
    forks, exits = proc_events(frames, set(counts))
    # 4 MiB of ring buffer per 1 s interval holds ~75 000 records: none lost.
    assert frames[-1]["probes"]["proctree"]["lost"] == 0
    assert forks == total
    assert exits == total
    print(f"spawn flood (paced): {total:,} spawns in 3 s ({total / 3:,.0f}/s), lost 0")


def test_spawn_flood_overflowing_the_ring_buffer_is_counted(floods_bin: Path) -> None:
    """Unpaced forkers within one 16 s interval overflow the ring buffer: each missing event is counted lost.

    The 4 MiB ring buffer holds ~32 000 spawns (a fork and an exit record of 64 bytes each). 15 s of
    forks overflow it from ~2 200 spawns/s: ~7 400/s on this box when quiet, ~3 000/s while a TCG
    guest shares it (7 s of that did not overflow).
    """
    with workload(floods_bin, "forks", "4", "15", "0") as w, batch("--probes", "proctree", "--interval", "16") as run:
        run.wait_live("proctree")
        next_frame(run)
        w.go()
        counts = w.result()
        frames = run.stop(signal.SIGINT)
    total = sum(counts.values())
    forks, exits = proc_events(frames, set(counts))
    lost = frames[-1]["probes"]["proctree"]["lost"]
    missing = 2 * total - forks - exits
    assert forks <= total and exits <= total
    # Lost is shown both in the probe status and in the pane's JSON.
    assert frames[-1]["procs"]["lost_total"] == lost
    assert sum(f.get("procs", {}).get("lost", 0) for f in frames) == lost
    assert missing > 0, "the ring buffer did not overflow: no flood"
    # Every event of ours not delivered is counted. The counter is the whole
    # machine's (a full ring buffer drops every process's events), so it may
    # also hold other processes' events lost meanwhile: >=, and exactly ==
    # on a quiet machine. (Exactness of delivered + lost == attempted is
    # proved with the probe's self-check counter in test_proctree_probe.py.)
    assert lost >= missing, (total, forks, exits, lost)
    print(
        f"spawn flood (unpaced): {total:,} spawns in 15 s ({total / 15:,.0f}/s), {missing:,} of our events "
        f"missing, {lost:,} lost counted"
    )


def test_udp_flood_through_a_veth_counted_exactly(floods_bin: Path) -> None:
    """UDP as fast as one sender can, 3 s, through a veth pair: XDP on the receiving end counts every datagram."""
    with (
        veth_pair() as pair,
        udp_sink(pair, UDP_PORT),
        workload(floods_bin, "udp", RX_IP, str(UDP_PORT), "3", str(UDP_PAYLOAD), prefix=pair.tx_exec()) as w,
        batch("--probes", "xdp", "--interval", "1", "--xdp", pair.rx, prefix=pair.rx_exec()) as run,
    ):
        run.wait_live("xdp")
        while not any(r["state"] == "attached" for r in next_frame(run).get("xdp", [])):
            pass
        w.go()
        sent = sum(w.result().values())
        next_frame(run)
        frames = run.stop(signal.SIGINT)
    assert run.proc.returncode == 0
    rows = [r for f in frames for r in f.get("xdp", []) if r["ifname"] == pair.rx]
    assert sent > 0
    assert sum(r["by_proto"]["udp"]["packets"] for r in rows) == sent
    assert sum(r["by_proto"]["udp"]["bytes"] for r in rows) == sent * UDP_WIRE
    assert all(f["probes"]["xdp"]["lost"] == 0 for f in frames)
    print(f"udp flood: {sent:,} datagrams in 3 s ({sent / 3:,.0f}/s), all counted")


# -- the real TUI under each flood ---------------------------------------------------------

# Seconds each TUI flood lasts. Under the spawn flood ebpftop's RSS climbs for
# ~20 s (the tree fills up to its 2000 lingering exited processes and 5000
# drawn nodes) and then stays flat, so that flood runs long enough for its
# second half to be the flat part.
FLOOD_SECONDS = {"syscalls": 14.0, "files": 14.0, "spawns": 32.0, "udp": 14.0}


def exercise_keys(t: Any) -> None:
    """Tabs and a probe off and on: each must be drawn after its key."""
    t.press(b"]", b"TOP SYSCALLS")  # Syscalls tab
    t.press(b"]", b"forks/s")  # Tree tab
    t.press(b"[", b"TOP SYSCALLS")
    t.press(b"[", b"WRITE B/s")  # back to Files
    t.press(b"2", b"2 syscalls off")
    t.press(b"2", re.compile(rb"2 syscalls (loading|[0-9])"))
    t.press(b"[", b"WRITE B/s")  # switching a probe on shows its pane (Syscalls): back to Files


def filter_to(t: Any, pid: int) -> None:
    """The PID filter: / opens the prompt, the PID and Enter apply it, the header names it."""
    t.press(b"/", b"PIDs, process names or cgroups")
    t.press(str(pid).encode() + b"\r", b"PID %d" % pid)


@pytest.mark.parametrize("flood", ["syscalls", "files", "spawns", "udp"])
def test_tui_under_flood_keys_work_memory_bounded_losses_shown(flood: str, floods_bin: Path, files_dir: str) -> None:
    with contextlib.ExitStack() as stack:
        prefix: tuple[str, ...] = ()
        args = ["--interval", "1"]
        if flood == "udp":
            pair = stack.enter_context(veth_pair())
            stack.enter_context(udp_sink(pair, UDP_PORT))
            prefix = pair.rx_exec()
            args += ["--xdp", pair.rx]
        t = stack.enter_context(tui(args, prefix))
        for marker in LIVE.values():
            t.wait_for(marker, timeout=60)  # compiles: not under the flood yet
        held = set(prog_ids_of(t.proc.pid))
        assert held
        seconds = FLOOD_SECONDS[flood]
        secs = str(seconds)
        if flood == "syscalls":
            w = stack.enter_context(workload(floods_bin, "spin", str(SPIN_PROCS), secs))
        elif flood == "spawns":
            # 5000 spawns/s as the issue says. (Unpaced, ~19 000/s here, the
            # Tree tab took ~19 s to draw with DataTable panes, 1.8 s since
            # FastTable, a10c172.)
            w = stack.enter_context(workload(floods_bin, "forks", "4", secs, "5000"))
        elif flood == "udp":
            w = stack.enter_context(
                workload(floods_bin, "udp", RX_IP, str(UDP_PORT), secs, str(UDP_PAYLOAD), prefix=pair.tx_exec())
            )
        else:
            w = stack.enter_context(FileFlood(floods_bin, files_dir, seconds))
        rss = RssSampler(t.proc.pid, period=0.25)
        start = len(t.out)
        end = time.monotonic() + seconds
        w.go()
        exercise_keys(t)
        if flood == "files":
            # 200 000 keys a pass against 16384 per interval: the loss is drawn
            # in the header badge and in the pane's summary.
            t.wait_for(re.compile(rb"1 files [^\r\n]*? lost [0-9]"), since=start)
            t.wait_for(b"lost (map full or name evicted)", since=start)
        if flood == "spawns":
            # + four times: 1 -> 2 -> 5 -> 10 s intervals. 10 s of 5000 spawns/s
            # is 100 000 records of 56 bytes, more than the 4 MiB ring buffer:
            # the loss must be drawn in the header. (Up to two intervals.)
            t.press(b"++++", re.compile(rb"self [^\r\n]*? 10s"))
            t.wait_for(re.compile(rb"3 proctree [^\r\n]*? lost [0-9]"), since=start, timeout=30)
        # The flood's own process (files: passes come and go, so this test's).
        filter_to(t, os.getpid() if flood == "files" else w.pid)
        t.drain(max(0.0, end - time.monotonic()))
        counts = w.result(timeout=60)
        samples = rss.stop()
        rc = t.quit()
        out = bytes(t.out)
    assert rc == 0, out[-2000:]
    assert b"\x1b[?1049l" in out[-4000:]  # alternate screen left: the terminal is restored
    assert wait_progs_gone(held) == set()
    rss_bounded(samples)
    print(
        f"TUI under {flood} flood: {sum(counts.values()):,} units, RSS max {max(samples) / 2**20:.0f} MiB "
        f"(first {samples[0] / 2**20:.0f}, last {samples[-1] / 2**20:.0f}; "
        f"every 8th: {[round(s / 2**20) for s in samples[::8]]})"
    )


class FileFlood:
    """Passes of `floods files` over the same 200 000 files (each pass: 200 000 distinct files) until time is up."""

    def __init__(self, binary: Path, path: str, seconds: float) -> None:
        self.binary, self.path, self.seconds = binary, path, seconds
        self.current = Workload(binary, "files", path, str(FILES))
        self.done = 0

    @property
    def pid(self) -> int:
        return self.current.pid

    def __enter__(self) -> FileFlood:
        return self

    def __exit__(self, *exc: object) -> None:
        self.current.kill()

    def go(self) -> None:
        self._end = time.monotonic() + self.seconds
        self.current.go()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            self.done += sum(self.current.result().values())
            if time.monotonic() >= self._end:
                return
            self.current = Workload(self.binary, "files", self.path, str(FILES))
            self.current.go()

    def result(self, timeout: float = 60.0) -> dict[int, int]:
        self._thread.join(timeout)
        return {0: self.done}


def test_busy_file_read_exactly_across_map_drains(floods_bin: Path, tmp_path: Path) -> None:
    """One process preads one byte as fast as it can for 3 s, drained every 0.1 s: every read counted.

    The stats map is emptied with lookup-and-delete while the program keeps
    incrementing the same key in place; an increment landing between the
    drain's copy and its delete would vanish without being counted lost.
    """
    path = tmp_path / "busy"
    path.write_bytes(b"b")
    with (
        workload(floods_bin, "readloop", str(path), "3") as w,
        batch("--probes", "files", "--interval", "0.1", "--pid", str(w.pid)) as run,
    ):
        run.wait_live("files")
        w.go()
        (reads,) = w.result().values()
        frames = run.stop(signal.SIGINT)
    rows = [r for f in frames for r in f.get("files", []) if r["path"] == str(path)]
    assert len(rows) > 10  # many drains happened during the flood
    assert frames[-1]["probes"]["files"]["lost"] == 0
    assert sum(r["reads"] for r in rows) == reads
    assert sum(r["read_bytes"] for r in rows) == reads
