"""ctypes access to libbpf.so.1 for what bcc has no (working) wrapper.

Stats, batch ops, links, XDP query, feature probes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import os
import platform
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

# enum bpf_stats_type
BPF_STATS_RUN_TIME = 0
# enum bpf_prog_type
BPF_PROG_TYPE_KPROBE = 2
BPF_PROG_TYPE_TRACEPOINT = 5
BPF_PROG_TYPE_XDP = 6
BPF_PROG_TYPE_RAW_TRACEPOINT = 17
BPF_PROG_TYPE_TRACING = 26
# enum bpf_map_type
BPF_MAP_TYPE_HASH = 1
BPF_MAP_TYPE_PERCPU_HASH = 5
BPF_MAP_TYPE_LRU_HASH = 9
BPF_MAP_TYPE_RINGBUF = 27
# enum bpf_attach_type
BPF_XDP = 37
# XDP flags (linux/if_link.h)
XDP_FLAGS_SKB_MODE = 1 << 1
XDP_FLAGS_DRV_MODE = 1 << 2


class LibbpfError(OSError):
    """A libbpf call failed; errno and strerror are set."""


@cache
def _load(name: str | None) -> ctypes.CDLL:
    """The one place a shared library is opened (None: the C library the process already has)."""
    return ctypes.CDLL(name, use_errno=True)


def _declare(lib: ctypes.CDLL, name: str, restype: Any, *argtypes: Any) -> None:
    fn = getattr(lib, name)
    fn.argtypes = list(argtypes)
    fn.restype = restype


_VP, _INT, _U32 = ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32
_U32P = ctypes.POINTER(ctypes.c_uint32)


@cache
def _lib() -> ctypes.CDLL:
    """libbpf.so.1 with every function ebpftop calls declared."""
    try:
        lib = _load(ctypes.util.find_library("bpf") or "libbpf.so.1")
    except OSError:
        lib = _load("libbpf.so.1")
    _declare(lib, "bpf_enable_stats", _INT, _INT)
    _declare(lib, "bpf_map_lookup_and_delete_batch", _INT, _INT, _VP, _VP, _VP, _VP, _U32P, _VP)
    _declare(lib, "bpf_map_lookup_batch", _INT, _INT, _VP, _VP, _VP, _VP, _U32P, _VP)
    _declare(lib, "bpf_map_update_batch", _INT, _INT, _VP, _VP, _U32P, _VP)
    _declare(lib, "bpf_map_lookup_elem", _INT, _INT, _VP, _VP)
    _declare(lib, "bpf_map_update_elem", _INT, _INT, _VP, _VP, ctypes.c_uint64)
    _declare(lib, "bpf_map_delete_elem", _INT, _INT, _VP)
    _declare(lib, "bpf_map_get_next_key", _INT, _INT, _VP, _VP)
    _declare(lib, "bpf_raw_tracepoint_open", _INT, ctypes.c_char_p, _INT)
    _declare(lib, "bpf_map_create", _INT, _INT, ctypes.c_char_p, _U32, _U32, _U32, _VP)
    _declare(lib, "libbpf_probe_bpf_prog_type", _INT, _INT, _VP)
    _declare(lib, "libbpf_probe_bpf_map_type", _INT, _INT, _VP)
    _declare(lib, "bpf_link_create", _INT, _INT, _INT, _INT, _VP)
    _declare(lib, "bpf_prog_get_fd_by_id", _INT, _U32)
    _declare(lib, "bpf_obj_get_info_by_fd", _INT, _INT, _VP, _U32P)
    return lib


def available() -> bool:
    """True when libbpf.so.1 can be loaded."""
    try:
        _lib()
    except OSError:
        return False
    return True


def errno_of(ret: int) -> int:
    """The errno of a libbpf return value (0: success). libbpf 1.x returns -errno and also sets errno."""
    return -ret if ret < -1 else ctypes.get_errno() if ret == -1 else 0


def _check(ret: int, what: str) -> int:
    if ret < 0:
        err = errno_of(ret) or errno.EIO
        raise LibbpfError(err, f"{what}: {os.strerror(err)}")
    return ret


def possible_cpus() -> int:
    """Number of possible CPUs: the slot count of every per-CPU map value."""
    text = Path("/sys/devices/system/cpu/possible").read_text().strip()
    count = 0
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        count += (int(hi) - int(lo) + 1) if hi else 1
    return count


def enable_stats() -> int:
    """Turn on BPF run-time stats for as long as the returned fd stays open.

    The kernel counts run_time_ns/run_cnt only while some process holds such
    an fd, so the stats switch off by themselves when ebpftop exits.
    """
    return _check(_lib().bpf_enable_stats(BPF_STATS_RUN_TIME), "bpf_enable_stats")


@dataclass(frozen=True, slots=True)
class ProgInfo:
    """What /proc/self/fdinfo says about one loaded BPF program."""

    prog_id: int
    run_time_ns: int
    run_cnt: int


def prog_info(fd: int) -> ProgInfo:
    """Read a program's id and run-time stats from fdinfo (no struct layouts involved)."""
    fields: dict[str, int] = {}
    with open(f"/proc/self/fdinfo/{fd}", encoding="ascii", errors="replace") as f:
        for line in f:
            key, _, value = line.partition(":")
            value = value.strip()
            if value.isdigit():
                fields[key] = int(value)
    return ProgInfo(
        prog_id=fields.get("prog_id", 0),
        run_time_ns=fields.get("run_time_ns", 0),
        run_cnt=fields.get("run_cnt", 0),
    )


