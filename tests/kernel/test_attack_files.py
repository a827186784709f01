"""Attacks on the Files pane's kernel names and identities from sides the first tests did not try (issue 12).

Real mounts in a private mount namespace, real I/O, exact counts; every
(dev, ino) shown is the workload's own fstat() of its fd, or unknown.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# In its own mount namespace: a bind mount, and an overlay whose lower and
# upper layers are two tmpfs (not one filesystem, so overlayfs reports the
# layers' devices to stat). Reads a bind-mounted file 2 times, an overlay
# file from the lower layer 4 times, writes a new overlay file 6 times, and
# prints each fd's path and fstat identity as JSON.
MOUNTS = r"""
import ctypes, json, os, subprocess, sys
d = sys.argv[1]
assert ctypes.CDLL(None, use_errno=True).unshare(0x00020000) == 0  # CLONE_NEWNS
subprocess.run(["mount", "--make-rprivate", "/"], check=True)
for x in ("real", "bind", "t1", "t2", "ovl"):
    os.makedirs(f"{d}/{x}")
open(f"{d}/real/f", "w").write("r" * 10)
subprocess.run(["mount", "--bind", f"{d}/real", f"{d}/bind"], check=True)
subprocess.run(["mount", "-t", "tmpfs", "t1", f"{d}/t1"], check=True)
subprocess.run(["mount", "-t", "tmpfs", "t2", f"{d}/t2"], check=True)
os.makedirs(f"{d}/t1/low"); os.makedirs(f"{d}/t2/up"); os.makedirs(f"{d}/t2/work")
open(f"{d}/t1/low/lf", "w").write("l" * 10)
subprocess.run(["mount", "-t", "overlay", "ov", "-o",
                f"lowerdir={d}/t1/low,upperdir={d}/t2/up,workdir={d}/t2/work", f"{d}/ovl"], check=True)
out = {}
for path, n, write in ((f"{d}/bind/f", 2, False), (f"{d}/ovl/lf", 4, False), (f"{d}/ovl/new", 6, True)):
    fd = os.open(path, os.O_RDWR | os.O_CREAT if write else os.O_RDONLY, 0o600)
    for _ in range(n):
        os.write(fd, b"z") if write else os.pread(fd, 1, 0)
    st = os.fstat(fd)
    out[path] = [st.st_dev, st.st_ino]
print(json.dumps(out))
"""


def test_overlay_files_never_show_another_files_identity(tmp_path: Path) -> None:
    """overlayfs stat()s as its layers' device: the kernel name gives (dev, ino) unknown, never the overlay sb's."""
    from ebpftop.probes.files import FilesProbe

    probe = FilesProbe()
    try:
        probe.enable()
        probe.read()
        done = subprocess.run([sys.executable, "-c", MOUNTS, str(tmp_path)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        sample = probe.read()
    finally:
        probe.disable()
    fstat = json.loads(done.stdout)
    rows = {
        r.path: (r.reads, r.writes, r.dev, r.ino) for r in sample.io if r.path in fstat and (r.reads or r.writes > 1)
    }
    bind = f"{tmp_path}/bind/f"
    assert rows == {
        bind: (2, 0, *fstat[bind]),  # control: a bind mount's file is the real one, identity exact
        f"{tmp_path}/ovl/lf": (4, 0, None, None),
        f"{tmp_path}/ovl/new": (0, 6, None, None),
    }
    # What stat says differs from the overlay superblock's own device: the fault this guards.
    assert fstat[f"{tmp_path}/ovl/lf"][0] != fstat[f"{tmp_path}/ovl/new"][0]


# A thread takes an fd table of its own (unshare(CLONE_FILES)) and puts file
# b at the number where its process has file a; both read their own fd N in
# one interval: the thread 5 then 7 times, the leader 3 then 2 times.
SPLIT_TABLE = r"""
import ctypes, os, sys, threading
d = sys.argv[1]
for n in "ab":
    open(f"{d}/{n}", "w").write(n * 100)
fa = os.open(f"{d}/a", os.O_RDONLY)
ready, go = threading.Event(), threading.Event()
def thread():
    assert ctypes.CDLL(None, use_errno=True).unshare(0x400) == 0  # CLONE_FILES
    os.close(fa)
    fb = os.open(f"{d}/b", os.O_RDONLY)
    assert fb == fa
    for _ in range(5):
        os.pread(fb, 1, 0)
    ready.set()
    go.wait()
    for _ in range(7):
        os.pread(fb, 1, 0)
t = threading.Thread(target=thread)
t.start()
ready.wait()
for _ in range(3):
    os.pread(fa, 1, 0)
go.set()
t.join()
for _ in range(2):
    os.pread(fa, 1, 0)
"""


def test_a_thread_with_its_own_fd_table_is_not_its_process_fd(tmp_path: Path) -> None:
    """fd N of a thread that unshared its fd table and fd N of its process are two files: each keeps its reads."""
    from ebpftop.probes.files import FilesProbe

    probe = FilesProbe()
    try:
        probe.enable()
        probe.read()
        done = subprocess.run(
            [sys.executable, "-c", SPLIT_TABLE, str(tmp_path)], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        sample = probe.read()
    finally:
        probe.disable()
    reads: dict[str, int] = {}
    for r in sample.io:
        if r.path in (f"{tmp_path}/a", f"{tmp_path}/b"):
            reads[r.path] = reads.get(r.path, 0) + r.reads
    assert reads == {f"{tmp_path}/a": 5, f"{tmp_path}/b": 12}
