"""Files pane names: the file the kernel opened, checked against its identity (st_dev, st_ino), never a guess.

Each workload opens files in a way that fooled a name made from the open()
string and /proc later (chdir, chroot, O_TMPFILE, /proc/self/fd, fds
refilled by close_range + pidfd_getfd or SCM_RIGHTS, unlink, long and deep
paths, sockets), prints the identity of what it opened (fstat of its own
fd), and the probe's row for that fd must carry that identity and the
file's real path. The FUSE test checks the sampler never touches a user's
filesystem: a server that stops answering must cost nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.kernel.helpers import batch, loaded_prog_ids, orphaned, prog_ids_of, prog_names

ELLIPSIS = "\u2026"
NAME_LEN, MAX_DEPTH = 512, 40  # the caps (FL_NAME_LEN, FL_MAX_DEPTH), checked against fdnames below


def test_caps_are_the_probe_caps_and_btf_gives_every_offset() -> None:
    from ebpftop.probes import fdnames

    assert (fdnames.NAME_LEN, fdnames.MAX_DEPTH) == (NAME_LEN, MAX_DEPTH)
    flags = fdnames.cflags()
    assert "-DFL_NO_SOCK" not in flags  # this kernel's BTF names sockets by their endpoints
    defined = {f.split("=")[0][len("-DFL_OFF_") :] for f in flags if f.startswith("-DFL_OFF_")}
    assert defined == {d for d, _, _ in fdnames.NAME_OFFSETS + fdnames.SOCKET_OFFSETS}


@pytest.fixture(scope="module")
def probe() -> Iterator[Any]:
    """One files probe for the module (one compile); each test reads its own intervals."""
    from ebpftop.probes.files import FilesProbe

    p = FilesProbe()
    p.enable()
    try:
        yield p
    finally:
        p.disable()


def run(probe: Any, script: str, *args: str, prefix: tuple[str, ...] = ()) -> tuple[int, Any, list[Any]]:
    """Run a workload that prints one JSON line and exits; (pid, that JSON, this interval's FileIO of that pid)."""
    probe.read()
    proc = subprocess.run(
        [*prefix, sys.executable, "-c", PRELUDE + script, *args], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    pid, info = json.loads(proc.stdout.strip().splitlines()[-1])
    return pid, info, [io for io in probe.read().io if io.tgid == pid]


PRELUDE = r"""
import ctypes, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def ident(fd):
    st = os.fstat(fd)
    return [st.st_dev, st.st_ino]
def done(info):
    print(json.dumps([os.getpid(), info]), flush=True)
"""


def one(ios: list[Any], **want: Any) -> Any:
    found = [io for io in ios if all(getattr(io, k) == v for k, v in want.items())]
    assert len(found) == 1, (want, ios)
    return found[0]


def identity(io: Any) -> list[int | None]:
    return [getattr(io, "dev", None), getattr(io, "ino", None)]


# -- relative names: the directory at the open, not at the read ---------------------

CHDIR_RACE = r"""
a, b = sys.argv[1], sys.argv[2]
os.chdir(a)
fd = os.open("x", os.O_CREAT | os.O_WRONLY, 0o600)
os.chdir(b)
os.write(fd, b"c" * 13)
done(ident(fd))
sys.stdin.readline()  # alive while ebpftop reads: its cwd is b now
"""


def test_chdir_after_open_names_the_directory_of_the_open(probe: Any, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    probe.read()
    proc = subprocess.Popen(
        [sys.executable, "-c", PRELUDE + CHDIR_RACE, str(a), str(b)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        pid, info = json.loads(proc.stdout.readline())
        ios = [io for io in probe.read().io if io.tgid == pid]
    finally:
        proc.communicate(b"\n", timeout=30)
    io = one(ios, write_bytes=13)
    assert (io.path, io.type, identity(io)) == (str(a / "x"), "file", info)
    assert not (b / "x").exists()


SAME_NAME = r"""
out = []
for d, n in ((sys.argv[1], 11), (sys.argv[2], 22)):
    os.chdir(d)
    fd = os.open("same.txt", os.O_CREAT | os.O_WRONLY, 0o600)
    os.write(fd, b"s" * n)
    out.append(ident(fd))
done(out)  # and exit at once: nothing of it is left in /proc when ebpftop reads
"""


def test_same_relative_name_in_two_directories_is_two_rows_after_the_process_is_gone(
    probe: Any, tmp_path: Path
) -> None:
    from ebpftop.model.files import BY_PATH, FilesModel, FilesSample

    a, b = tmp_path / "one", tmp_path / "two"
    a.mkdir(), b.mkdir()
    _pid, info, ios = run(probe, SAME_NAME, str(a), str(b))
    rows = FilesModel().update(FilesSample(tuple(ios)), 1.0).rows(BY_PATH)
    got = {r.path: (r.write_bytes, [r.dev, r.ino]) for r in rows if r.write_bytes in (11, 22)}
    assert got == {str(a / "same.txt"): (11, info[0]), str(b / "same.txt"): (22, info[1])}


CHROOT = r"""
fd0 = os.open("/etc/passwd", os.O_RDONLY)  # the host's, to tell them apart
os.chroot(sys.argv[1])
os.chdir("/")
fd = os.open("/etc/passwd", os.O_RDONLY)
assert os.read(fd, 4096) == b"jail:x:0:0::/:/bin/sh\n"
done([ident(fd), ident(fd0)])
"""


def test_chrooted_open_is_named_by_its_host_path(probe: Any, tmp_path: Path) -> None:
    jail = tmp_path / "jail"
    (jail / "etc").mkdir(parents=True)
    (jail / "etc" / "passwd").write_bytes(b"jail:x:0:0::/:/bin/sh\n")
    _pid, (mine, host), ios = run(probe, CHROOT, str(jail))
    io = one(ios, read_bytes=22)
    assert (io.path, io.type, identity(io)) == (str(jail / "etc" / "passwd"), "file", mine)
    assert mine != host


# -- fds of other origins ------------------------------------------------------------

TMPFILE = r"""
fd = os.open(sys.argv[1], os.O_TMPFILE | os.O_WRONLY, 0o600)
os.write(fd, b"t" * 31)
done(ident(fd))
"""


def test_o_tmpfile_is_a_deleted_file_in_its_directory(probe: Any, tmp_path: Path) -> None:
    _pid, info, ios = run(probe, TMPFILE, str(tmp_path))
    io = one(ios, write_bytes=31)
    # As /proc/PID/fd shows it: the dentry is named #ino and was never linked.
    assert (io.path, io.type, getattr(io, "deleted", None), identity(io)) == (
        f"{tmp_path}/#{info[1]} (deleted)",
        "file",
        True,
        info,
    )


PROC_SELF_FD = r"""
real = os.open(sys.argv[1], os.O_RDONLY)
fd = os.open(f"/proc/self/fd/{real}", os.O_WRONLY)
os.write(fd, b"p" * 17)
done(ident(fd))
"""


def test_open_of_proc_self_fd_names_the_real_file(probe: Any, tmp_path: Path) -> None:
    target = tmp_path / "real.txt"
    target.write_bytes(b"")
    _pid, info, ios = run(probe, PROC_SELF_FD, str(target))
    io = one(ios, write_bytes=17)
    assert (io.path, io.type, identity(io)) == (str(target), "file", info)
    st = os.stat(target)
    assert info == [st.st_dev, st.st_ino]


CLOSE_RANGE_GETFD = r"""
x, y = sys.argv[1], sys.argv[2]
pidfd = os.pidfd_open(os.getpid())
os.dup2(os.open(y, os.O_CREAT | os.O_WRONLY, 0o600), 100)
n = os.open(x, os.O_CREAT | os.O_WRONLY, 0o600)
os.write(n, b"x" * 3)
assert libc.syscall(436, n, n, 0) == 0            # close_range(n, n, 0): no close() seen
m = libc.syscall(438, pidfd, 100, 0)              # pidfd_getfd: y again, on the lowest free fd
assert m == n, (m, n)
os.write(m, b"y" * 5)
done([n, ident(n)])
"""


def test_fd_refilled_by_pidfd_getfd_after_close_range_is_the_new_file(probe: Any, tmp_path: Path) -> None:
    x, y = tmp_path / "x.txt", tmp_path / "y.txt"
    _pid, (fd, info), ios = run(probe, CLOSE_RANGE_GETFD, str(x), str(y))
    old, new = one(ios, fd=fd, write_bytes=3), one(ios, fd=fd, write_bytes=5)
    assert (old.path, new.path, identity(new)) == (str(x), str(y), info)
    assert old.gen != new.gen


SCM_RIGHTS = r"""
import socket
x, y = sys.argv[1], sys.argv[2]
a, b = socket.socketpair()
n = os.open(x, os.O_CREAT | os.O_WRONLY, 0o600)
os.write(n, b"x" * 3)
print("wrote", flush=True)
sys.stdin.readline()                              # ebpftop reads: the next I/O starts a new interval
yfd = os.open(y, os.O_CREAT | os.O_WRONLY, 0o600)
socket.send_fds(a, [b"f"], [yfd])
os.close(yfd)
assert libc.syscall(436, n, n, 0) == 0            # close_range: unseen
_, fds, _, _ = socket.recv_fds(b, 1, 1)           # SCM_RIGHTS installs y on the lowest free fd: n
assert fds == [n], (fds, n)
os.write(n, b"y" * 7)
done([n, ident(n)])
"""


def test_fd_refilled_by_scm_rights_is_the_new_file_from_the_next_interval(probe: Any, tmp_path: Path) -> None:
    x, y = tmp_path / "x.txt", tmp_path / "y.txt"
    probe.read()
    proc = subprocess.Popen(
        [sys.executable, "-c", PRELUDE + SCM_RIGHTS, str(x), str(y)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    assert proc.stdout.readline().strip() == "wrote"
    first = [io for io in probe.read().io if io.tgid == proc.pid]
    out, _ = proc.communicate("\n", timeout=30)
    assert proc.returncode == 0
    pid, (fd, info) = json.loads(out.strip().splitlines()[-1])
    second = [io for io in probe.read().io if io.tgid == pid]
    assert one(first, fd=fd, write_bytes=3).path == str(x)
    new = one(second, fd=fd, write_bytes=7)
    assert (new.path, identity(new)) == (str(y), info)


UNLINKED = r"""
fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o600)
os.unlink(sys.argv[1])
os.write(fd, b"u" * 19)
done(ident(fd))
"""


def test_unlinked_file_is_marked_deleted(probe: Any, tmp_path: Path) -> None:
    path = tmp_path / "gone.log"
    _pid, info, ios = run(probe, UNLINKED, str(path))
    io = one(ios, write_bytes=19)
    assert (io.path, getattr(io, "deleted", None), getattr(io, "truncated", None), identity(io)) == (
        f"{path} (deleted)",
        True,
        False,
        info,
    )


UNLINKED_LATER = r"""
fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o600)
os.write(fd, b"a" * 41)
print("wrote", flush=True)
sys.stdin.readline()                              # ebpftop reads: the next I/O starts a new interval
os.unlink(sys.argv[1])
os.write(fd, b"b" * 43)
done(ident(fd))
"""


def test_file_unlinked_while_in_use_is_marked_deleted_from_the_next_interval(probe: Any, tmp_path: Path) -> None:
    path = tmp_path / "busy.log"
    probe.read()
    proc = subprocess.Popen(
        [sys.executable, "-c", PRELUDE + UNLINKED_LATER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "wrote"
    first = [io for io in probe.read().io if io.tgid == proc.pid]
    out, _ = proc.communicate("\n", timeout=30)
    assert proc.returncode == 0
    pid, info = json.loads(out.strip().splitlines()[-1])
    second = [io for io in probe.read().io if io.tgid == pid]
    before, after = one(first, write_bytes=41), one(second, write_bytes=43)
    assert (before.path, getattr(before, "deleted", None)) == (str(path), False)
    assert (after.path, getattr(after, "deleted", None), identity(after)) == (f"{path} (deleted)", True, info)
    assert identity(before) == identity(after)


WRITE = r"""
fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o600)
os.write(fd, b"w" * int(sys.argv[2]))
done(ident(fd))
"""


def test_path_longer_than_the_cap_keeps_the_leaf_side_marked_truncated(probe: Any, tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*(f"{i}" + "L" * 99 for i in range(6)))  # > NAME_LEN bytes
    deep.mkdir(parents=True)
    path = str(deep / "leaf.bin")
    assert len(path) > NAME_LEN
    _pid, info, ios = run(probe, WRITE, path, "23")
    io = one(ios, write_bytes=23)
    assert getattr(io, "truncated", None) and not getattr(io, "deleted", None) and identity(io) == info
    assert io.path.startswith(ELLIPSIS + "/") and path.endswith(io.path[1:]), io.path
    assert len(io.path.encode()) - len(ELLIPSIS.encode()) < NAME_LEN


def test_path_deeper_than_the_cap_keeps_the_leaf_side_marked_truncated(probe: Any, tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*(["d"] * (MAX_DEPTH + 5)))
    deep.mkdir(parents=True)
    path = str(deep / "leaf.bin")
    _pid, info, ios = run(probe, WRITE, path, "29")
    io = one(ios, write_bytes=29)
    assert getattr(io, "truncated", None) and identity(io) == info
    assert io.path.startswith(ELLIPSIS + "/d/d/") and path.endswith(io.path[1:]), io.path


def test_a_path_just_under_the_caps_is_whole(probe: Any, tmp_path: Path) -> None:
    _pid, info, ios = run(probe, WRITE, str(tmp_path / ("n" * 200)), "37")
    io = one(ios, write_bytes=37)
    assert (io.path, getattr(io, "truncated", None), identity(io)) == (str(tmp_path / ("n" * 200)), False, info)


# -- sockets: named by their endpoints -------------------------------------------------

SOCKETS = r"""
import socket
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen()
c = socket.create_connection(srv.getsockname())
s, _ = srv.accept()
c.send(b"q" * 7); assert len(s.recv(64)) == 7
s.send(b"r" * 9); assert len(c.recv(64)) == 9
u1 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u1.bind(("127.0.0.1", 0))
u2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u2.connect(u1.getsockname())
u2.send(b"d" * 4); assert len(u1.recv(64)) == 4
us = socket.socket(socket.AF_UNIX); us.bind(sys.argv[1]); us.listen()
uc = socket.socket(socket.AF_UNIX); uc.connect(sys.argv[1])
ua, _ = us.accept()
uc.send(b"u" * 5); assert len(ua.recv(64)) == 5
p1, p2 = socket.socketpair()
p1.send(b"p" * 3); assert len(p2.recv(64)) == 3
done({
    "sport": srv.getsockname()[1], "cport": c.getsockname()[1],
    "u1": u1.getsockname()[1], "u2": u2.getsockname()[1],
    "id": {k: ident(v.fileno()) for k, v in dict(c=c, s=s, u1=u1, u2=u2, uc=uc, ua=ua, p1=p1).items()},
})
"""


def test_sockets_are_named_by_their_endpoints(probe: Any, tmp_path: Path) -> None:
    sock = str(tmp_path / "x.sock")
    prefix = ("unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" "$@"')
    _pid, info, ios = run(probe, SOCKETS, sock, prefix=prefix)
    arrow, ident = "\u2192", info["id"]
    lo = "127.0.0.1"
    want = {
        "c": (dict(write_bytes=7), f"tcp {lo}:{info['cport']} {arrow} {lo}:{info['sport']}"),
        "s": (dict(read_bytes=7), f"tcp {lo}:{info['sport']} {arrow} {lo}:{info['cport']}"),
        "u2": (dict(write_bytes=4), f"udp {lo}:{info['u2']} {arrow} {lo}:{info['u1']}"),
        "u1": (dict(read_bytes=4), f"udp {lo}:{info['u1']}"),
        "uc": (dict(write_bytes=5), f"unix {arrow} {sock}"),
        "ua": (dict(read_bytes=5), f"unix {sock}"),
        "p1": (dict(write_bytes=3), f"unix socket:[{ident['p1'][1]}]"),
    }
    for key, (counts, path) in want.items():
        io = one(ios, type="socket", **counts)
        assert (io.path, identity(io)) == (path, ident[key]), key


# -- a stalled filesystem costs nothing -------------------------------------------------

FUSE_SERVER = Path(__file__).with_name("fusestall.py")


@pytest.fixture
def stalled_fuse(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """A workload reading a file on a FUSE mount whose server has stopped answering: (pid, path)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    server = subprocess.Popen(
        [sys.executable, str(FUSE_SERVER), str(mnt)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None and server.stdin is not None
    try:
        line = server.stdout.readline().split()
        assert line[:1] == ["ready"], line
        server.stdin.write("stop\n")
        server.stdin.flush()
        assert server.stdout.readline().strip() == "stopped"
        yield int(line[1]), str(mnt / "file")
    finally:
        server.stdin.close()  # the server closes /dev/fuse: every waiter gets ENOTCONN
        server.wait(30)


def _frames_naming(run: Any, pid: int, path: str, count: int) -> list[dict[str, Any]]:
    """Wait for count frames (after live) whose files rows name the workload's file, from the kernel."""
    run.wait_live("files")
    start = len(run.frames)
    deadline_frames = start + 40
    while True:
        frames = run.wait_frames(len(run.frames) + 1, timeout=20)
        naming = [r for f in frames[start:] for r in f.get("files", []) if r["pid"] == pid and r["path"] == path]
        if len(naming) >= count:
            return naming
        assert len(frames) < deadline_frames, "no frame names the FUSE file"


def test_stalled_fuse_server_never_stalls_the_sampler_and_term_ends_it(stalled_fuse: tuple[int, str]) -> None:
    pid, path = stalled_fuse
    before = loaded_prog_ids()
    with batch("--probes", "files", "--interval", "0.3") as run:
        rows = _frames_naming(run, pid, path, 3)
        assert {(r["type"], r["ino"]) for r in rows} == {("file", 2)}  # the inode the server gave it
        assert all(r["read_bytes"] > 0 for r in rows)
        names = set(prog_names(set(prog_ids_of(run.proc.pid))).values())
        run.proc.send_signal(signal.SIGTERM)
        run.proc.wait(10)  # seconds, not never: no thread of it waits on the FUSE server
        assert run.proc.returncode == 0
    assert names and orphaned(before, names) == {}


def test_stalled_fuse_server_and_sigkill_leave_nothing(stalled_fuse: tuple[int, str]) -> None:
    pid, path = stalled_fuse
    before = loaded_prog_ids()
    with batch("--probes", "files", "--interval", "0.3") as run:
        _frames_naming(run, pid, path, 2)
        names = set(prog_names(set(prog_ids_of(run.proc.pid))).values())
        run.proc.send_signal(signal.SIGKILL)
        run.proc.wait(10)
    assert names and orphaned(before, names) == {}


SOCKETPAIR = r"""
import socket
a, b = socket.socketpair()
a.send(b"k" * 47); assert len(b.recv(64)) == 47
done(ident(a.fileno()))
"""


def test_without_socket_fields_in_btf_sockets_are_still_named_by_inode(monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel whose BTF lacks a socket member: the program still loads (FL_NO_SOCK) and says socket:[ino]."""
    from ebpftop.probes import fdnames
    from ebpftop.probes.files import FilesProbe

    monkeypatch.setattr(fdnames, "SOCKET_OFFSETS", (*fdnames.SOCKET_OFFSETS, ("X", "sock", "no_such_member")))
    assert "-DFL_NO_SOCK" in fdnames.cflags()
    p = FilesProbe()
    p.enable()
    try:
        _pid, info, ios = run(p, SOCKETPAIR)
    finally:
        p.disable()
    io = one(ios, write_bytes=47)
    assert (io.type, io.path, identity(io)) == ("socket", f"socket:[{info[1]}]", info)


DUP2_STDOUT = r"""
fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o600)
saved = os.dup(1)
os.dup2(fd, 1)
os.close(fd)
os.write(1, b"o" * 53)                            # a shell's `cmd > file`
info = ident(1)
os.dup2(saved, 1)
done(info)
"""


def test_dup2_onto_stdout_is_named_after_the_file(probe: Any, tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    _pid, info, ios = run(probe, DUP2_STDOUT, str(path))
    io = one(ios, write_bytes=53)
    assert (io.fd, io.path, identity(io)) == (1, str(path), info)


def test_file_on_a_mount_of_a_private_namespace_is_named_across_it(probe: Any, tmp_path: Path) -> None:
    """A tmpfs only the workload's mount namespace has: the path crosses that mount, the dev is the tmpfs's."""
    mnt = tmp_path / "private"
    mnt.mkdir()
    prefix = ("unshare", "-m", "sh", "-c", f'mount -t tmpfs none "{mnt}" && exec "$0" "$@"')
    _pid, info, ios = run(probe, WRITE, str(mnt / "f.bin"), "59", prefix=prefix)
    io = one(ios, write_bytes=59)
    assert (io.path, identity(io)) == (str(mnt / "f.bin"), info)
    assert info[0] != os.stat(tmp_path).st_dev and not (mnt / "f.bin").exists()
