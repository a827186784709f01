"""Every pane by cgroup: exact counts per cgroup v2 group, and the cgroup filter applied in the kernel.

The tests make cgroup v2 groups of their own under the mounted v2 hierarchy
(``/sys/fs/cgroup/unified`` here: a hybrid host), move known workloads into
them and assert exact per-cgroup counts; a nested group is counted under its
parent when filtering by the parent, and so is a group made after the filter
was set.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ebpftop.cgroups import Cgroups
from tests.kernel.helpers import batch

# Moves itself into the cgroup directory argv[1], says so, waits for a line, then N getppid calls.
WORKER = r"""
import os, sys
with open(os.path.join(sys.argv[1], "cgroup.procs"), "w") as f:
    f.write(str(os.getpid()))
print("in", flush=True)
sys.stdin.readline()
for _ in range(int(sys.argv[2])):
    os.getppid()
"""

MOUNT = Cgroups().mount


@pytest.fixture
def slice_dir() -> Iterator[Path]:
    """A slice of our own with a unit and a nested group: ebpftop-test-PID.slice/{a.service,b.service/inner}."""
    if MOUNT is None:
        pytest.skip("no cgroup v2 hierarchy mounted")
    top = Path(MOUNT) / f"ebpftop-test-{os.getpid()}.slice"
    made = [top, top / "a.service", top / "b.service", top / "b.service" / "inner"]
    for d in made:
        d.mkdir(exist_ok=True)
    try:
        yield top
    finally:
        for d in [*sorted(top.rglob("*"), key=lambda p: -len(p.parts)), top]:
            if d.is_dir():
                _rmdir(d)


def _rmdir(d: Path) -> None:
    """A cgroup goes once its last process has (the workers have exited by now)."""
    for _ in range(100):
        try:
            d.rmdir()
            return
        except OSError:
            subprocess.run(["sleep", "0.05"], check=False)


class Worker:
    def __init__(self, cgroup: Path, calls: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(cgroup), str(calls)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "in"
        self.pid, self.cgroup_id = self.proc.pid, os.stat(cgroup).st_ino

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def wait(self) -> None:
        assert self.proc.wait(60) == 0


def _getppid_by_cgroup(frames: list[dict[str, Any]], pid: int) -> dict[int, int]:
    out: dict[int, int] = {}
    for f in frames:
        for row in f.get("syscalls", []):
            if row["pid"] == pid:
                n = sum(t["count"] for t in row["top"] if t["name"] == "getppid")
                out[row["cgroup"]] = out.get(row["cgroup"], 0) + n
    return out


def _cgroup_names(frames: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {int(k): v for f in frames for k, v in f.get("cgroups", {}).items()}


def _run(workers: list[Worker], *args: str) -> list[dict[str, Any]]:
    with batch("--probes", "syscalls", "--interval", "0.5", *args) as run:
        run.wait_live("syscalls")
        for w in workers:
            w.go()
        for w in workers:
            w.wait()
        run.wait_frames(len(run.frames) + 2)
        return run.stop()


def test_syscalls_counted_exactly_per_cgroup(slice_dir: Path) -> None:
    a = Worker(slice_dir / "a.service", 1111)
    b = Worker(slice_dir / "b.service" / "inner", 2222)
    c = Worker(Path(MOUNT or "/"), 3333)  # the v2 root: every process here starts there
    frames = _run([a, b, c])
    assert _getppid_by_cgroup(frames, a.pid) == {a.cgroup_id: 1111}
    assert _getppid_by_cgroup(frames, b.pid) == {b.cgroup_id: 2222}
    assert _getppid_by_cgroup(frames, c.pid) == {1: 3333}
    names = _cgroup_names(frames)
    top = f"/{slice_dir.name}"
    assert names[a.cgroup_id] == {"path": f"{top}/a.service", "name": "a.service", "kind": "unit", "runtime": None}
    # A group inside a unit belongs to the unit.
    assert names[b.cgroup_id]["path"] == f"{top}/b.service/inner"
    assert names[b.cgroup_id]["name"] == "b.service"
    assert names[1]["kind"] == "root"


def test_cgroup_filter_keeps_the_group_and_its_descendants_in_the_kernel(slice_dir: Path) -> None:
    """--cgroup the slice: a.service and b.service/inner exactly, the root's process not at all."""
    a = Worker(slice_dir / "a.service", 1111)
    b = Worker(slice_dir / "b.service" / "inner", 2222)
    c = Worker(Path(MOUNT or "/"), 3333)
    frames = _run([a, b, c], "--cgroup", f"/{slice_dir.name}")
    assert _getppid_by_cgroup(frames, a.pid) == {a.cgroup_id: 1111}
    assert _getppid_by_cgroup(frames, b.pid) == {b.cgroup_id: 2222}
    assert _getppid_by_cgroup(frames, c.pid) == {}
    # Nothing outside the slice at all, ebpftop's own syscalls included.
    inside = {a.cgroup_id, b.cgroup_id}
    assert {row["cgroup"] for f in frames for row in f.get("syscalls", [])} <= inside


