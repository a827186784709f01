"""A FUSE server of its own on /dev/fuse (raw protocol), in a private mount namespace, that can stop answering.

Run as a script: fusestall.py MOUNTPOINT. It unshares its mount namespace,
makes / private (nothing it mounts is seen outside), mounts itself on
MOUNTPOINT and forks a workload that opens MOUNTPOINT/file, reads it once
through the server and then re-reads it from the page cache forever (no
request reaches the server). It prints "ready PID" (the workload). A line
"stop" on stdin makes it stop answering: every request from then on (a stat
of the file, its FLUSH at close) waits. EOF on stdin (or its death) closes
/dev/fuse, which aborts the connection: every waiter gets ENOTCONN.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import struct
import sys
import time

CLONE_NEWNS = 0x20000
MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 2, 4, 0x4000, 1 << 18
ENOSYS, ENOENT = 38, 2
INIT, LOOKUP, FORGET, GETATTR, OPEN, READ, RELEASE, FLUSH, INTERRUPT, BATCH_FORGET = 26, 1, 2, 3, 14, 15, 18, 25, 36, 42
NO_REPLY = (FORGET, BATCH_FORGET, INTERRUPT)
FOPEN_KEEP_CACHE = 2
PR_SET_PDEATHSIG = 1
DATA = b"f" * 4096
IN_HDR = struct.Struct("<IIQQIIIHH")  # len opcode unique nodeid uid gid pid total_extlen padding
OUT_HDR = struct.Struct("<IiQ")


def attr(ino: int) -> bytes:
    if ino == 1:
        mode, size, nlink = 0o040755, 0, 2
    else:
        mode, size, nlink = 0o100644, len(DATA), 1
    # ino size blocks atime mtime ctime atimens mtimens ctimens mode nlink uid gid rdev blksize flags
    return struct.pack(
        "<QQQQQQIIIIIIIIII", ino, size, (size + 511) // 512, 0, 0, 0, 0, 0, 0, mode, nlink, 0, 0, 0, 4096, 0
    )


def reply(dev: int, unique: int, error: int = 0, body: bytes = b"") -> None:
    os.write(dev, OUT_HDR.pack(OUT_HDR.size + len(body), -error, unique) + body)


def serve_one(dev: int) -> None:
    req = os.read(dev, 1 << 20)
    length, op, unique, node, *_ = IN_HDR.unpack_from(req)
    arg = req[IN_HDR.size : length]
    if op in NO_REPLY:
        return
    if op == INIT:
        _major, _minor, readahead, _flags = struct.unpack_from("<IIII", arg)
        # major minor max_readahead flags max_background congestion max_write time_gran max_pages
        # map_alignment flags2 max_stack_depth unused[6]
        body = struct.pack("<IIIIHHIIHHII24x", 7, 31, readahead, 0, 16, 12, 65536, 1, 32, 0, 0, 0)
        reply(dev, unique, 0, body)
    elif op == LOOKUP:
        if node == 1 and arg.rstrip(b"\0") == b"file":
            # nodeid generation entry_valid attr_valid entry_nsec attr_nsec attr: attributes never cached
            reply(dev, unique, 0, struct.pack("<QQQQII", 2, 0, 3600, 0, 0, 0) + attr(2))
        else:
            reply(dev, unique, ENOENT)
    elif op == GETATTR:
        reply(dev, unique, 0, struct.pack("<QII", 0, 0, 0) + attr(node))
    elif op == OPEN:
        reply(dev, unique, 0, struct.pack("<QIi", 1, FOPEN_KEEP_CACHE, 0))
    elif op == READ:
        _fh, offset, size = struct.unpack_from("<QQI", arg)
        reply(dev, unique, 0, DATA[offset : offset + size])
    elif op in (RELEASE, FLUSH):
        reply(dev, unique)
    else:
        reply(dev, unique, ENOSYS)


def mount(mnt: bytes) -> int:
    """Unshare the mount namespace, make / private, mount a FUSE fs on mnt: the /dev/fuse fd."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise OSError(ctypes.get_errno(), "make / private")
    dev = os.open("/dev/fuse", os.O_RDWR)
    opts = f"fd={dev},rootmode=40000,user_id=0,group_id=0".encode()
    if libc.mount(b"ebpftop-test", mnt, b"fuse", MS_NOSUID | MS_NODEV, opts) != 0:
        raise OSError(ctypes.get_errno(), "mount fuse")
    return dev


def main(mnt: bytes) -> None:
    dev = mount(mnt)
    child = os.fork()
    if child == 0:  # the workload: reads the file once through the server, then from the page cache
        os.close(dev)
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # never outlive the server
        fd = os.open(os.path.join(mnt, b"file"), os.O_RDONLY)
        assert os.read(fd, 8192) == DATA
        print(f"ready {os.getpid()}", flush=True)
        while True:
            assert os.pread(fd, 4096, 0) == DATA
            time.sleep(0.002)

    serving = True
    while True:
        ready, _, _ = select.select([dev, sys.stdin] if serving else [sys.stdin], [], [])
        if sys.stdin in ready:
            line = sys.stdin.readline()
            if line.strip() == "stop":
                serving = False  # stop answering: every request from now on waits forever
                print("stopped", flush=True)
                continue
            break  # EOF: end it all
        if dev in ready:
            serve_one(dev)
    # Close /dev/fuse first: that aborts the connection, so every request still
    # waiting (the workload's FLUSH at exit, anyone's stat) fails with ENOTCONN.
    os.close(dev)
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)


if __name__ == "__main__":
    main(os.fsencode(sys.argv[1]))