class BatchReader:
    """Drains a BPF hash map with BPF_MAP_LOOKUP_AND_DELETE_BATCH into reused buffers.

    bcc's own batch helper aliases its out_batch token with the count and
    allocates fresh buffers on every call; this one allocates once per map.
    Per-CPU values come back as ncpus consecutive slots, each rounded up to
    8 bytes, as the kernel lays them out.
    """

    def __init__(self, map_fd: int, key_size: int, value_size: int, max_entries: int, ncpus: int = 1):
        self.map_fd = map_fd
        self.key_size = key_size
        self.slot_size = (value_size + 7) & ~7 if ncpus > 1 else value_size
        self.value_stride = self.slot_size * ncpus
        self.ncpus = ncpus
        # Hash batch ops work per bucket; a bucket may hold more entries than
        # fit in what is left of the buffer, so keep room for a second pass.
        self.capacity = max(max_entries, 64)
        self._keys = ctypes.create_string_buffer(self.capacity * key_size)
        self._values = ctypes.create_string_buffer(self.capacity * self.value_stride)
        self._in = ctypes.c_uint64(0)
        self._out = ctypes.c_uint64(0)

    def drain(self) -> tuple[memoryview, memoryview, int]:
        """Look up and delete every entry; returns (keys, values, count) views into the buffers."""
        lib = _lib()
        total = 0
        first = True
        while total < self.capacity:
            count = ctypes.c_uint32(self.capacity - total)
            ret = lib.bpf_map_lookup_and_delete_batch(
                self.map_fd,
                None if first else ctypes.byref(self._in),
                ctypes.byref(self._out),
                ctypes.addressof(self._keys) + total * self.key_size,
                ctypes.addressof(self._values) + total * self.value_stride,
                ctypes.byref(count),
                None,
            )
            err = errno_of(ret)
            total += count.value
            if ret == 0:
                self._in.value = self._out.value
                first = False
                continue
            if err == errno.ENOENT:
                break
            if err == errno.ENOSPC and count.value == 0:
                # A single bucket larger than the space left: hand back what
                # we have; the rest is read next interval.
                break
            raise LibbpfError(err, f"bpf_map_lookup_and_delete_batch: {os.strerror(err)}")
        keys = memoryview(self._keys)[: total * self.key_size]
        values = memoryview(self._values)[: total * self.value_stride]
        return keys, values, total

    def drain_summed(
        self, counters: struct.Struct, tag: tuple[int, int] | None = None
    ) -> Iterator[tuple[bytes, list[int], bytes]]:
        """Drain the map; per entry its key, its counters summed over CPUs and its tag (see sum_cpus)."""
        keys, view, n = self.drain()
        keys_b, values = keys.tobytes(), view.tobytes()  # one copy each; then plain int indexing
        ks = self.key_size
        for i in range(n):
            total, first = sum_cpus(values, i * self.value_stride, self.ncpus, self.slot_size, counters, tag)
            yield keys_b[i * ks : (i + 1) * ks], total, first


