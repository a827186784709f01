"""Attacks on the cgroup filter, exporter and recorder (#14, #15) with real cgroups and real probes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ebpftop.cgroups import Cgroups
from tests.kernel.helpers import batch

MOUNT = Cgroups().mount

# Moves itself into argv[1], says so, waits for a line, then runs `sh -c 'exit 7'`.
SPAWNER = r"""
import os, subprocess, sys
with open(os.path.join(sys.argv[1], "cgroup.procs"), "w") as f:
    f.write(str(os.getpid()))
print("in", flush=True)
sys.stdin.readline()
subprocess.run(["sh", "-c", "exit 7"])
"""


def _rmdir(d: Path) -> None:
    for _ in range(100):
        try:
            d.rmdir()
            return
        except OSError:
            subprocess.run(["sleep", "0.05"], check=False)


@pytest.fixture
def groups() -> Iterator[tuple[Path, Path]]:
    """A group to filter on, and the path of one outside it, made by the test after the filter is set."""
    if MOUNT is None:
        pytest.skip("no cgroup v2 hierarchy mounted")
    kept = Path(MOUNT) / f"ebpftop-attack-kept-{os.getpid()}.slice"
    other = Path(MOUNT) / f"ebpftop-attack-other-{os.getpid()}.slice"
    kept.mkdir()
    try:
        yield kept, other
    finally:
        for d in (kept, other):
            if d.is_dir():
                _rmdir(d)


def test_tree_filter_keeps_nothing_from_a_group_made_later_outside_the_filter(groups: tuple[Path, Path]) -> None:
    """--cgroup X in the Tree: a cgroup made after the filter, but not below X, is not X's.

    The Tree probe is not filtered in the kernel, so the model's "newer than the filter: the kernel's
    word" rule let every process of every cgroup made since (a new login's session scope, a new
    container) through the filter.
    """
    kept, other = groups
    with batch("--probes", "proctree", "--interval", "0.5", "--cgroup", f"/{kept.name}") as run:
        run.wait_live("proctree")
        other.mkdir()  # after the filter: its id is past the filter's horizon
        proc = subprocess.Popen(
            [sys.executable, "-c", SPAWNER, str(other)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "in"
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.wait(60) == 0
        run.wait_frames(len(run.frames) + 2)
        frames = run.stop()
    other_id = os.stat(other).st_ino
    events = [e for f in frames if "procs" in f for e in f["procs"]["events"]]
    leaked = [(e["type"], e["comm"], e["pid"]) for e in events if e["cgroup"] == other_id]
    assert leaked == []


def test_a_cgroup_deeper_than_the_kernel_filter_looks_is_refused_not_silently_empty() -> None:
    """--cgroup on a group 17 levels below the root: the kernel's filter looks 16 levels down only
    (FILTER_CGROUP_DEPTH), so it kept nothing and the panes stayed empty without a word. Refused now,
    with one line on stderr and exit 2; 16 levels is still a filter."""
    from ebpftop.pids import FILTER_CGROUP_DEPTH, parse_pids

    if MOUNT is None:
        pytest.skip("no cgroup v2 hierarchy mounted")
    top = Path(MOUNT) / f"ebpftop-attack-deep-{os.getpid()}"
    made = [top]
    for i in range(2, FILTER_CGROUP_DEPTH + 2):
        made.append(made[-1] / f"l{i}")
    try:
        for d in made:
            d.mkdir()
        deepest = "/" + str(made[-1].relative_to(MOUNT))
        assert deepest.count("/") == FILTER_CGROUP_DEPTH + 1
        assert parse_pids("/" + str(made[-2].relative_to(MOUNT))).cgroups == {os.stat(made[-2]).st_ino}
        out = subprocess.run(
            [sys.executable, "-m", "ebpftop", "--batch", "-n", "1", "--cgroup", deepest],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 2, out
        assert out.stdout == ""
        err = out.stderr.strip().splitlines()
        assert len(err) == 1 and "levels" in err[0], err
    finally:
        for d in reversed(made):
            if d.is_dir():
                _rmdir(d)
