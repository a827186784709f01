"""A process whose /proc/PID/cmdline read never returns, because a FUSE server it uses stopped answering.

Run as ``unshare -m --propagation private python cmdlinestall.py``. It mounts a
tiny FUSE file system of its own (raw /dev/fuse protocol, no libfuse) in that
private mount namespace, forks the server, and then, as the target process,
maps the one file. The server answers INIT, LOOKUP, GETATTR and OPEN but never
READ, as a hung NFS or FUSE server would. One thread of the target reads that page through
/proc/self/mem: the kernel faults it in with the target's mmap_lock held and
waits in D state (not even SIGKILL ends it) for the READ answer; a second
thread then waits to take the lock for writing (mmap). From then on, every
read of /proc/PID/cmdline (or environ) of the target waits behind them, until
the server answers or the connection is aborted. Killing the target kills the server too (PR_SET_PDEATHSIG): its
/dev/fuse fd closes, the connection aborts and every stuck reader is freed.

stdout: one line ``ready TARGET_PID SERVER_PID`` once both threads are on their way to block.
"""

from __future__ import annotations

import ctypes
import os
import signal
import struct
import sys
import tempfile
import threading
import time

libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]

IN_HDR = struct.Struct("<IIQQIIIHH")  # len, opcode, unique, nodeid, uid, gid, pid, total_extlen, padding
OUT_HDR = struct.Struct("<IiQ")  # len, error, unique
ATTR = struct.Struct("<QQQQQQIIIIIIIIII")  # struct fuse_attr (88 bytes)
LOOKUP, FORGET, GETATTR, OPEN, READ, INIT, INTERRUPT, BATCH_FORGET = 1, 2, 3, 14, 15, 26, 36, 42
ROOT, FILE = 1, 2
NAME = b"argv"
SIZE = 4096
ENOSYS, ENOENT = 38, 2


def attr(node: int) -> bytes:
    mode, size, nlink = (0o40755, 0, 2) if node == ROOT else (0o100644, SIZE, 1)
    return ATTR.pack(node, size, (size + 511) // 512, 0, 0, 0, 0, 0, 0, mode, nlink, 0, 0, 0, 4096, 0)


def reply(fd: int, unique: int, body: bytes = b"", error: int = 0) -> None:
    os.write(fd, OUT_HDR.pack(OUT_HDR.size + len(body), -error, unique) + body)


def serve(fd: int) -> None:
    """Answer what mounting and opening need; never answer a READ (the stall)."""
    while True:
        try:
            msg = os.read(fd, 1 << 20 | 4096)
        except OSError:
            return  # unmounted or aborted
        _len, op, unique, node, *_ = IN_HDR.unpack_from(msg)
        body = msg[IN_HDR.size :]
        if op == INIT:
            _major, minor, readahead, _flags = struct.unpack_from("<IIII", body)
            out = struct.pack("<IIIIHHIIHHII", 7, min(minor, 31), readahead, 0, 16, 12, 65536, 1, 16, 0, 0, 0)
            reply(fd, unique, out.ljust(64, b"\0"))
        elif op == LOOKUP:
            if node == ROOT and body.rstrip(b"\0") == NAME:
                reply(fd, unique, struct.pack("<QQQQII", FILE, 1, 3600, 3600, 0, 0) + attr(FILE))
            else:
                reply(fd, unique, error=ENOENT)
        elif op == GETATTR:
            reply(fd, unique, struct.pack("<QII", 3600, 0, 0) + attr(node))
        elif op == OPEN:
            reply(fd, unique, struct.pack("<QIi", 1, 0, 0))
        elif op in (READ, INTERRUPT, FORGET, BATCH_FORGET):
            continue  # READ: the server has hung; the others take no reply
        else:
            reply(fd, unique, error=ENOSYS)


def main() -> int:
    # A tmpfs of this mount namespace's own for the mount point: nothing is
    # left on the host's /tmp, whatever ends this process.
    if libc.mount(b"none", b"/tmp", b"tmpfs", 0, None) != 0:
        print(f"mount tmpfs: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
        return 1
    mnt = tempfile.mkdtemp(prefix="ebpftop-fusestall-", dir="/tmp")
    fuse = os.open("/dev/fuse", os.O_RDWR)
    # Mount first: a read of /dev/fuse before the mount fails (EPERM). The
    # kernel queues INIT for the server forked next.
    opts = f"fd={fuse},rootmode=40000,user_id=0,group_id=0".encode()
    if libc.mount(b"fusestall", mnt.encode(), b"fuse", 0, opts) != 0:
        print(f"mount: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
        return 1
    parent = os.getpid()
    server = os.fork()
    if server == 0:
        # Dies with the target (whatever kills it): the connection then
        # aborts and frees every reader stuck on it.
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:
            os._exit(0)
        serve(fuse)
        os._exit(0)
    os.close(fuse)  # only the server holds the connection: its death aborts it
    try:
        return target(mnt, server)
    finally:
        os.kill(server, signal.SIGKILL)


def target(mnt: str, server: int) -> int:
    fd = os.open(os.path.join(mnt, NAME.decode()), os.O_RDONLY)
    addr = libc.mmap(None, SIZE, 1, 1, fd, 0)  # PROT_READ, MAP_SHARED; never touched here
    if addr in (None, ctypes.c_void_p(-1).value):
        print(f"mmap: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
        return 1
    # A thread reads our own memory through /proc/self/mem at that page: the
    # kernel's get_user_pages holds our mmap_lock (read) across the FUSE
    # READ, which never gets an answer. Then a second thread asks for the lock
    # for writing (mmap); from then on every new reader of the lock, such as
    # a read of /proc/PID/cmdline by any other process, queues behind it.
    # Everything that needs the lock itself (thread stacks, the line we print)
    # is made before the lock is taken; SIGTERM keeps its default action, as
    # a Python handler would need memory the main thread may not get.
    mem = os.open("/proc/self/mem", os.O_RDONLY)
    go = threading.Event()
    holder = threading.Thread(target=os.pread, args=(mem, 1, addr), daemon=True)
    writer = threading.Thread(target=lambda: go.wait() and libc.mmap(None, SIZE, 1, 0x22, -1, 0), daemon=True)
    ready = f"ready {os.getpid()} {server}\n".encode()
    writer.start()
    holder.start()
    while not waiting(holder.native_id):
        time.sleep(0.01)
    go.set()  # anonymous mmap: a writer of the lock, queued behind the holder
    os.write(1, ready)
    while True:
        time.sleep(3600)


def waiting(tid: int) -> bool:
    """The thread sleeps in the kernel waiting for the FUSE answer (interruptibly at first, then in D)."""
    with open(f"/proc/self/task/{tid}/wchan", "rb") as f:
        if f.read() == b"request_wait_answer":
            return True
    with open(f"/proc/self/task/{tid}/stat", "rb") as f:
        stat = f.read()
    return stat[stat.rindex(b")") + 2 :].split()[0] == b"D"


if __name__ == "__main__":
    sys.exit(main())
