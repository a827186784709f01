"""Files probe: read/write bytes and ops per open file from syscall tracepoints, named via open() or /proc."""

from __future__ import annotations

import os
import posixpath
import stat
import struct
from collections import OrderedDict
from typing import Any

from ebpftop.model import files as m
from ebpftop.model.files import FileIO, FilesSample
from ebpftop.model.sanitize import decode
from ebpftop.probes import libbpf
from ebpftop.probes.base import Probe, ProbeError, possible_cpus

VMLINUX_BTF = "/sys/kernel/btf/vmlinux"

MAX_ENTRIES = 16384  # FL_MAX_ENTRIES: open files doing I/O per interval
PATH_LEN = 512  # FL_PATH_LEN
LOST_SLOTS = 3  # FL_LOST_SLOTS
KIND_MASK = 7  # low FL_KIND_BITS of a generation: what started the fd
KIND_NONE, KIND_OPEN, KIND_DUP = 0, 1, 5
# FL_KIND_*: what the kernel saw create the fd, used when /proc can no longer tell.
_KERNEL_KINDS = {2: m.SOCKET, 3: m.PIPE, 4: m.ANON}
AT_FDCWD = -100
CACHE_SIZE = 32768  # names of open files remembered after the kernel record is taken

_KEY = struct.Struct("<IiQ")  # struct fl_key {u32 tgid; s32 fd; u64 gen;}
_COUNTS = struct.Struct("<QQQQ")  # struct fl_val {reads, writes, read_bytes, write_bytes; comm[16]}
_VALUE_SIZE = 48
_COMM = slice(32, 48)


def classify_link(target: str) -> tuple[str, str]:
    """(type, path) from a /proc/PID/fd/N link target whose mode is unknown.

    The kernel names pseudo files 'socket:[ino]', 'pipe:[ino]',
    'anon_inode:[eventfd]' (or 'anon_inode:name'); memfds read
    '/memfd:name (deleted)'. Anything else that does not start with '/'
    is some other pseudo file system's inode.
    """
    if target.startswith("socket:["):
        return m.SOCKET, target
    if target.startswith("pipe:["):
        return m.PIPE, target
    if target.startswith("/memfd:") or not target.startswith("/"):
        return m.ANON, target
    return m.FILE, target


def type_of_mode(mode: int) -> str:
    if stat.S_ISSOCK(mode):
        return m.SOCKET
    if stat.S_ISFIFO(mode):
        return m.PIPE
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return m.DEVICE
    return m.FILE


def _readlink(path: str) -> bytes | None:
    try:
        return os.readlink(path.encode())
    except OSError:
        return None


def resolve_fd(tgid: int, fd: int, proc: str = "/proc") -> tuple[str, str]:
    """Name and type of an fd that is open now, from /proc; (UNKNOWN, 'fd:N') when it is gone."""
    link = f"{proc}/{tgid}/fd/{fd}"
    raw = _readlink(link)
    if raw is None:
        return m.UNKNOWN, f"fd:{fd}"
    kind, path = classify_link(decode(raw))
    if kind == m.FILE:
        try:
            kind = type_of_mode(os.stat(link).st_mode)  # a FIFO, socket file or device by path
        except OSError:
            pass
    return kind, path


def absolute(tgid: int, dfd: int, name: bytes, proc: str = "/proc") -> bytes:
    """The name an open() was given, made absolute with the process's cwd or dirfd (best effort)."""
    if name.startswith(b"/") or not name:
        return name
    base = _readlink(f"{proc}/{tgid}/cwd" if dfd == AT_FDCWD else f"{proc}/{tgid}/fd/{dfd}")
    if base is None or not base.startswith(b"/"):
        return name  # the process is gone: keep it relative rather than guess
    if name.startswith(b"./"):
        name = name[2:]
    return posixpath.join(base, name)


