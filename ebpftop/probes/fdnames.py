"""Naming an fd from what the kernel recorded of its struct file (bpf/files.bpf.c name_file), and nothing else.

The files program composes each key's path in the kernel, from the dentry
chain and the mount tree, when the key first does I/O; it records the
inode's dev, ino and mode and, for sockets, their endpoints. This module
turns that record into the (type, path) the pane shows. It makes no
filesystem call: a stat or readlink on a user's path can block forever on a
stalled mount (FUSE, NFS), and a name looked up later may be another file's.
"""

from __future__ import annotations

import ipaddress
import os
import stat
import struct
from dataclasses import dataclass

from ebpftop.model.files import ANON, DEVICE, FILE, PIPE, SOCKET, UNKNOWN
from ebpftop.model.sanitize import decode
from ebpftop.probes.base import ProbeError

NAME_LEN = 512  # FL_NAME_LEN (a power of 2)
MAX_DEPTH = 40  # FL_MAX_DEPTH

# fl_name.flags, passed to bpf/files.h as FL_NAME_<key> with -D (cflags).
NAME_FLAGS = {"TRUNCATED": 1, "DELETED": 2, "PSEUDO": 4, "SOCK": 8, "NO_DEV": 16, "NO_INO": 32}
TRUNCATED, DELETED, PSEUDO, SOCK, NO_DEV, NO_INO = NAME_FLAGS.values()
UNIX_PEER = 0x8000  # in sk_type: the unix address is the peer's

# struct fl_name {u64 ino; u32 dev; u32 mode; u16 flags, len, sk_family, sk_type, sk_protocol,
#                 sk_sport, sk_dport, _pad; u8 sk_saddr[16], sk_daddr[16]; char name[NAME_LEN];}
_HEAD = struct.Struct("<QII8H16s16s")
RECORD_SIZE = _HEAD.size + NAME_LEN

AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET = 1, 2, 10, 16, 17
SOCK_STREAM, SOCK_DGRAM, SOCK_RAW = 1, 2, 3
_PROTOCOLS = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6", 132: "sctp", 136: "udplite", 262: "mptcp"}
_FAMILIES = {AF_NETLINK: "netlink", AF_PACKET: "packet", 40: "vsock", 44: "xdp"}

# (define, struct(s), member(s)): what name_file reads. Every one is needed.
NAME_OFFSETS = (
    ("TASK_GROUP_LEADER", "task_struct", "group_leader"),
    ("TASK_START_TIME", "task_struct", "start_time"),
    ("TASK_FILES", "task_struct", "files"),
    ("FILES_FDT", "files_struct", "fdt"),
    ("FDT_FD", "fdtable", "fd"),
    ("FDT_MAX_FDS", "fdtable", "max_fds"),
    ("FILE_INODE", "file", "f_inode"),
    ("FILE_PATH", "file", "f_path"),
    ("FILE_PRIVATE", "file", "private_data"),
    ("PATH_DENTRY", "path", "dentry"),
    ("PATH_MNT", "path", "mnt"),
    ("INODE_MODE", "inode", "i_mode"),
    ("INODE_INO", "inode", "i_ino"),
    ("INODE_SB", "inode", "i_sb"),
    ("SB_DEV", "super_block", "s_dev"),
    ("SB_MAGIC", "super_block", "s_magic"),
    ("DENTRY_NAME", "dentry", "d_name"),
    ("DENTRY_PARENT", "dentry", "d_parent"),
    ("DENTRY_HASH", "dentry", "d_hash"),
    ("HLIST_PPREV", "hlist_bl_node", "pprev"),
    ("QSTR_NAME", "qstr", "name"),
    ("QSTR_LEN", "qstr", "len"),
    ("MOUNT_MNT", "mount", "mnt"),
    ("MOUNT_PARENT", "mount", "mnt_parent"),
    ("MOUNT_MOUNTPOINT", "mount", "mnt_mountpoint"),
    ("VFSMOUNT_ROOT", "vfsmount", "mnt_root"),
)

# Socket endpoints: optional (without them a socket is named socket:[ino]).
SOCKET_OFFSETS = (
    ("SOCKET_SK", "socket", "sk"),
    ("SK_FAMILY", "sock/sock_common", "__sk_common.skc_family"),
    ("SK_DADDR", "sock/sock_common", "__sk_common.skc_daddr"),
    ("SK_RCV_SADDR", "sock/sock_common", "__sk_common.skc_rcv_saddr"),
    ("SK_V6_DADDR", "sock/sock_common", "__sk_common.skc_v6_daddr"),
    ("SK_V6_RCV_SADDR", "sock/sock_common", "__sk_common.skc_v6_rcv_saddr"),
    ("SK_DPORT", "sock/sock_common", "__sk_common.skc_dport"),
    ("SK_NUM", "sock/sock_common", "__sk_common.skc_num"),
    ("SK_TYPE", "sock", "sk_type"),
    ("SK_PROTOCOL", "sock", "sk_protocol"),
    ("UNIX_ADDR", "unix_sock", "addr"),
    ("UNIX_PEER", "unix_sock", "peer"),
    ("UNIX_ADDR_LEN", "unix_address", "len"),
    ("UNIX_ADDR_NAME", "unix_address", "name"),
)