def sum_cpus(
    values: bytes,
    base: int,
    ncpus: int,
    slot: int,
    counters: struct.Struct,
    tag: tuple[int, int] | None = None,
    offset: int = 0,
) -> tuple[list[int], bytes]:
    """One per-CPU value at values[base:]: its counters (u64s `offset` bytes into each CPU's slot) summed over CPUs,
    and the bytes values[tag[0]:tag[1]] of each slot from the first CPU where they are not empty.

    The tag is what only the CPU that created an entry wrote (its comm); the
    other CPUs' slots were zeroed then and count without one.
    """
    total = [0] * (counters.size // 8)
    first = b""
    for cpu in range(ncpus):
        off = base + cpu * slot
        for i, v in enumerate(counters.unpack_from(values, off + offset)):
            total[i] += v
        if tag is not None and not first and values[off + tag[0]]:
            first = values[off + tag[0] : off + tag[1]]
    return total, first


def batch_ops_supported() -> bool:
    """Create a tiny hash map and try BPF_MAP_LOOKUP_AND_DELETE_BATCH on it (empty map -> ENOENT)."""
    lib = _lib()
    fd = lib.bpf_map_create(BPF_MAP_TYPE_HASH, b"ebpftop_probe", 4, 4, 4, None)
    if fd < 0:
        return False
    try:
        reader = BatchReader(fd, 4, 4, 4)
        reader.drain()
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def prog_type_supported(prog_type: int) -> bool:
    """libbpf's own feature probe: loads a trivial program of that type."""
    return _lib().libbpf_probe_bpf_prog_type(prog_type, None) == 1


def map_type_supported(map_type: int) -> bool:
    """libbpf's own feature probe: creates a small map of that type."""
    return _lib().libbpf_probe_bpf_map_type(map_type, None) == 1


class _LinkCreateOpts(ctypes.Structure):
    # struct bpf_link_create_opts: only sz and flags are used for XDP; the
    # rest of the (larger) struct is zero padding the library ignores.
    _fields_ = [("sz", ctypes.c_size_t), ("flags", ctypes.c_uint32), ("_pad", ctypes.c_uint8 * 124)]


def link_create_xdp(prog_fd: int, ifindex: int, flags: int) -> int:
    """Attach an XDP program through a BPF link; the kernel detaches it when the fd's last holder dies."""
    opts = _LinkCreateOpts()
    opts.sz = 16  # up to and including flags (plus padding): all libbpf reads for XDP
    opts.flags = flags
    return _check(_lib().bpf_link_create(prog_fd, ifindex, BPF_XDP, ctypes.byref(opts)), "bpf_link_create")


# membarrier(MEMBARRIER_CMD_GLOBAL) returns after an RCU grace period, i.e.
# after every BPF program that was running when it was called has returned
# (tracing programs run inside rcu_read_lock). The double-buffered probes
# (syscalls, files) flip their epoch, wait for this, then read the idle half.
_MEMBARRIER_CMD_GLOBAL = 1
_NR_MEMBARRIER = {"x86_64": 324, "aarch64": 283, "riscv64": 283, "ppc64le": 365, "s390x": 356}
_GRACE_FALLBACK_S = 0.02  # no membarrier (or nohz_full refuses it): far longer than any program run


def wait_for_programs() -> None:
    """Return once no BPF program that started before this call is still running."""
    nr = _NR_MEMBARRIER.get(platform.machine())
    if nr is not None and _load(None).syscall(nr, _MEMBARRIER_CMD_GLOBAL, 0, 0) == 0:
        return
    time.sleep(_GRACE_FALLBACK_S)


def map_lookup_batch(map_fd: int, in_batch: Any, out_batch: Any, keys: Any, values: Any, count: Any) -> int:
    """BPF_MAP_LOOKUP_BATCH (array maps); returns the errno (0 on success, ENOENT at the map's end)."""
    return errno_of(_lib().bpf_map_lookup_batch(map_fd, in_batch, out_batch, keys, values, count, None))


def map_update_batch(map_fd: int, keys: Any, values: Any, count: Any) -> int:
    """BPF_MAP_UPDATE_BATCH; returns the errno (0 on success)."""
    return errno_of(_lib().bpf_map_update_batch(map_fd, keys, values, count, None))


def map_lookup_elem(map_fd: int, key: Any, value: Any) -> bool:
    """Copy one element's value (every CPU's, for a per-CPU map) into value; False when there is none."""
    return _lib().bpf_map_lookup_elem(map_fd, key, value) == 0


# perf_event_open for a tracepoint, as bcc's bpf_attach_tracepoint does it.
_NR_PERF_EVENT_OPEN = {"x86_64": 298, "aarch64": 241}
_PERF_TYPE_TRACEPOINT = 2
_PERF_SAMPLE_RAW = 1 << 10
_PERF_FLAG_FD_CLOEXEC = 1 << 3
_PERF_ATTR = struct.Struct("<IIQQQQQII")  # type, size, config, sample_period, sample_type, read_format, flags,
_PERF_ATTR_SIZE = 112  # wakeup_events, bp_type; then zeros (PERF_ATTR_SIZE_VER5)
_PERF_EVENT_IOC_ENABLE = 0x2400
_PERF_EVENT_IOC_SET_BPF = 0x40042408


def attach_tracepoint(tp_id: int, prog_fd: int) -> int:
    """Attach a tracepoint program (the tracepoint's tracefs id), as bcc's bpf_attach_tracepoint does:
    a perf event on CPU 0 for every process, the program set on it, enabled. Its fd; OSError on failure."""
    nr = _NR_PERF_EVENT_OPEN.get(platform.machine())
    if nr is None:
        raise OSError(errno.ENOSYS, f"perf_event_open: unknown syscall number on {platform.machine()}")
    attr = ctypes.create_string_buffer(
        _PERF_ATTR.pack(_PERF_TYPE_TRACEPOINT, _PERF_ATTR_SIZE, tp_id, 1, _PERF_SAMPLE_RAW, 0, 0, 1, 0),
        _PERF_ATTR_SIZE,
    )
    fd = _load(None).syscall(nr, attr, -1, 0, -1, _PERF_FLAG_FD_CLOEXEC)
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"perf_event_open: {os.strerror(err)}")
    try:
        fcntl.ioctl(fd, _PERF_EVENT_IOC_SET_BPF, prog_fd)
        fcntl.ioctl(fd, _PERF_EVENT_IOC_ENABLE, 0)
    except OSError as exc:
        os.close(fd)
        raise OSError(exc.errno, f"attach: {exc.strerror}") from None
    return fd