def seen_name(mode: int, ino: int, name: bytes) -> tuple[str, str]:
    """(type, path) from an inode's mode and number and its dentry's last component.

    Sockets and pipes get the names /proc would give them; anon inodes
    (no type bits) are named 'anon_inode:<name>'; files and devices only
    have their last component, shown after an ellipsis so nobody takes it
    for a whole path.
    """
    text = decode(name)
    if stat.S_IFMT(mode) == 0:
        return m.ANON, f"anon_inode:{text}"
    kind = type_of_mode(mode)
    if kind == m.SOCKET:
        return kind, f"socket:[{ino}]"
    if kind == m.PIPE and not text:
        return kind, f"pipe:[{ino}]"
    return kind, f"\u2026/{text}" if text else f"inode:{ino}"


def type_of_path(path: bytes) -> str:
    try:
        return type_of_mode(os.stat(path).st_mode)
    except OSError:
        return m.FILE  # deleted or out of our mount namespace: it was opened by name


def pt_regs_cflags() -> list[str]:
    """-D defines for the pt_regs members the program reads, from the running kernel's BTF."""
    from ebpftop.probes.btf import struct_offsets

    off = struct_offsets("pt_regs")
    missing = [f for f in ("orig_ax", "di", "si", "dx", "r10", "ip") if f not in off]
    if missing:
        raise ProbeError(f"pt_regs in the kernel's BTF has no {', '.join(missing)}")
    # cs sits in an anonymous union in BTF; it follows ip because pt_regs
    # ends with the hardware's iret frame (ip, cs, flags, sp, ss).
    defines = {
        "ORIG_AX": off["orig_ax"],
        "DI": off["di"],
        "SI": off["si"],
        "DX": off["dx"],
        "R10": off["r10"],
        "CS": off["ip"] + 8,
    }
    span = [defines[k] for k in ("ORIG_AX", "DI", "SI", "DX", "CS")]
    start, length = min(span), max(span) + 8 - min(span)
    if length > 64 or any(v % 8 for v in span):
        raise ProbeError(f"pt_regs layout unexpected (orig_ax/di/si/dx/cs span {length} bytes)")
    defines |= {"ARGS": start, "ARGS_LEN": length}
    return [f"-DFL_PT_{name}={value}" for name, value in defines.items()]


# (define, struct, member): the walk from a task to one fd's inode and name,
# and to its process's start time.
_WALK = (
    ("TASK_GROUP_LEADER", "task_struct", "group_leader"),
    ("TASK_START_TIME", "task_struct", "start_time"),
    ("TASK_FILES", "task_struct", "files"),
    ("FILES_FDT", "files_struct", "fdt"),
    ("FDT_FD", "fdtable", "fd"),
    ("FDT_MAX_FDS", "fdtable", "max_fds"),
    ("FILE_INODE", "file", "f_inode"),
    ("FILE_PATH", "file", "f_path"),
    ("PATH_DENTRY", "path", "dentry"),
    ("INODE_MODE", "inode", "i_mode"),
    ("INODE_INO", "inode", "i_ino"),
    ("DENTRY_NAME", "dentry", "d_name"),
    ("QSTR_NAME", "qstr", "name"),
)


def fd_walk_cflags() -> list[str]:
    """-D offsets for the fd-table walk, or FL_NO_WALK when the kernel's BTF lacks one of them."""
    from ebpftop.probes.btf import struct_offsets

    out = []
    try:
        for define, struct_name, member in _WALK:
            off = struct_offsets(struct_name).get(member)
            if off is None:
                return ["-DFL_NO_WALK"]
            out.append(f"-DFL_OFF_{define}={off}")
    except (ProbeError, OSError):
        return ["-DFL_NO_WALK"]
    return out