def test_cgroup_filter_by_unit_name_and_pid_together(slice_dir: Path) -> None:
    """A unit name and a PID in one filter: either keeps an event (the items are alternatives)."""
    a = Worker(slice_dir / "a.service", 1111)
    b = Worker(slice_dir / "b.service" / "inner", 2222)
    c = Worker(Path(MOUNT or "/"), 3333)
    frames = _run([a, b, c], "--cgroup", "a.service", "--pid", str(c.pid))
    assert _getppid_by_cgroup(frames, a.pid) == {a.cgroup_id: 1111}
    assert _getppid_by_cgroup(frames, b.pid) == {}
    assert _getppid_by_cgroup(frames, c.pid) == {1: 3333}


def test_a_group_made_after_the_filter_is_counted_under_its_parent(slice_dir: Path) -> None:
    with batch("--probes", "syscalls", "--interval", "0.5", "--cgroup", f"/{slice_dir.name}") as run:
        run.wait_live("syscalls")
        late = slice_dir / "late.service"
        late.mkdir()
        w = Worker(late, 4444)
        outside = Worker(Path(MOUNT or "/"), 555)
        w.go()
        outside.go()
        w.wait()
        outside.wait()
        run.wait_frames(len(run.frames) + 2)
        frames = run.stop()
    assert _getppid_by_cgroup(frames, w.pid) == {w.cgroup_id: 4444}
    assert _getppid_by_cgroup(frames, outside.pid) == {}
    assert _cgroup_names(frames)[w.cgroup_id]["name"] == "late.service"


# Moves itself into argv[1], says so, waits for a line, then runs `sh -c 'exit 3'` and a new PID
# namespace whose first process (PID 1 there) starts a second (PID 2 there).
SPAWNER = r"""
import os, subprocess, sys
with open(os.path.join(sys.argv[1], "cgroup.procs"), "w") as f:
    f.write(str(os.getpid()))
print("in", flush=True)
sys.stdin.readline()
subprocess.run(["sh", "-c", "exit 3"])
subprocess.run(["unshare", "--pid", "--fork", "sh", "-c", "/bin/true; exit 4"])
"""


