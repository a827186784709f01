"""Files probe on the real kernel: exact bytes and ops per file, fd reuse, typing, hostile names, filter, pressure."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.kernel.helpers import batch, prog_ids_of, scaled, wait_progs_gone

TOTAL = 1_234_567
CHUNK = 1000
OPS = TOTAL // CHUNK + 1  # 1234 of 1000 bytes and one of 567

# Writes TOTAL bytes in CHUNK-byte writes, closes, then reads it back in
# CHUNK-byte reads (the last returns the 567 left; no read at EOF).
WRITE_READ = r"""
import os, sys
path, total, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
left = total
while left:
    n = os.write(fd, b"x" * min(chunk, left))
    left -= n
os.close(fd)
fd = os.open(path, os.O_RDONLY)
left = total
while left:
    left -= len(os.read(fd, min(chunk, left)))
os.close(fd)
"""

# File A written and closed, then file B opened: it gets the same fd number.
FD_REUSE = r"""
import os, sys
a, b = sys.argv[1], sys.argv[2]
fa = os.open(a, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
for _ in range(3):
    os.write(fa, b"a" * 111)
os.close(fa)
fb = os.open(b, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
os.write(fb, b"b" * 2222)
os.close(fb)
assert fa == fb, (fa, fb)
"""

# A socket, a pipe and /dev/null, each written and read, then the process exits
# at once: types must not depend on /proc still showing the fds.
KINDS = r"""
import os, socket
s1, s2 = socket.socketpair()
os.write(s1.fileno(), b"s" * 11)
assert len(os.read(s2.fileno(), 64)) == 11
s1.send(b"s" * 5)
assert len(s2.recv(64)) == 5
s1.sendmsg([b"s" * 7])
assert len(s2.recvmsg(64)[0]) == 7
r, w = os.pipe()
os.write(w, b"p" * 13)
assert len(os.read(r, 64)) == 13
null = os.open("/dev/null", os.O_WRONLY)
os.write(null, b"n" * 17)
os.write(w, b"p" * 19)
assert os.splice(r, null, 19) == 19
"""

# Opens a relative name after chdir, then writes.
RELATIVE = r"""
import os, sys
os.chdir(sys.argv[1])
fd = os.open(sys.argv[2], os.O_CREAT | os.O_WRONLY, 0o600)
os.write(fd, b"r" * 19)
"""

WRITE_NAMED = r"""
import os, sys
path = os.fsencode(sys.argv[1])
fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
os.write(fd, b"h" * 42)
os.close(fd)
"""

# Opened before the probe starts; writes when told (a line on stdin), then waits to be told to exit.
PREOPENED = r"""
import os, sys
fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o600)
print("ready", flush=True)
sys.stdin.readline()
os.write(fd, b"o" * 23)
print("done", flush=True)
sys.stdin.readline()
"""

HOSTILE = "evil\x1b[2J\x1b]0;pwned\x07\nline2[bold red]x [link=https:x]y.txt"  # no "/": one file name


def run_child(script: str, *args: str) -> int:
    proc = subprocess.Popen([sys.executable, "-c", script, *args])
    proc.wait(scaled(60))
    assert proc.returncode == 0
    return proc.pid


def rows_for(frames: list[dict], pid: int) -> list[dict]:
    return [r for f in frames for r in f.get("files", []) if r["pid"] == pid]


def totals(rows: list[dict], path: str) -> dict[str, int]:
    out = {"reads": 0, "writes": 0, "read_bytes": 0, "write_bytes": 0}
    for r in rows:
        if r["path"] == path:
            for k in out:
                out[k] += r[k]
    return out


def run_batch(script: str, *args: str, interval: str = "0.5") -> tuple[int, list[dict]]:
    with batch("--probes", "files", "--interval", interval) as run:
        run.wait_live("files")
        pid = run_child(script, *args)
        time.sleep(float(interval) + 0.2)
        frames = run.stop(signal.SIGINT)
    assert run.proc.returncode == 0, run.proc.stderr.read() if run.proc.stderr else ""
    return pid, frames


@pytest.mark.matrix
def test_exact_bytes_and_ops_for_a_file_over_intervals(tmp_path: Path) -> None:
    path = str(tmp_path / "data.bin")
    pid, frames = run_batch(WRITE_READ, path, str(TOTAL), str(CHUNK), interval="0.2")
    got = totals(rows_for(frames, pid), path)
    assert got == {"reads": OPS, "writes": OPS, "read_bytes": TOTAL, "write_bytes": TOTAL}
    row = next(r for r in rows_for(frames, pid) if r["path"] == path)
    assert row["type"] == "file"
    assert row["comm"] == "python3" or row["comm"].startswith("python")


def test_fd_reused_within_one_interval_keeps_both_files_apart(tmp_path: Path) -> None:
    from ebpftop.probes.files import FilesProbe

    a, b = str(tmp_path / "a.txt"), str(tmp_path / "b.txt")
    probe = FilesProbe()
    probe.enable()
    try:
        probe.read()
        pid = run_child(FD_REUSE, a, b)
        sample = probe.read()  # one interval holds both files
    finally:
        probe.disable()
    mine = [io for io in sample.io if io.tgid == pid]
    by_path = {io.path: io for io in mine if io.path in (a, b)}
    assert set(by_path) == {a, b}
    assert (by_path[a].writes, by_path[a].write_bytes) == (3, 333)
    assert (by_path[b].writes, by_path[b].write_bytes) == (1, 2222)
    assert by_path[a].fd == by_path[b].fd and by_path[a].gen != by_path[b].gen


@pytest.mark.matrix
def test_fd_reuse_in_batch_json(tmp_path: Path) -> None:
    a, b = str(tmp_path / "a.txt"), str(tmp_path / "b.txt")
    pid, frames = run_batch(FD_REUSE, a, b, interval="2")
    rows = rows_for(frames, pid)
    assert totals(rows, a) == {"reads": 0, "writes": 3, "read_bytes": 0, "write_bytes": 333}, rows
    assert totals(rows, b) == {"reads": 0, "writes": 1, "read_bytes": 0, "write_bytes": 2222}


@pytest.mark.matrix
def test_socket_pipe_and_dev_null_are_typed() -> None:
    pid, frames = run_batch(KINDS)
    rows = rows_for(frames, pid)

    def one(kind: str, ops: int, nbytes: int, direction: str) -> dict:
        want = {"type": kind, direction + "s": ops, direction + "_bytes": nbytes}
        found = [r for r in rows if all(r[k] == v for k, v in want.items())]
        assert len(found) == 1, (kind, rows)
        return found[0]

    one("socket", 3, 23, "write")  # write, send, sendmsg
    one("socket", 3, 23, "read")  # read, recv, recvmsg
    one("pipe", 2, 32, "write")
    one("pipe", 2, 32, "read")  # read, and splice's read side
    assert one("device", 2, 36, "write")["path"] == "/dev/null"  # write, and splice's write side


def test_hostile_file_name_is_exact_in_json(tmp_path: Path) -> None:
    path = str(tmp_path / HOSTILE)
    pid, frames = run_batch(WRITE_NAMED, path)
    rows = rows_for(frames, pid)
    assert totals(rows, path)["write_bytes"] == 42
    assert any(r["path"] == path and r["type"] == "file" for r in rows)


def test_relative_name_made_absolute_with_cwd(tmp_path: Path) -> None:
    from ebpftop.probes.files import FilesProbe

    probe = FilesProbe()
    probe.enable()
    try:
        probe.read()
        # It says when it has written (a fixed 0.5 s bet on its start-up, which a loaded box stretches),
        # then stays alive until told.
        script = RELATIVE + "\nprint('written', flush=True)\nsys.stdin.readline()\n"
        proc = subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path), "rel.txt"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        try:
            assert proc.stdout is not None and proc.stdout.readline() == b"written\n"
            sample = probe.read()  # the process is alive: its cwd is readable
        finally:
            proc.communicate(b"\n", timeout=scaled(30))
    finally:
        probe.disable()
    mine = [io for io in sample.io if io.tgid == proc.pid and io.write_bytes == 19]
    assert [io.path for io in mine] == [str(tmp_path / "rel.txt")]


def test_fd_opened_before_the_probe_is_named_by_the_kernel(tmp_path: Path) -> None:
    from ebpftop.probes.files import FilesProbe

    path = str(tmp_path / "early.log")
    proc = subprocess.Popen(
        [sys.executable, "-c", PREOPENED, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        assert proc.stdout.readline().strip() == "ready"
        probe = FilesProbe()
        probe.enable()
        try:
            probe.read()
            proc.stdin.write("go\n")
            proc.stdin.flush()
            assert proc.stdout.readline().strip() == "done"
            sample = probe.read()
        finally:
            probe.disable()
    finally:
        proc.communicate("\n", timeout=scaled(30))
    mine = [io for io in sample.io if io.tgid == proc.pid and io.write_bytes == 23]
    assert len(mine) == 1
    st = os.stat(path)
    # A generation of its own from its first I/O (kind 6, "first seen at its I/O"): generation 0
    # was shared by every unseen fd of a PID, and so by a dead process's fd of the same number.
    assert (mine[0].path, mine[0].type, mine[0].gen & 7) == (path, "file", 6)
    assert (mine[0].dev, mine[0].ino) == (st.st_dev, st.st_ino)


def test_pid_filter_in_kernel_keeps_only_that_pid(tmp_path: Path) -> None:
    from ebpftop.probes.files import FilesProbe

    probe = FilesProbe()
    probe.enable()
    try:
        probe.set_pid_filter(frozenset({os.getpid()}))
        probe.read()
        run_child(WRITE_NAMED, str(tmp_path / "other.txt"))
        mine = str(tmp_path / "mine.txt")
        with open(mine, "wb", buffering=0) as f:
            for _ in range(5):
                f.write(b"m" * 7)
        sample = probe.read()
    finally:
        probe.disable()
    assert {io.tgid for io in sample.io} == {os.getpid()}
    got = [io for io in sample.io if io.path == mine]
    assert [(io.writes, io.write_bytes) for io in got] == [(5, 35)]


def test_full_stats_map_is_counted_as_lost(tmp_path: Path) -> None:
    from ebpftop.probes.files import FilesProbe

    probe = FilesProbe(max_entries=8)
    probe.enable()
    try:
        probe.set_pid_filter(frozenset({os.getpid()}))
        probe.read()
        fds = [os.open(tmp_path / f"f{i}", os.O_CREAT | os.O_WRONLY, 0o600) for i in range(40)]
        for fd in fds:
            os.write(fd, b"z")
        for fd in fds:
            os.close(fd)
        sample = probe.read()
        causes = probe.lost_by_cause()
    finally:
        probe.disable()
    counted = sum(io.writes for io in sample.io if io.path.startswith(str(tmp_path)))
    assert counted + causes["stats_full"] >= 40
    assert causes["stats_full"] >= 40 - 8
    assert sample.lost_total >= causes["stats_full"]


@pytest.mark.matrix
def test_sigint_detaches_every_program() -> None:
    with batch("--probes", "files", "--interval", "0.3") as run:
        run.wait_live("files")
        ids = set(prog_ids_of(run.proc.pid))
        assert ids
        run.stop(signal.SIGINT)
    assert run.proc.returncode == 0
    assert wait_progs_gone(ids) == set()


def test_inherited_fds_of_an_exited_child_named_by_the_kernel(tmp_path: Path) -> None:
    """/proc has nothing left for a child that exited: the kernel names it whole, from its struct file."""
    from ebpftop.probes.files import FilesProbe

    path = tmp_path / "inherited.txt"
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    r, w = os.pipe()
    probe = FilesProbe()
    probe.enable()
    try:
        probe.read()
        child = subprocess.Popen(
            [sys.executable, "-c", f"import os; os.write({fd}, b'i' * 29); os.write({w}, b'w' * 31)"], pass_fds=(fd, w)
        )
        child.wait(scaled(30))
        sample = probe.read()
    finally:
        probe.disable()
        os.close(fd), os.close(w)
    pipe_name = os.readlink(f"/proc/self/fd/{r}")
    os.close(r)
    mine = {(io.type, io.path, io.write_bytes, io.gen & 7) for io in sample.io if io.tgid == child.pid and io.writes}
    assert ("file", str(path), 29, 6) in mine, mine
    assert ("pipe", pipe_name, 31, 6) in mine, mine


# clone3 with set_tid: a child with exactly the PID a dead process had (root may ask for a free PID).
_CLONE3 = 435


def _spawn_with_pid(pid: int, argv: list[str]) -> int:
    """Fork a child whose PID is ``pid`` and exec argv; it inherits every inheritable fd without a syscall."""
    import ctypes

    class CloneArgs(ctypes.Structure):
        _fields_ = [(n, ctypes.c_uint64) for n in (
            "flags", "pidfd", "child_tid", "parent_tid", "exit_signal", "stack", "stack_size", "tls",
            "set_tid", "set_tid_size", "cgroup",
        )]

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    tid = (ctypes.c_int32 * 1)(pid)
    args = CloneArgs(exit_signal=signal.SIGCHLD, set_tid=ctypes.addressof(tid), set_tid_size=1)
    ret = libc.syscall(_CLONE3, ctypes.byref(args), ctypes.c_size_t(ctypes.sizeof(args)))
    if ret == 0:  # the child: no Python bookkeeping after a raw clone, so exec at once
        try:
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    if ret < 0:
        raise OSError(ctypes.get_errno(), "clone3 with set_tid")
    return ret


def test_reused_pid_never_inherits_a_dead_process_fd(tmp_path: Path) -> None:
    from ebpftop.probes.files import FilesProbe

    old = str(tmp_path / "old.txt")
    probe = FilesProbe()
    probe.enable()
    try:
        probe.read()
        # The first process opens a file on fd 200 and dies without closing it.
        script = f"import os; os.dup2(os.open({old!r}, os.O_CREAT | os.O_WRONLY), 200); os.write(200, b'o' * 5)"
        first = run_child(script + "; os._exit(0)")
        probe.read()
        # A new process gets the same PID and inherits a pipe on fd 200 (no syscall of its own made it).
        r, w = os.pipe()
        os.dup2(w, 200)
        os.close(w)
        try:
            pid = _spawn_with_pid(first, [sys.executable, "-c", "import os; os.write(200, b'n' * 37)"])
        finally:
            os.close(200)
        assert os.waitpid(pid, 0)[1] == 0 and pid == first
        assert os.read(r, 64) == b"n" * 37
        sample = probe.read()
        os.close(r)
    finally:
        probe.disable()
    got = [(io.type, io.path) for io in sample.io if io.tgid == pid and io.write_bytes == 37]
    assert len(got) == 1 and got[0][0] == "pipe" and got[0][1] != old, got
