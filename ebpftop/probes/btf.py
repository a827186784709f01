"""Struct member offsets from the running kernel's BTF, so BPF programs never depend on header layouts."""

from __future__ import annotations

import struct
from functools import cache
from pathlib import Path

from ebpftop.probes.base import ProbeError

VMLINUX_BTF = Path("/sys/kernel/btf/vmlinux")

_BTF_STRUCT, _BTF_UNION = 4, 5
_BTF_MODIFIERS = (8, 9, 10, 11, 18)  # typedef, volatile, const, restrict, type_tag
# Bytes after struct btf_type for each kind: (fixed, per vlen entry).
_BTF_EXTRA = {
    1: (4, 0),  # int
    3: (12, 0),  # array
    4: (0, 12),  # struct
    5: (0, 12),  # union
    6: (0, 8),  # enum
    13: (0, 8),  # func_proto
    14: (4, 0),  # var
    15: (0, 12),  # datasec
    17: (4, 0),  # decl_tag
    19: (0, 12),  # enum64
}


class _Btf:
    """Just enough of a BTF reader to find struct member offsets (anonymous members included)."""

    def __init__(self, data: bytes) -> None:
        magic, _ver, _flags, hdr_len, type_off, type_len, str_off, _str_len = struct.unpack_from("<HBBIIIII", data, 0)
        if magic != 0xEB9F:
            raise ProbeError("not BTF")
        self.data = data
        self.strings = hdr_len + str_off
        self.pos: list[int] = [0]  # type id -> offset of its btf_type; id 0 is void
        self.by_name: dict[str, int] = {}
        pos, end = hdr_len + type_off, hdr_len + type_off + type_len
        unpack = struct.Struct("<III").unpack_from
        extra = _BTF_EXTRA
        while pos < end:
            name_off, info, _size = unpack(data, pos)
            kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
            if kind == _BTF_STRUCT and name_off:
                self.by_name.setdefault(self.name(name_off), len(self.pos))
            self.pos.append(pos)
            fixed, per = extra.get(kind, (0, 0))
            pos += 12 + fixed + per * vlen

    def name(self, off: int) -> str:
        start = self.strings + off
        return self.data[start : self.data.index(b"\0", start)].decode()

    def _resolve(self, type_id: int) -> tuple[int, int]:
        """Follow typedef/const/volatile to the real type: (id, kind)."""
        for _ in range(32):
            _n, info, ref = struct.unpack_from("<III", self.data, self.pos[type_id])
            kind = (info >> 24) & 0x1F
            if kind not in _BTF_MODIFIERS:
                return type_id, kind
            type_id = ref
        return type_id, 0

    def members(self, type_id: int, base: int = 0) -> dict[str, int]:
        """Byte offset of every named member, anonymous structs and unions flattened in (base in bits)."""
        _n, info, _size = struct.unpack_from("<III", self.data, self.pos[type_id])
        vlen, kflag = info & 0xFFFF, info >> 31
        out: dict[str, int] = {}
        at = self.pos[type_id] + 12
        for i in range(vlen):
            m_name, m_type, m_off = struct.unpack_from("<III", self.data, at + 12 * i)
            bits = base + (m_off & 0xFFFFFF if kflag else m_off)
            if m_name:
                out.setdefault(self.name(m_name), bits // 8)
            else:
                tid, kind = self._resolve(m_type)
                if kind in (_BTF_STRUCT, _BTF_UNION):
                    for k, v in self.members(tid, bits).items():
                        out.setdefault(k, v)
        return out


@cache
def _vmlinux(path: Path) -> _Btf:
    return _Btf(path.read_bytes())


def release() -> None:
    """Drop the parsed vmlinux BTF: ~12 MiB of Python objects (the 5.5 MB file, an offset per type, a
    name per struct) that nothing needs once a probe's -D flags are built. struct_offsets keeps its
    answers, so only a struct never asked for before parses the file again (~0.4 s)."""
    _vmlinux.cache_clear()


@cache
def struct_offsets(struct_name: str, path: Path = VMLINUX_BTF) -> dict[str, int]:
    """Byte offsets of a struct's members (anonymous ones flattened), from the running kernel's BTF."""
    try:
        btf = _vmlinux(path)
    except ProbeError as exc:
        raise ProbeError(f"{path}: {exc}") from None
    type_id = btf.by_name.get(struct_name)
    if type_id is None:
        raise ProbeError(f"struct {struct_name} not in {path}")
    return btf.members(type_id)


@cache
def struct_size(struct_name: str, path: Path = VMLINUX_BTF) -> int:
    """sizeof(struct struct_name) in the running kernel, from its BTF."""
    btf = _vmlinux(path)
    type_id = btf.by_name.get(struct_name)
    if type_id is None:
        raise ProbeError(f"struct {struct_name} not in {path}")
    return int(struct.unpack_from("<III", btf.data, btf.pos[type_id])[2])


def offset_defines(
    prefix: str, spec: tuple[tuple[str, str, str], ...], path: Path = VMLINUX_BTF
) -> tuple[list[str], list[str]]:
    """-D{prefix}{define}={offset} for each (define, struct, member), and the 'struct.member' names BTF lacks.

    A member may be a dotted path through named (not anonymous) members,
    e.g. ("SK_FAMILY", "sock", "__sk_common.skc_family"); its offset is
    the sum, each step's struct being the one named in the next step's
    owner (given as "sock/sock_common" for the struct of each step).
    """
    out: list[str] = []
    missing: list[str] = []
    for define, struct_name, member in spec:
        structs, members = struct_name.split("/"), member.split(".")
        if len(structs) != len(members):
            raise ValueError(f"{define}: {struct_name} and {member} differ in depth")
        total = 0
        for s_name, m_name in zip(structs, members, strict=False):
            try:
                off = struct_offsets(s_name, path).get(m_name)
            except (ProbeError, OSError):
                off = None
            if off is None:
                missing.append(f"{s_name}.{m_name}")
                break
            total += off
        else:
            out.append(f"-D{prefix}{define}={total}")
    return out, missing


def pt_regs_cflags() -> list[str]:
    """-D defines for the pt_regs members the program reads, from the running kernel's BTF."""
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


def task_start_cflags() -> list[str] | None:
    """-D offsets ebpftop.h reads a process's identity at (group leader, its start, its comm).

    None when BTF lacks them.
    """
    try:
        task = struct_offsets("task_struct")
        leader, start = task["group_leader"], task["start_boottime"]
    except (ProbeError, OSError, KeyError):
        return None
    return [
        f"-DEBPFTOP_OFF_TASK_GROUP_LEADER={leader}",
        f"-DEBPFTOP_OFF_TASK_START_BOOTTIME={start}",
        *([f"-DEBPFTOP_OFF_TASK_COMM={task['comm']}"] if "comm" in task else []),
    ]