def cflags() -> list[str]:
    """-D offsets for naming fds in the kernel; ProbeError naming what the kernel's BTF lacks."""
    from ebpftop.probes.btf import offset_defines

    out, missing = offset_defines("FL_OFF_", NAME_OFFSETS)
    if missing:
        raise ProbeError(f"the kernel's BTF lacks {', '.join(missing)}: files cannot be named from the kernel")
    sock, missing = offset_defines("FL_OFF_", SOCKET_OFFSETS)
    out += sock if not missing else ["-DFL_NO_SOCK"]
    flags = [f"-DFL_NAME_{name}={bit}" for name, bit in NAME_FLAGS.items()]
    return [*out, *flags, f"-DFL_NAME_LEN={NAME_LEN}", f"-DFL_MAX_DEPTH={MAX_DEPTH}"]


@dataclass(frozen=True, slots=True)
class FdName:
    """What an fd was, as the kernel saw it at the key's first I/O."""

    type: str
    path: str
    dev: int | None = None  # st_dev encoding (os.makedev), as os.stat gives it
    ino: int | None = None
    deleted: bool = False
    truncated: bool = False


def unknown(fd: int) -> FdName:
    return FdName(UNKNOWN, f"fd:{fd}")


_TYPE_OF_FMT = {stat.S_IFSOCK: SOCKET, stat.S_IFIFO: PIPE, stat.S_IFCHR: DEVICE, stat.S_IFBLK: DEVICE, 0: ANON}


def type_of_mode(mode: int) -> str:
    """The row type of an inode mode (regular files, directories and links are files)."""
    return _TYPE_OF_FMT.get(stat.S_IFMT(mode), FILE)


def _addr(family: int, raw: bytes, port: int) -> str:
    if family == AF_INET:
        return f"{ipaddress.IPv4Address(raw[:4])}:{port}"
    return f"[{ipaddress.IPv6Address(raw)}]:{port}"


def socket_name(family: int, sk_type: int, protocol: int, sport: int, dport_be: int,
                saddr: bytes, daddr: bytes, name: bytes, ino: int) -> str:
    """'tcp 127.0.0.1:5432 → 127.0.0.1:41822' (local → remote), 'unix /run/x.sock', else 'socket:[ino]'."""
    if family in (AF_INET, AF_INET6):
        kind = "raw" if sk_type == SOCK_RAW else _PROTOCOLS.get(protocol, f"ip/{protocol}")
        dport = int.from_bytes(dport_be.to_bytes(2, "little"), "big")
        local = _addr(family, saddr, sport)
        if dport == 0 and not any(daddr):
            return f"{kind} {local}"  # listening or unconnected
        return f"{kind} {local} \u2192 {_addr(family, daddr, dport)}"
    if family == AF_UNIX:
        if not name:
            return f"unix socket:[{ino}]"
        where = "@" + decode(name[1:]).replace("\0", "@") if name[:1] == b"\0" else decode(name.rstrip(b"\0"))
        return f"unix \u2192 {where}" if sk_type & UNIX_PEER else f"unix {where}"
    if family in _FAMILIES:
        return f"{_FAMILIES[family]} socket:[{ino}]"
    return f"socket:[{ino}]"


def describe(raw: bytes) -> FdName:
    """(type, path, identity) from a struct fl_name record."""
    ino, kdev, mode, flags, length, family, sk_type, proto, sport, dport, _pad, saddr, daddr = _HEAD.unpack_from(raw)
    name = bytes(raw[_HEAD.size : _HEAD.size + min(length, NAME_LEN)])
    dev: int | None = os.makedev(kdev >> 20, kdev & 0xFFFFF)
    kind = type_of_mode(mode)
    if not flags:  # the common case, a file in a mount tree named whole: no more to look at
        return FdName(kind, decode(name), dev, ino)
    # The filesystem's stat reports another identity than the inode's (see files.h).
    if flags & NO_DEV:
        dev = None
    if flags & NO_INO:
        ino = None
    if flags & SOCK:
        return FdName(SOCKET, socket_name(family, sk_type, proto, sport, dport, saddr, daddr, name, ino), dev, ino)
    if flags & PSEUDO:
        # Pseudo files have no path: name them as /proc does.
        if kind == SOCKET:
            path = f"socket:[{ino}]"
        elif kind == PIPE:
            path = f"pipe:[{ino}]"
        elif kind == ANON:
            path = f"anon_inode:{decode(name)}"
        else:  # memfd, secretmem, other internal mounts' files
            kind, path = ANON, decode(name)
        return FdName(kind, path, dev, ino)
    path = decode(name)
    truncated, deleted = bool(flags & TRUNCATED), bool(flags & DELETED)
    if truncated:
        path = "\u2026" + path  # the root side was cut: the leaf side is kept
    if deleted:
        path += " (deleted)"
    return FdName(kind, path, dev, ino, deleted, truncated)