class FilesProbe(Probe):
    name = "files"
    source = "files.bpf.c"

    def __init__(self, max_entries: int = MAX_ENTRIES, proc: str = "/proc") -> None:
        super().__init__()
        self.max_entries = max_entries
        self.proc = proc
        # One reader per stats buffer; the kernel counts into the other.
        self._readers: tuple[libbpf.BatchReader, libbpf.BatchReader] | None = None
        self._active = 0
        # (tgid, fd, gen) -> (type, path): a key's file never changes, so each
        # is resolved once and remembered while it is in use.
        self._names: OrderedDict[tuple[int, int, int], tuple[str, str]] = OrderedDict()
        self._evicted = 0

    def available(self) -> str | None:
        if os.uname().machine != "x86_64":
            return f"files probe reads x86-64 syscall registers; this machine is {os.uname().machine}"
        if not os.path.exists(VMLINUX_BTF):
            return f"{VMLINUX_BTF} missing: the files probe needs the kernel's BTF for pt_regs offsets"
        return None

    def cflags(self) -> list[str]:
        limits = [f"-DFL_MAX_ENTRIES={self.max_entries}", f"-DFL_PATH_LEN={PATH_LEN}"]
        return [*limits, *pt_regs_cflags(), *fd_walk_cflags()]

    def attach(self) -> None:
        # Every TRACEPOINT_PROBE attached itself when bcc loaded it.
        ncpus = possible_cpus()
        self._readers = tuple(  # type: ignore[assignment]
            libbpf.BatchReader(self.table(name).map_fd, _KEY.size, _VALUE_SIZE, self.max_entries, ncpus)
            for name in ("stats", "stats_b")
        )
        self._active = 0

    def detach(self, bpf: Any) -> None:
        self._readers = None
        self._names.clear()

    # -- naming ---------------------------------------------------------------
    def _opened_name(self, tgid: int, fd: int, gen: int) -> tuple[str, str] | None:
        """Type and absolute path recorded by the kernel at open time; None when the record is gone."""
        paths = self.table("paths")
        key = paths.Key(tgid, fd, gen)
        try:
            rec = paths[key]
        except KeyError:
            return None
        name = bytes(rec.name)
        try:
            del paths[key]  # it lives on in self._names; free the LRU slot
        except KeyError:
            pass
        if not name:
            return None
        path = absolute(tgid, rec.dfd, name, self.proc)
        return type_of_path(path), decode(path)

    def _seen_name(self, tgid: int, fd: int, gen: int) -> tuple[str, str] | None:
        """Type and partial name the kernel read from the fd table, for an fd /proc no longer shows."""
        seen = self.table("seen")
        key = seen.Key(tgid, fd, gen)
        try:
            rec = seen[key]
        except KeyError:
            return None
        try:
            del seen[key]
        except KeyError:
            pass
        return seen_name(int(rec.mode), int(rec.ino), bytes(rec.name))

    def _dup_name(self, tgid: int, fd: int, gen: int, depth: int) -> tuple[str, str] | None:
        """The name of the fd a dup'ed fd was copied from, when the kernel saw where that one came from."""
        dups = self.table("dups")
        key = dups.Key(tgid, fd, gen)
        try:
            rec = dups[key]
        except KeyError:
            self._evicted += 1
            return None
        try:
            del dups[key]
        except KeyError:
            pass
        oldfd, oldgen = int(rec.oldfd), int(rec.oldgen)
        if oldgen & KIND_MASK == KIND_NONE or depth > 8:
            return None  # the source was never named either: ask /proc about this fd
        named = self.resolve(tgid, oldfd, oldgen, depth + 1)
        return None if named[0] == m.UNKNOWN else named

    def _fd_unchanged(self, tgid: int, fd: int, gen: int) -> bool:
        """Whether (tgid, fd) still has generation gen (0: the kernel has seen it neither open nor close).

        An fd whose entry the LRU evicted counts as changed: better unnamed
        than named after a file it may no longer be.
        """
        if self._bpf is None:
            return gen == 0
        fds = self.table("fds")
        try:
            current = int(fds[fds.Key(tgid, fd)].gen)
        except KeyError:
            current = 0
        return current == gen

    def resolve(self, tgid: int, fd: int, gen: int, depth: int = 0) -> tuple[str, str]:
        key = (tgid, fd, gen)
        hit = self._names.get(key)
        if hit is not None:
            self._names.move_to_end(key)
            return hit
        kind = gen & KIND_MASK
        named = None
        if kind == KIND_OPEN:
            named = self._opened_name(tgid, fd, gen)
        elif kind == KIND_DUP:
            named = self._dup_name(tgid, fd, gen, depth)
        if named is None:
            if kind == KIND_OPEN:
                self._evicted += 1  # opened while we watched, but its name is gone
            # /proc tells what the fd number holds now; that is this key's
            # file only if the fd has not been opened or closed since.
            if self._fd_unchanged(tgid, fd, gen):
                named = resolve_fd(tgid, fd, self.proc)
            else:
                named = (m.UNKNOWN, f"fd:{fd}")
            if named[0] == m.UNKNOWN and kind in (KIND_NONE, KIND_DUP):
                named = self._seen_name(tgid, fd, gen) or named
            made = _KERNEL_KINDS.get(kind)
            if made is not None and named[0] != made:
                # /proc shows what the fd is now; the kernel saw what it was
                # made as. They differ when it was closed and reused since.
                named = (made, f"fd:{fd}")
        if named[0] != m.UNKNOWN:  # an unresolved fd may still be resolvable next time
            self._names[key] = named
            if len(self._names) > CACHE_SIZE:
                self._names.popitem(last=False)
        return named

    # -- reading --------------------------------------------------------------
    def _swap(self) -> libbpf.BatchReader:
        """Point the programs at the other stats buffer; the reader of the one they no longer write.

        After the flip a program that read the old index may still be
        incrementing a value in the old buffer; programs run inside an RCU
        read-side section, so once a grace period has passed none is.
        """
        assert self._readers is not None
        old, self._active = self._active, 1 - self._active
        table = self.table("active")
        table[table.Key(0)] = table.Leaf(self._active)
        libbpf.wait_for_programs()
        return self._readers[old]

    def read(self) -> FilesSample:
        if self._readers is None:
            return FilesSample(())
        reader = self._swap()
        keys, values, n = reader.drain()
        stride, slot, ncpus = reader.value_stride, reader.slot_size, reader.ncpus
        out = []
        for i in range(n):
            tgid, fd, gen = _KEY.unpack_from(keys, i * _KEY.size)
            base = i * stride
            reads = writes = rbytes = wbytes = 0
            comm = b""
            for cpu in range(ncpus):
                off = base + cpu * slot
                r, w, rb, wb = _COUNTS.unpack_from(values, off)
                reads += r
                writes += w
                rbytes += rb
                wbytes += wb
                if not comm:
                    # Only the CPU that created the key wrote its comm; the
                    # other slots count from zero with an empty name.
                    comm = bytes(values[off + _COMM.start : off + _COMM.stop]).rstrip(b"\0")
            if not (reads or writes):
                continue
            kind, path = self.resolve(tgid, fd, gen)
            out.append(FileIO(tgid, fd, gen, path, kind, decode(comm), reads, writes, rbytes, wbytes))
        return FilesSample(tuple(out), self.lost())

    def lost(self) -> int:
        if self._bpf is None:
            return self._evicted
        table = self.table("lost")
        return self._evicted + sum(int(table.sum(i).value) for i in range(LOST_SLOTS))

    def lost_by_cause(self) -> dict[str, int]:
        """The kernel's lost counters by cause plus the names found evicted here."""
        if self._bpf is None:
            return {}
        table = self.table("lost")
        causes = ("stats_full", "path_not_stored", "fds_full")
        out = {c: int(table.sum(i).value) for i, c in enumerate(causes)}
        out["name_evicted"] = self._evicted
        return out
