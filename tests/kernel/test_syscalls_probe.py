"""Syscall probe on the real kernel: exact counts, names from the kernel, nothing left loaded."""

from __future__ import annotations

import signal
import time

import pytest

from tests.kernel.helpers import STARTUP, batch, prog_ids_of, scaled, wait_progs_gone
from tests.kernel.workloads import cpu_hop, getppid_loop

CALLS = 200_000


def _getppid_count(frames: list[dict], pid: int) -> tuple[int, set[str]]:
    total, names = 0, set()
    for f in frames:
        for row in f.get("syscalls", []):
            if row["pid"] == pid:
                calls = sum(t["count"] for t in row["top"] if t["name"] == "getppid")
                if calls:
                    # The rows that carry the loop's calls. An interval that held only the
                    # interpreter's start-up (before its prctl rename) is rightly named
                    # `python`: under emulation start-up alone fills whole intervals.
                    names.add(row["comm"])
                total += calls
    return total, names


@pytest.mark.matrix
def test_counts_exact_getppid_calls_under_own_name() -> None:
    with batch("--probes", "syscalls", "--interval", "0.5") as run:
        run.wait_live("syscalls")
        pid = getppid_loop("getppid-loop", CALLS)
        time.sleep(0.6)
        frames = run.stop(signal.SIGINT)
    assert run.proc.returncode == 0, run.proc.stderr.read()
    assert frames[-1].get("final") is True  # SIGINT flushed the partial interval
    count, names = _getppid_count(frames, pid)
    assert count == CALLS, count
    assert names == {"getppid-loop"}


def test_hostile_comm_is_exact_in_json() -> None:
    hostile = "\x1b[2J[bold]x"
    with batch("--probes", "syscalls", "--interval", "0.5") as run:
        run.wait_live("syscalls")
        pid = getppid_loop(hostile, 1000)
        time.sleep(0.6)
        frames = run.stop()
    count, names = _getppid_count(frames, pid)
    assert count >= 1000
    assert names == {hostile}


def test_comm_survives_a_process_moving_between_cpus() -> None:
    import os

    if len(os.sched_getaffinity(0)) < 2:
        import pytest

        pytest.skip("needs two CPUs")
    with batch("--probes", "syscalls", "--interval", "0.5") as run:
        run.wait_live("syscalls")
        pid = cpu_hop("cpu-hopper")
        time.sleep(0.6)
        frames = run.stop()
    count, names = _getppid_count(frames, pid)
    assert count == 2000
    assert names == {"cpu-hopper"}


@pytest.mark.matrix
def test_pid_filter_in_kernel_keeps_only_that_pid() -> None:
    from ebpftop.probes.syscalls import SyscallsProbe

    probe = SyscallsProbe()
    probe.enable()
    try:
        import os

        probe.set_pid_filter(frozenset({os.getpid()}))
        probe.read()
        getppid_loop("filtered-out", 5000)
        for _ in range(100):
            os.getppid()
        sample = probe.read()
        pids = {c.tgid for c in sample.counts}
        assert pids == {os.getpid()}
        mine = sum(c.count for c in sample.counts if c.name == "getppid")
        assert mine == 100
    finally:
        probe.disable()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signal_detaches_every_program(sig: int) -> None:
    with batch("--probes", "syscalls", "--interval", "0.3") as run:
        run.wait_live("syscalls")
        ids = set(prog_ids_of(run.proc.pid))
        assert ids, "ebpftop holds no BPF program fds while live"
        run.stop(sig)
    assert run.proc.returncode == 0
    assert wait_progs_gone(ids) == set()


@pytest.mark.matrix
def test_sigkill_leaves_nothing_loaded() -> None:
    with batch("--probes", "syscalls", "--interval", "0.3") as run:
        run.wait_live("syscalls")
        ids = set(prog_ids_of(run.proc.pid))
        run.stop(signal.SIGKILL)
    assert wait_progs_gone(ids) == set()


def test_count_ends_after_n_frames() -> None:
    with batch("--probes", "syscalls", "--interval", "0.2", "--count", "3") as run:
        run.proc.wait(scaled(STARTUP))  # the compile, then 0.6 s of frames
        frames = run.stop()
    assert run.proc.returncode == 0
    assert len(frames) == 3
    assert all(f["probes"]["syscalls"]["state"] == "live" for f in frames)
    assert all(f["elapsed"] > 0 for f in frames)


@pytest.mark.parametrize("cache_slots_log2", [None, 1], ids=["cache", "hash"])
def test_exact_across_back_to_back_drains(cache_slots_log2: int | None) -> None:
    """A million getppid calls while the probe is drained as fast as it can be: exactly a million.

    Each read flips the epoch and empties the half nobody writes any more; with
    a 2-slot cache almost every key goes through the hashes instead.
    """
    import os
    import threading

    from ebpftop.probes.syscalls import SyscallsProbe

    calls = 1_000_000
    probe = SyscallsProbe(cache_slots_log2=cache_slots_log2)
    probe.enable()
    try:
        probe.read()
        done: list[int] = []
        worker = threading.Thread(target=lambda: done.append(getppid_loop("drain-race", calls)))
        worker.start()
        samples = []
        while worker.is_alive():
            samples.append(probe.read())
        worker.join()
        samples.append(probe.read())
        (pid,) = done
        total = sum(c.count for s in samples for c in s.counts if c.tgid == pid and c.name == "getppid")
        comms = {c.comm for s in samples for c in s.counts if c.tgid == pid and c.name == "getppid"}
        assert total == calls
        assert comms == {"drain-race"}
        assert len(samples) > 10, "the loop ended before many drains happened"
        assert probe.lost() == 0
        assert os.getpid() in {c.tgid for s in samples for c in s.counts}
    finally:
        probe.disable()