def test_tree_events_carry_the_cgroup_and_the_pid_in_its_namespace(slice_dir: Path) -> None:
    unit = slice_dir / "a.service"
    proc = subprocess.Popen(
        [sys.executable, "-c", SPAWNER, str(unit)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdin is not None
    assert proc.stdout.readline().strip() == "in"
    cgroup = os.stat(unit).st_ino
    with batch("--probes", "proctree", "--interval", "0.5", "--cgroup", "a.service") as run:
        run.wait_live("proctree")
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.wait(60) == 0
        run.wait_frames(len(run.frames) + 2)
        frames = run.stop()
    events = [e for f in frames if "procs" in f for e in f["procs"]["events"]]
    # Under the filter: only the unit's processes (the spawner, its children and the namespace's).
    assert events and all(e["cgroup"] == cgroup for e in events), {(e["comm"], e["cgroup"]) for e in events}
    sh = [e for e in events if e["type"] == "exit" and e["exit_code"] == 3]
    assert len(sh) == 1 and sh[0]["ns_pid"] == sh[0]["pid"] and sh[0]["ns_level"] == 0
    # fork: the child's cgroup, read from the child itself
    forks = {e["pid"]: e for e in events if e["type"] == "fork"}
    assert forks[sh[0]["pid"]]["cgroup"] == cgroup
    # The new namespace's first process is PID 1 there, its child PID 2: both PIDs shown.
    in_ns = sorted((e["ns_pid"], e["ns_level"]) for e in events if e["type"] == "exec" and e["ns_level"] == 1)
    assert in_ns == [(1, 1), (2, 1)], in_ns
    exits = [e for e in events if e["type"] == "exit" and e["ns_level"] == 1]
    assert sorted((e["ns_pid"], e["exit_code"]) for e in exits) == [(1, 4), (2, 0)]
    assert all(e["pid"] != e["ns_pid"] for e in exits)
    assert _cgroup_names(frames)[cgroup]["name"] == "a.service"


def test_exporter_counts_per_cgroup_as_the_frames_do(slice_dir: Path) -> None:
    """--metrics next to --batch: ebpftop_cgroup_syscalls_total{cgroup="a.service",cgroup_path=...} is exactly
    the sum of the frames' syscall counts under that group's id (and includes its worker's getppid calls).
    Two groups share the name a.service (as dbus.service does under system.slice and under a user's
    manager): each keeps its own series, told apart by cgroup_path. They shared one before."""
    import socket
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (slice_dir / "other.slice" / "a.service").mkdir(parents=True)
    a = Worker(slice_dir / "a.service", 1111)
    twin = Worker(slice_dir / "other.slice" / "a.service", 2222)
    with batch("--probes", "syscalls", "--interval", "0.5", "--metrics", f"127.0.0.1:{port}") as run:
        run.wait_live("syscalls")
        for w in (a, twin):
            w.go()
            w.wait()
        run.wait_read_after(time.time())  # served from here on: every call of both workers
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
            body = r.read().decode()
        frames = run.stop()
    served = {
        (s.labels["cgroup"], s.labels["cgroup_path"]): s.value
        for fam in text_string_to_metric_families(body)
        for s in fam.samples
        if s.name == "ebpftop_cgroup_syscalls_total"
    }
    root = "/" + slice_dir.relative_to(MOUNT).as_posix()
    for worker, path, calls in ((a, f"{root}/a.service", 1111), (twin, f"{root}/other.slice/a.service", 2222)):
        # Frames after the scrape may add more: count only what was served against the frames up to it.
        in_unit = [sum(r["count"] for r in f.get("syscalls", []) if r["cgroup"] == worker.cgroup_id) for f in frames]
        sums = {sum(in_unit[:i]) for i in range(len(in_unit) + 1)}
        assert served[("a.service", path)] in sums, (served, path, in_unit)
        assert served[("a.service", path)] >= calls
        assert _getppid_by_cgroup(frames, worker.pid) == {worker.cgroup_id: calls}


# Moves itself into argv[1], says so, waits for a line, then writes argv[3] bytes to argv[2] in N writes.
WRITER = r"""
import os, sys
with open(os.path.join(sys.argv[1], "cgroup.procs"), "w") as f:
    f.write(str(os.getpid()))
print("in", flush=True)
sys.stdin.readline()
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
for _ in range(int(sys.argv[4])):
    os.write(fd, b"x" * int(sys.argv[3]))
os.close(fd)
"""


class Writer(Worker):
    def __init__(self, cgroup: Path, path: Path, size: int, writes: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(cgroup), str(path), str(size), str(writes)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "in"
        self.pid, self.cgroup_id = self.proc.pid, os.stat(cgroup).st_ino


def _writes(frames: list[dict[str, Any]], path: Path) -> dict[int, tuple[int, int]]:
    """cgroup id -> (write calls, bytes) on that path, over every frame."""
    out: dict[int, tuple[int, int]] = {}
    for f in frames:
        for row in f.get("files", []):
            if row["path"] == str(path):
                n, b = out.get(row["cgroup"], (0, 0))
                out[row["cgroup"]] = (n + row["writes"], b + row["write_bytes"])
    return out


def test_files_counted_exactly_per_cgroup_and_filtered_by_it(slice_dir: Path, tmp_path: Path) -> None:
    """Files: each writer's exact writes under its own cgroup; --cgroup the slice keeps the nested
    group's writer and drops the root's, in the kernel."""
    for args in ((), ("--cgroup", f"/{slice_dir.name}")):
        a = Writer(slice_dir / "a.service", tmp_path / "a.out", 100, 111)
        b = Writer(slice_dir / "b.service" / "inner", tmp_path / "b.out", 200, 222)
        c = Writer(Path(MOUNT or "/"), tmp_path / "c.out", 300, 333)
        with batch("--probes", "files", "--interval", "0.5", *args) as run:
            run.wait_live("files")
            for w in (a, b, c):
                w.go()
            for w in (a, b, c):
                w.wait()
            run.wait_frames(len(run.frames) + 2)
            frames = run.stop()
        assert _writes(frames, tmp_path / "a.out") == {a.cgroup_id: (111, 11100)}
        assert _writes(frames, tmp_path / "b.out") == {b.cgroup_id: (222, 44400)}
        assert _writes(frames, tmp_path / "c.out") == ({} if args else {1: (333, 99900)})
        names = _cgroup_names(frames)
        assert names[a.cgroup_id]["name"] == "a.service" and names[b.cgroup_id]["name"] == "b.service"
