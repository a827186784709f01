"""The probe contract and the bcc plumbing every probe shares: compile, attach, cost, filter."""

from __future__ import annotations

import os
import struct
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ebpftop.pids import GONE, PidFilter, read_stat
from ebpftop.probes import libbpf, loader
from ebpftop.probes.loader import Loaded, Map

# Passed to bpf/ebpftop.h with -D (filter_cflags): the bits of the control
# word filter_on[0], and the kernel's comm length (names are NUL-padded to it).
FILTER_ON, CTL_EPOCH, FILTER_NAMES, FILTER_CGROUP = 1, 2, 4, 8
COMM_LEN = 16

_BPF_DIR_ENV = "EBPFTOP_BPF_DIR"
_U32 = struct.Struct("<I")


class ProbeError(Exception):
    """A probe could not be enabled or read; str() is the one-line reason shown to the user."""


class Cancelled(ProbeError):
    """enable() gave up because ebpftop is stopping (its cancel() said so): nothing failed."""


@dataclass(frozen=True, slots=True)
class ProbeCost:
    """Cumulative run count and run time of a probe's programs (BPF stats)."""

    run_cnt: int = 0
    run_time_ns: int = 0


def bpf_dir() -> Path:
    """Where the .bpf.c sources are: $EBPFTOP_BPF_DIR, the source tree, or the installed share dir."""
    candidates = []
    if env := os.environ.get(_BPF_DIR_ENV):
        # Absolute now: the compiler runs in /. A relative one needs the cwd, which may be gone (deleted).
        try:
            candidates.append(Path(os.path.abspath(env)))
        except OSError as exc:
            raise ProbeError(
                f"{_BPF_DIR_ENV}={env!a} is relative and the current directory is unreadable ({exc.strerror}): "
                "give an absolute path"
            ) from None
    here = Path(__file__).resolve()
    candidates.append(here.parents[2] / "bpf")
    import sys

    candidates.append(Path(sys.prefix) / "share" / "ebpftop" / "bpf")
    for path in candidates:
        if (path / "ebpftop.h").is_file():
            return path
    raise ProbeError(f"BPF sources not found (looked in {', '.join(map(str, candidates))}); set {_BPF_DIR_ENV}")


# One compile at a time: each is a process of its own (probes/compiler.py) that
# takes a CPU and ~150 MiB while it runs.
_compile_lock = threading.Lock()


def _last_error_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in lines:
        if "error:" in ln:
            return ln
    # A verifier rejection ends with its statistics ("processed 78 insns (limit 1000000) ..."):
    # the reason ("R1 invalid mem access 'scalar'") is the line before them.
    while len(lines) > 1 and lines[-1].startswith("processed ") and " insns" in lines[-1]:
        lines.pop()
    return lines[-1] if lines else ""


