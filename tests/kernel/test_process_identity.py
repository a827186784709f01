"""A process is (PID, start) and its current name: in the filter, in the kernel, and in the names shown.

Each test drives real processes under real probes and asserts exact counts:
a PID reused (clone3 set_tid) is not the filtered process; 1100 processes by
one name are all held; a process that takes a filtered name later joins, in
the kernel; a fork+exec child and a prctl-renamed process are shown under the
name they have now, in the Syscalls and Tree panes alike.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.kernel.helpers import batch
from tests.kernel.test_files_probe import _spawn_with_pid

# Waits on a line on stdin, then makes N getppid calls and writes a file.
WORKER = r"""
import os, sys
sys.stdin.readline()
for _ in range(int(sys.argv[1])):
    os.getppid()
with open(sys.argv[2], "w") as f:
    f.write("x" * int(sys.argv[3]))
"""

# N getppid calls under the name it starts with, then prctl(PR_SET_NAME) to a new name and exit.
CALL_THEN_RENAME = r"""
import ctypes, os, sys
for _ in range(int(sys.argv[1])):
    os.getppid()
ctypes.CDLL(None).prctl(15, sys.argv[2].encode(), 0, 0, 0)
"""


def _getppid(frames: list[dict[str, Any]], pid: int) -> tuple[int, set[str]]:
    total, names = 0, set()
    for f in frames:
        for row in f.get("syscalls", []):
            if row["pid"] == pid:
                names.add(row["comm"])
                total += sum(t["count"] for t in row["top"] if t["name"] == "getppid")
    return total, names


def _file_rows(frames: list[dict[str, Any]], pid: int) -> list[dict[str, Any]]:
    return [r for f in frames for r in f.get("files", []) if r.get("pid") == pid]


def _start_ticks(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_bytes()
    return int(stat[stat.rindex(b")") + 2 :].split()[19])


def _named(tmp_path: Path, name: str, target: str = sys.executable) -> str:
    """A symlink called ``name``: what it execs is named ``name`` by the kernel."""
    link = tmp_path / name
    link.symlink_to(target)
    return str(link)


def test_reused_pid_is_not_the_filtered_process(tmp_path: Path) -> None:
    """Filter on X; X exits; a new process is given PID X: nothing of it is counted under the filter."""
    first = subprocess.Popen(
        [sys.executable, "-c", WORKER, "1111", str(tmp_path / "first.txt"), "11"], stdin=subprocess.PIPE
    )
    pid = first.pid
    try:
        with batch("--probes", "files,syscalls", "--interval", "0.5", "--pid", str(pid)) as run:
            run.wait_live("syscalls")
            run.wait_live("files")
            assert first.stdin is not None
            first.stdin.write(b"go\n")
            first.stdin.close()
            assert first.wait(30) == 0
            # The same PID, another process (its start is later by seconds: ebpftop compiled meanwhile).
            again = _spawn_with_pid(
                pid,
                [
                    sys.executable,
                    "-c",
                    WORKER.replace("sys.stdin.readline()", ""),
                    "2222",
                    str(tmp_path / "second.txt"),
                    "22",
                ],
            )
            assert again == pid
            assert os.waitpid(again, 0)[1] == 0
            frames = run.wait_frames(len(run.frames) + 2)
            frames = run.stop()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert run.proc.returncode == 0
    count, _names = _getppid(frames, pid)
    assert count == 1111, count  # the first process's calls only, not the second's 2222
    rows = _file_rows(frames, pid)
    paths = {r["path"] for r in rows}
    assert any(p.endswith("first.txt") for p in paths), paths
    assert not any(p.endswith("second.txt") for p in paths), paths
    assert sum(r["write_bytes"] for r in rows if r["path"].endswith("first.txt")) == 11


def test_1100_processes_by_one_name_are_all_held(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--pid NAME with 1100 such processes: every one in the kernel's filter, the probes live."""
    from ebpftop import pids as pids_mod
    from ebpftop.probes.files import FilesProbe
    from ebpftop.probes.syscalls import SyscallsProbe

    sleeper = _named(tmp_path, "idmany", "/bin/sleep")
    procs = [subprocess.Popen([sleeper, "120"]) for _ in range(1100)]
    try:
        # End to end: both probes live under the filter (the old 1024-entry map put them in error).
        with batch("--probes", "files,syscalls", "--interval", "0.5", "--count", "2", "--pid", "idmany") as run:
            frames = run.wait_frames(2)
            run.proc.wait(30)
        assert run.proc.returncode == 0
        assert [f["probes"][p]["state"] for f in frames for p in ("files", "syscalls")] == ["live"] * 4
        flt = pids_mod.parse_pids("idmany")
        assert len(flt.procs) == 1100 and flt.describe() == "idmany"
        probes = [SyscallsProbe(), FilesProbe()]
        try:
            for probe in probes:
                probe.enable()
                probe.set_pid_filter(flt)
                # key u32 pid -> struct filter_proc {u64 start; u64 seen}
                held = {
                    int.from_bytes(k, "little"): int.from_bytes(v[:8], "little")
                    for k, v in probe.table("filter_pids").items()
                }
                assert held == {p.pid: _start_ticks(p.pid) for p in procs}
        finally:
            for probe in probes:
                probe.disable()
        # Past the limit: refused with one line, before anything is loaded.
        monkeypatch.setattr(pids_mod, "FILTER_MAX_PIDS", 1000)
        with pytest.raises(ValueError, match=r"^1100 processes match; a filter holds at most 1000$"):
            pids_mod.parse_pids("idmany")
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def test_process_that_takes_the_filtered_name_later_joins(tmp_path: Path) -> None:
    """A live name filter: a process exec'd with the name after ebpftop started is counted, exactly."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    idle = subprocess.Popen([_named(tmp_path / "a", "idjoin", "/bin/sleep"), "60"])
    joiner = _named(tmp_path / "b", "idjoin")
    other = _named(tmp_path, "idother")
    try:
        with batch("--probes", "files,syscalls", "--interval", "0.5", "--pid", "idjoin") as run:
            run.wait_live("syscalls")
            run.wait_live("files")
            # A shell forks and its child execs the name: it joins at the exec, in the kernel.
            late = subprocess.run(
                ["sh", "-c", '"$@"; true', "sh", joiner, "-c", WORKER, "3456", str(tmp_path / "late.txt"), "33"],
                input=b"\n",
                timeout=60,
            )
            assert late.returncode == 0
            out = subprocess.run(
                [other, "-c", WORKER, "4567", str(tmp_path / "other.txt"), "44"], input=b"\n", timeout=60
            )
            assert out.returncode == 0
            frames = run.wait_frames(len(run.frames) + 2)
            frames = run.stop()
    finally:
        idle.kill()
        idle.wait()
    assert run.proc.returncode == 0
    joined = {r["pid"] for f in frames for r in f.get("syscalls", []) if r["pid"] != idle.pid}
    assert len(joined) == 1, joined
    late_pid = joined.pop()
    assert _getppid(frames, late_pid) == (3456, {"idjoin"})
    assert [r["write_bytes"] for r in _file_rows(frames, late_pid) if r["path"].endswith("late.txt")] == [33]
    assert not any(r["path"].endswith("other.txt") for f in frames for r in f.get("files", []))


def test_fork_exec_child_is_counted_under_its_new_name(tmp_path: Path) -> None:
    """Children of spawner.sh that exec another program: shown under that program's name, not the script's."""
    script = tmp_path / "spawner.sh"
    target = _named(tmp_path, "idexecd", "/bin/sleep")
    # bash resets its signal handlers in the child before the exec: dozens
    # of rt_sigaction calls counted under the script's name, then the
    # loader's few under the new one.
    # A read between a child's fork and its exec rightly names that interval's row after the script
    # (the name it had then): with 0.5 s intervals that happened whenever a read fell in the fork-exec
    # gap, wider on a busy box. So the script runs inside one interval: it starts as a frame arrives,
    # takes well under 10 s, and SIGINT flushes the partial interval.
    script.write_text(f"#!/bin/bash\nfor i in 1 2 3 4 5; do {target} 0.1 & echo $! >>{tmp_path}/pids; wait; done\n")
    script.chmod(0o755)
    with batch("--probes", "syscalls,proctree", "--interval", "10") as run:
        run.wait_live("syscalls")
        run.wait_live("proctree")
        began = time.time()
        subprocess.run([str(script)], check=True, timeout=60)
        ended = time.time()
        frames = run.stop()
    reads = [p["window_start"] + p["window_s"] for f in frames if (p := f["probes"]["syscalls"])["window_s"]]
    assert not [r for r in reads if began <= r <= ended], "a read fell inside the script: no single interval"
    children = {int(p) for p in (tmp_path / "pids").read_text().split()}
    assert len(children) == 5
    names = {r["comm"] for f in frames for r in f.get("syscalls", []) if r["pid"] in children}
    assert names == {"idexecd"}, names
    execs = {e["pid"]: e["comm"] for f in frames for e in f.get("procs", {}).get("events", []) if e["type"] == "exec"}
    assert {execs[c] for c in children} == {"idexecd"}


def test_prctl_rename_shows_the_new_name_in_syscalls_and_tree(tmp_path: Path) -> None:
    """N getppid calls, then prctl(PR_SET_NAME): both panes name the process as it is now, count exact."""
    from ebpftop.model.proctree import ProcTreeModel
    from ebpftop.model.syscalls import SyscallsModel
    from ebpftop.probes.proctree import ProcTreeProbe
    from ebpftop.probes.syscalls import SyscallsProbe

    calls = 4321
    tree, sc = ProcTreeProbe(), SyscallsProbe()
    try:
        tree.enable()
        sc.enable()
        tree_model, sc_model = ProcTreeModel(linger=60.0), SyscallsModel()
        tree_model.update(tree.read(), 1.0)
        sc.read()
        proc = subprocess.Popen([_named(tmp_path, "idbefore"), "-c", CALL_THEN_RENAME, str(calls), "idafter"])
        assert proc.wait(60) == 0
        table = sc_model.update(sc.read(), 1.0)
        view = tree_model.update(tree.read(), 1.0)
    finally:
        tree.disable()
        sc.disable()
    row = next(r for r in table.rows if r.pid == proc.pid)
    assert (row.comm, {t.name: t.count for t in row.top}["getppid"]) == ("idafter", calls)
    node = view.find(proc.pid)
    assert node is not None and node.comm == "idafter" and node.exit_code == 0
