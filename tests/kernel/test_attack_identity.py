"""Attacks on process identity and names from sides the first tests did not try (issue 12).

Real processes, real probes, exact counts.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# The leader names itself LEAD before the probes load (so no rename of it is
# seen), waits for a line, then a thread names itself THREAD, makes N getppid
# calls and writes N bytes to a file; the leader waits for a second line.
THREAD_WORKLOAD = r"""
import ctypes, os, sys, threading
libc = ctypes.CDLL(None)
libc.prctl(15, sys.argv[1].encode(), 0, 0, 0)
print("ready", flush=True)
sys.stdin.readline()
def work():
    libc.prctl(15, sys.argv[2].encode(), 0, 0, 0)
    for _ in range(int(sys.argv[3])):
        os.getppid()
    fd = os.open(sys.argv[4], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    for _ in range(int(sys.argv[3])):
        os.write(fd, b"x")
    os.close(fd)
t = threading.Thread(target=work)
t.start()
t.join()
print("done", flush=True)
sys.stdin.readline()
"""


def test_a_threads_own_name_is_not_the_process_name(tmp_path: Path) -> None:
    """A non-leader thread renamed by prctl does the I/O.

    Rows carry the process's name (its leader's), as the Tree does.
    """
    from ebpftop.model.syscalls import SyscallsModel
    from ebpftop.probes.files import FilesProbe
    from ebpftop.probes.syscalls import SyscallsProbe

    calls = 2345
    target = tmp_path / "thread-out"
    proc = subprocess.Popen(
        [sys.executable, "-c", THREAD_WORKLOAD, "atklead", "atkthread", str(calls), str(target)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    sc, files = SyscallsProbe(), FilesProbe()
    try:
        sc.enable()
        files.enable()
        sc.read()
        files.read()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == "done\n"
        table = SyscallsModel().update(sc.read(), 1.0)
        io = files.read()
    finally:
        sc.disable()
        files.disable()
        proc.stdin.write("end\n")
        proc.stdin.flush()
        proc.wait(30)
    row = next(r for r in table.rows if r.pid == proc.pid)
    assert (row.comm, {t.name: t.count for t in row.top}["getppid"]) == ("atklead", calls)
    mine = [s for s in io.io if s.tgid == proc.pid and s.path == str(target)]
    assert [(s.comm, s.writes, s.write_bytes) for s in mine] == [("atklead", calls, calls)]


# The leader (named LEAD) starts a thread that names itself THREAD, then ends
# itself alone (the exit syscall, not exit_group); the thread waits for a
# line, makes N getppid calls and returns, ending the process: the last
# thread out is not the leader.
LEADER_EXITS_FIRST = r"""
import ctypes, os, sys, threading
libc = ctypes.CDLL(None)
libc.prctl(15, sys.argv[1].encode(), 0, 0, 0)
def work():
    libc.prctl(15, sys.argv[2].encode(), 0, 0, 0)
    print("ready", flush=True)
    sys.stdin.readline()
    for _ in range(int(sys.argv[3])):
        os.getppid()
threading.Thread(target=work).start()
libc.syscall(60, 0)
"""


def test_the_last_thread_out_does_not_rename_the_process(tmp_path: Path) -> None:
    """Leader gone first, a renamed thread ends the process: Tree and Syscalls keep the process's name."""
    from ebpftop.model.syscalls import SyscallsModel
    from ebpftop.probes.proctree import ProcTreeProbe
    from ebpftop.probes.syscalls import SyscallsProbe

    calls = 1234
    proc = subprocess.Popen(
        [sys.executable, "-c", LEADER_EXITS_FIRST, "atklead2", "atkthread2", str(calls)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    tree, sc = ProcTreeProbe(), SyscallsProbe()
    try:
        tree.enable()
        sc.enable()
        tree.read()
        sc.read()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        proc.wait(60)
        table = SyscallsModel().update(sc.read(), 1.0)
        events = tree.read().events
    finally:
        tree.disable()
        sc.disable()
    row = next(r for r in table.rows if r.pid == proc.pid)
    assert (row.comm, {t.name: t.count for t in row.top}["getppid"]) == ("atklead2", calls)
    assert [(e.type, e.comm) for e in events if e.pid == proc.pid] == [("exit", "atklead2")]


# Waits for a line, then a non-leader thread execs ARGV[1:] (de_thread: the
# thread becomes the leader, the PID stays).
THREAD_EXECS = r"""
import os, sys, threading
sys.stdin.readline()
def go():
    os.execv(sys.argv[1], sys.argv[1:])
threading.Thread(target=go).start()
threading.Event().wait()
"""

COUNT = "import os, sys\nfor _ in range(int(sys.argv[1])): os.getppid()\n"


def test_a_thread_that_execs_a_16_byte_name_joins_a_15_byte_filter(tmp_path: Path) -> None:
    """--pid with a 15-byte name (the kernel's cut of a 16-byte file name).

    It holds a process whose thread execs it later.
    """
    from tests.kernel.helpers import batch
    from tests.kernel.test_process_identity import _getppid, _named

    prog = _named(tmp_path, "atk16bytesname_x")  # comm: its first 15 bytes
    holder = subprocess.Popen([prog, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    calls = 3210
    late = subprocess.Popen([sys.executable, "-c", THREAD_EXECS, prog, "-c", COUNT, str(calls)], stdin=subprocess.PIPE)
    assert holder.stdin is not None and late.stdin is not None
    try:
        with batch("--probes", "syscalls", "--interval", "0.5", "--pid", "atk16bytesname_") as run:
            run.wait_live("syscalls")
            late.stdin.write(b"go\n")
            late.stdin.flush()
            assert late.wait(60) == 0
            frames = run.wait_frames(len(run.frames) + 2)
            frames = run.stop()
    finally:
        holder.kill()
        holder.wait(10)
        if late.poll() is None:
            late.kill()
    assert _getppid(frames, late.pid) == (calls, {"atk16bytesname_"})