def map_delete_elem(map_fd: int, key: Any) -> bool:
    """Delete one element; False when it was not there."""
    return _lib().bpf_map_delete_elem(map_fd, key) == 0


def map_get_next_key(map_fd: int, key: Any, next_key: Any) -> bool:
    """The key after key (the first with key None) into next_key; False at the end."""
    return _lib().bpf_map_get_next_key(map_fd, key, next_key) == 0


def raw_tracepoint_open(name: str, prog_fd: int) -> int:
    """Attach a raw tracepoint program; the attachment's fd, or -errno."""
    ret = _lib().bpf_raw_tracepoint_open(name.encode(), prog_fd)
    return ret if ret >= 0 else -(errno_of(ret) or errno.EIO)


@dataclass(frozen=True, slots=True)
class MapInfo:
    type: int
    key_size: int
    value_size: int
    max_entries: int


# struct bpf_map_info (uapi, append-only ABI): type, id, key_size, value_size, max_entries first.
_MAP_INFO = struct.Struct("<IIIII")
_MAP_INFO_SIZE = 88


def map_info(fd: int) -> MapInfo:
    """A map's type and shape as the kernel has them (BPF_OBJ_GET_INFO_BY_FD)."""
    buf = ctypes.create_string_buffer(_MAP_INFO_SIZE)
    size = ctypes.c_uint32(_MAP_INFO_SIZE)
    _check(_lib().bpf_obj_get_info_by_fd(fd, buf, ctypes.byref(size)), "bpf_obj_get_info_by_fd")
    kind, _id, key_size, value_size, max_entries = _MAP_INFO.unpack_from(buf.raw)
    return MapInfo(kind, key_size, value_size, max_entries)


def map_update_elem(map_fd: int, key: Any, value: Any, what: str) -> None:
    """Write one element (BPF_ANY); LibbpfError naming `what` on failure."""
    _check(_lib().bpf_map_update_elem(map_fd, key, value, _BPF_ANY), what)


# struct bpf_prog_info (uapi, append-only ABI): the name is 16 bytes at offset 64.
_PROG_INFO_SIZE = 80
_PROG_NAME_OFF = 64
_BPF_ANY = 0


def prog_name(prog_id: int) -> bytes:
    """The raw name of a loaded BPF program by id (b"" when it is gone or unreadable)."""
    lib = _lib()
    fd = lib.bpf_prog_get_fd_by_id(prog_id)
    if fd < 0:
        return b""
    try:
        buf = ctypes.create_string_buffer(_PROG_INFO_SIZE)
        size = ctypes.c_uint32(_PROG_INFO_SIZE)
        if lib.bpf_obj_get_info_by_fd(fd, buf, ctypes.byref(size)) != 0:
            return b""
        return buf.raw[_PROG_NAME_OFF : _PROG_NAME_OFF + 16]
    finally:
        os.close(fd)
