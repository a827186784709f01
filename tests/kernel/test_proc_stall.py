"""A process whose /proc/PID/cmdline read never returns (hung FUSE server) must not stall the monitor.

The target comes from cmdlinestall.py: a hung FUSE read holds its mmap_lock and
a queued writer makes every new reader of its cmdline wait in the kernel. The
old seed read that file on the sampler thread: no frame ever came, SIGTERM was
ignored and the programs stayed attached.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kernel.helpers import ROOT, batch, prog_ids_of, wait_progs_gone

FUSESTALL = Path(__file__).with_name("cmdlinestall.py")


def _state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return stat[stat.rindex(b")") + 2 :].split()[0].decode()


@pytest.fixture
def stalled() -> Iterator[int]:
    """PID of a process whose cmdline read blocks in the kernel (checked), freed again at teardown."""
    proc = subprocess.Popen(
        ["unshare", "-m", "--propagation", "private", sys.executable, str(FUSESTALL)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    server = 0
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline().decode() if ready else ""
        if not line.startswith("ready"):
            proc.kill()
            pytest.fail(f"stall helper failed: {line!r} {proc.stderr.read().decode()}")  # type: ignore[union-attr]
        target, server = (int(x) for x in line.split()[1:])
        # The precondition, from the kernel: a plain reader of its cmdline waits in D state.
        # "ready" comes as the helper's threads are on their way to block: a reader that came
        # first may still return (seen once in CI), so readers are tried until one blocks.
        probe = subprocess.Popen(["cat", f"/proc/{target}/cmdline"], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while _state(probe.pid) != "D":
            assert time.monotonic() < deadline, "the cmdline reader never blocked: the stall did not take"
            if probe.poll() is not None:  # it read before the stall took: try again
                probe = subprocess.Popen(["cat", f"/proc/{target}/cmdline"], stdout=subprocess.DEVNULL)
            time.sleep(0.05)
        probe.kill()  # that wait is killable (mmap_read_lock_killable)
        probe.wait(30)
        yield target
    finally:
        if server:
            try:
                os.kill(server, signal.SIGKILL)  # aborts the FUSE connection: every stuck reader returns
            except ProcessLookupError:
                pass
        proc.kill()
        proc.wait(30)


def test_batch_keeps_emitting_and_ends_on_sigterm(stalled: int) -> None:
    with batch("--probes", "proctree", "--interval", "0.3") as run:
        # The old code never emitted a frame: its seed blocked on the target.
        frames = run.wait_frames(4, timeout=90)
        assert frames[-1]["probes"]["proctree"]["state"] == "live"
        ids = set(prog_ids_of(run.proc.pid))
        assert ids, "proctree holds no program"
        run.proc.send_signal(signal.SIGTERM)
        assert run.proc.wait(60) == 0
        assert run.stop()[-1].get("final") is True
    assert wait_progs_gone(ids) == set()


SEED_OF = textwrap.dedent(
    """
    import json, os, sys
    from ebpftop.probes.proctree import ProcTreeProbe
    probe = ProcTreeProbe()
    seeds = []
    for _ in range(2):  # the second scan skips the process the first one stalled on
        probe.enable()
        try:
            seeds.append({s.pid: s for s in probe.read().seed})
        finally:
            probe.disable()
    out = {"stalls": probe._scanner.stalls}
    for i, seed in enumerate(seeds):
        target, me = seed[int(sys.argv[1])], seed[os.getpid()]
        out[f"target{i}"] = [target.comm, list(target.argv), target.argv_unknown]
        out[f"me{i}"] = [me.comm, list(me.argv), me.argv_unknown]
    print(json.dumps(out))
    """
)


def test_seed_names_the_stalled_process_from_stat_and_says_why_argv_is_missing(stalled: int) -> None:
    out = subprocess.run(
        [sys.executable, "-c", SEED_OF, str(stalled)], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    for i in range(2):
        comm, argv, why = got[f"target{i}"]
        assert comm == "python"  # from /proc/PID/stat, which takes no mmap_lock
        assert argv == []
        assert "did not return" in why
        assert got[f"me{i}"] == ["python", [sys.executable, "-c", SEED_OF, str(stalled)], None]
    assert got["stalls"] == 1  # remembered (pid, start time): no second stall