def compile_program(
    source: str,
    cflags: list[str] | None = None,
    load_as: dict[str, str] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Loaded:
    """Compile and load bpf/<source> with bcc, in a child process; nothing is attached yet.

    Raises ProbeError with the compiler's first error line.
    """
    directory = Path(os.path.abspath(bpf_dir()))  # the compiler runs in / (see loader.load)
    flags = [f"-I{directory}", *(cflags or [])]
    with _compile_lock:
        try:
            loaded, error, stderr = loader.load(directory / source, flags, load_as, cancel)
        except loader.LoadCancelled:
            raise Cancelled(f"{source}: compile cancelled: ebpftop is stopping") from None
    if loaded is None:
        detail = _last_error_line(stderr)
        raise ProbeError(f"{source}: {error}" + (f" ({detail})" if detail and detail not in error else ""))
    # The parsed vmlinux BTF the -D offsets were read from (~12 MiB of Python objects).
    from ebpftop.probes import btf

    btf.release()
    return loaded


class Probe(ABC):
    """One pane's kernel side: a set of BPF programs and maps with one life cycle.

    The sampler thread calls every method but collect(), which the drain
    thread calls (see collect()). disable() is idempotent and must leave
    nothing loaded.
    """

    name: ClassVar[str]
    source: ClassVar[str]
    # PID filter maps (see bpf/ebpftop.h); None for probes that are not per process.
    filter_maps: ClassVar[tuple[str, str] | None] = ("filter_on", "filter_pids")
    # Whether the programs consult filter_cgroups (FILTER_CGROUP): without it a cgroup filter keeps
    # nothing in the kernel rather than everything.
    cgroup_filter: ClassVar[bool] = False

    # Functions to load beyond the tracepoint ones, with their kind ("xdp"): attached by the probe.
    load_as: ClassVar[dict[str, str]] = {}

    def __init__(self) -> None:
        self._bpf: Loaded | None = None
        self._pids: PidFilter | None = None
        self._has_start = True  # filter_cflags() found the process start in BTF
        # The control word filter_on[0] (bpf/ebpftop.h): filter bits | epoch bit.
        self._filter_word = 0
        self._epoch = 0
        # Held while the control word is composed and written: the sampler
        # (filter) and the drain thread (epoch, see collect()) both write it.
        self._ctl_lock = threading.Lock()
        # Held by collect() (the drain thread) and by disable(): maps are
        # never torn down under a drain.
        self._drain_lock = threading.Lock()

    # -- life cycle -------------------------------------------------------
    def available(self) -> str | None:
        """None when this probe can run here, else the reason it cannot."""
        return None

    def enable(self, cancel: Callable[[], bool] | None = None) -> None:
        """Compile, load and attach; cancel() true (checked during the compile) gives up with ProbeError."""
        if self._bpf is not None:
            return
        self._bpf = compile_program(self.source, [*self.cflags(), *self.filter_cflags()], self.load_as, cancel)
        self._filter_word = self._epoch = 0  # a new map holds a zero word
        try:
            self._check_layouts()
            try:
                self._bpf.attach_tracepoints()  # events flow from here on
            except loader.LoadError as exc:
                raise ProbeError(str(exc)) from None
            self.attach()
            self._apply_filter()
        except Exception:
            self.disable()
            raise

    def disable(self) -> None:
        with self._drain_lock:
            self._disable()

    def _disable(self) -> None:
        bpf, self._bpf = self._bpf, None
        if bpf is None:
            return
        try:
            self.detach(bpf)
        finally:
            bpf.close()

    @property
    def enabled(self) -> bool:
        return self._bpf is not None

    def table(self, name: str) -> Map:
        """One of this probe's maps."""
        assert self._bpf is not None
        return self._bpf[name]

    # -- hooks for subclasses ---------------------------------------------
    def cflags(self) -> list[str]:
        return []

    def layouts(self) -> dict[str, tuple[int | None, int | None]]:
        """Map name -> (key size, value size) this module decodes it with (None: not decoded here).

        Checked against the compiled maps at enable(): a C struct changed
        without its Python format fails with one line, not with wrong numbers.
        """
        return {}

    def _check_layouts(self) -> None:
        for name, sizes in self.layouts().items():
            table = self.table(name)
            compiled = (table.key_size, table.value_size)  # the kernel's; per-CPU: one CPU's value
            for what, want, got in zip(("key", "value"), sizes, compiled, strict=False):
                if want is not None and want != got:
                    raise ProbeError(
                        f"{self.source}: map {name} {what} is {got} bytes but ebpftop/probes/{self.name}.py "
                        f"decodes {want}: the C and Python layouts differ"
                    )

    def attach(self) -> None:  # noqa: B027 - optional hook: tracepoint programs are attached before it
        """Set up what the probe reads with, and attach what is not a tracepoint (enable() attached those)."""

    def detach(self, bpf: Any) -> None:  # noqa: B027 - optional hook, the pair of attach()
        """Undo attach(); bpf.cleanup() then unloads everything bcc knows of."""

    @abstractmethod
    def read(self) -> Any:
        """Drain this interval's maps into plain dataclasses."""

    def lost(self) -> int:
        """Cumulative events this probe could not record (map full, ring buffer full)."""
        return 0

    def finish(self) -> None:  # noqa: B027 - optional hook
        """The run ends: the next read() is the last, and must return everything drained so far."""

    def wake_fd(self) -> int | None:
        """An fd the sampler's drain thread watches (edge-triggered); when it fires, collect() runs there."""
        return None

    def collect(self) -> bool:
        """Drain the kernel's maps early into what the next read() returns (a burst past a fill mark).

        Runs on the sampler's drain thread, beside read() on the sampler
        thread: it must only copy what the kernel holds, under _drain_lock,
        and leave the decoding to read(). False when it drained nothing
        (nothing to drain, or no room: the drain thread then backs off).
        """
        return False

    # -- cost ---------------------------------------------------------------
    def prog_fds(self) -> list[int]:
        if self._bpf is None:
            return []
        return [prog.fd for prog in self._bpf.progs.values()]

    def stats(self) -> ProbeCost:
        cnt = ns = 0
        for fd in self.prog_fds():
            try:
                info = libbpf.prog_info(fd)
            except OSError:
                continue
            cnt += info.run_cnt
            ns += info.run_time_ns
        return ProbeCost(cnt, ns)

    def prog_ids(self) -> list[int]:
        ids = []
        for fd in self.prog_fds():
            try:
                ids.append(libbpf.prog_info(fd).prog_id)
            except OSError:
                pass
        return ids

    # -- process filter ------------------------------------------------------
    def set_pid_filter(self, pids: PidFilter | frozenset[int] | None) -> None:
        """Keep only these processes in the kernel (None: everything); no recompile.

        A bare set of PIDs means the processes that have them now.
        """
        from ebpftop.pids import of_pids

        self._pids = of_pids(pids)
        self._apply_filter()

    def _write_filter_word(self, word: int) -> None:
        """The filter's bits of the control word; the epoch bit stays."""
        self._filter_word = word
        self._write_ctl()

    def _write_ctl(self, flip: bool = False) -> int:
        """Write the control word (after flipping the epoch, with flip); returns the epoch before."""
        assert self.filter_maps is not None
        with self._ctl_lock:
            before = self._epoch
            if flip:
                self._epoch ^= 1
            word = self._filter_word | (CTL_EPOCH if self._epoch else 0)
            self.table(self.filter_maps[0]).update(_U32.pack(0), _U32.pack(word))
        return before

    def flip_epoch(self) -> int:
        """Point the programs at the other half of their double-buffered maps (ebpftop_epoch() in
        bpf/ebpftop.h); returns the half they wrote, once no program still writes it.

        After the flip a program that read the old epoch may still be
        incrementing a value in the old half; programs run inside an RCU
        read-side section, so once a grace period has passed none is.
        """
        done = self._write_ctl(flip=True)
        libbpf.wait_for_programs()
        return done

    def _apply_filter(self) -> None:
        if self._bpf is None or self.filter_maps is None:
            return
        flt = self._pids
        pids_t = self.table(self.filter_maps[1])
        names_t = self.table("filter_names")
        # Off before editing, so no event ever sees a half-written set.
        self._write_filter_word(0)
        pids_t.clear()
        names_t.clear()
        cgroups_t = self.table("filter_cgroups") if self.cgroup_filter else None
        if cgroups_t is not None:
            cgroups_t.clear()
        if not flt:
            return
        cgroup_bit = 0
        if flt.cgroups:
            for cgroup in flt.cgroups:
                if cgroups_t is not None:
                    cgroups_t.update(struct.pack("<Q", cgroup), b"\1")
            cgroup_bit = FILTER_CGROUP
        if not flt.procs and not flt.names:
            # Only cgroups (or a probe that cannot check them: FILTER_ON with no PID keeps nothing).
            self._write_filter_word(cgroup_bit if cgroups_t is not None else FILTER_ON)
            return
        starts = dict(flt.procs) if self._has_start else {pid: 0 for pid, start in flt.procs if start != GONE}
        if flt.names:
            for name in flt.names:
                # struct filter_name: the comm, NUL-padded
                names_t.update(os.fsencode(name)[: COMM_LEN - 1].ljust(COMM_LEN, b"\0"), b"\1")
            # Joins first (the kernel adds whoever takes a name from here
            # on), then whoever has a name now, then filter: nothing that
            # has or takes a name meanwhile is missed.
            self._write_filter_word(FILTER_NAMES)
            starts.update(self._named_now(flt))
        for pid, start in starts.items():
            # struct filter_proc {start, seen}: seen stays 0 until the kernel checks start
            pids_t.update(_U32.pack(pid), struct.pack("<QQ", start, 0))
        self._write_filter_word(FILTER_ON | (FILTER_NAMES if flt.names else 0) | cgroup_bit)

    def _named_now(self, flt: PidFilter) -> dict[int, int]:
        """pid -> start of every process that has one of the filter's names now (/proc/PID/stat only)."""
        want = {os.fsencode(n)[: COMM_LEN - 1] for n in flt.names}
        out = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                stat = read_stat(int(entry.name))
                if stat is not None and stat[0] in want:
                    out[int(entry.name)] = stat[2] if self._has_start else 0
        return out

    def filter_cflags(self) -> list[str]:
        """-D for ebpftop.h's filter: capacity, and where a process's start is (BTF), or EBPFTOP_NO_START."""
        from ebpftop.pids import FILTER_CGROUP_DEPTH, FILTER_MAX_CGROUPS, FILTER_MAX_NAMES, FILTER_MAX_PIDS
        from ebpftop.probes.btf import task_start_cflags
        from ebpftop.probes.proctree import exit_has_group_dead

        flags = [
            f"-DEBPFTOP_COMM_LEN={COMM_LEN}",
            f"-DFILTER_ON={FILTER_ON}u",
            f"-DEBPFTOP_CTL_EPOCH={CTL_EPOCH}u",
            f"-DFILTER_NAMES={FILTER_NAMES}u",
            f"-DFILTER_MAX_PIDS={FILTER_MAX_PIDS}",
            f"-DFILTER_MAX_NAMES={FILTER_MAX_NAMES}",
            f"-DFILTER_CGROUP={FILTER_CGROUP}u",
            f"-DFILTER_MAX_CGROUPS={FILTER_MAX_CGROUPS}",
            f"-DFILTER_CGROUP_DEPTH={FILTER_CGROUP_DEPTH}",
        ]
        if not exit_has_group_dead():
            flags.append("-DEBPFTOP_NO_GROUP_DEAD")
        if os.environ.get("EBPFTOP_NO_CGROUP"):  # the bench's variant: cgroups not recorded (ids 0)
            flags.append("-DEBPFTOP_NO_CGROUP")
        offsets = task_start_cflags()
        self._has_start = offsets is not None
        if offsets is None:
            return [*flags, "-DEBPFTOP_NO_START"]
        tick_ns = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
        return [*flags, *offsets, f"-DEBPFTOP_TICK_NS={tick_ns}"]
