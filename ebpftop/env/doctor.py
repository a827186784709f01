"""--doctor: a capability matrix of this machine and which probes can run, like `bpftrace --info`."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from ebpftop.env import checks
from ebpftop.env import headers as kheaders
from ebpftop.env.streams import exit_now


def on_signal(signum: int, _frame: object) -> None:
    """INT/TERM/HUP end the doctor at once, even mid-check or mid-write to a stdout nobody reads.

    It holds nothing the kernel would keep (a test program's fd at most), so
    leaving is enough; the note goes out only if stderr takes it right away.
    """
    import signal

    exit_now(f"doctor interrupted by {signal.Signals(signum).name}", 1)


def _line(out: TextIO, name: str, ok: bool | None, detail: str) -> None:
    mark = {True: "yes", False: "no", None: "?"}[ok]
    print(f"  {name:<18} {mark:<4} {detail}", file=out)


def _try(fn: Callable[[], object]) -> tuple[bool, str]:
    try:
        fn()
        return True, ""
    except checks.EnvError as exc:
        return False, str(exc)


def run(out: TextIO = sys.stdout) -> int:
    from ebpftop.probes import libbpf

    print(f"ebpftop doctor: {platform.node()}", file=out)
    print("system", file=out)
    _line(out, "kernel", True, f"{os.uname().release} {os.uname().machine}")
    root_ok, root_why = _try(checks.check_privileges)
    _line(out, "privileges", root_ok, "root" if os.geteuid() == 0 else root_why or "capabilities")
    bcc_ok, bcc_why = _try(checks.check_bcc)
    _line(out, "bcc", bcc_ok, sys.executable if bcc_ok else bcc_why)
    btf = Path("/sys/kernel/btf/vmlinux")
    _line(out, "BTF", btf.exists(), str(btf) if btf.exists() else "no /sys/kernel/btf/vmlinux")
    found = kheaders.find()
    _line(out, "headers", found is not None, found.detail if found else "none: run `sudo make setup`")
    tracefs = checks.tracefs_events()
    if tracefs is None and root_ok:
        try:
            tracefs = checks.ensure_tracefs()
        except checks.EnvError:
            tracefs = None
    _line(out, "tracefs", tracefs is not None, str(tracefs) if tracefs else "not mounted")
    from ebpftop.cgroups import Cgroups

    cg = Cgroups()
    cg_detail = {
        "v2": f"v2 at {cg.mount}: every group named",
        "hybrid": f"v2 at {cg.mount} beside v1 controllers: v2 groups named; a runtime that uses only v1 "
        "puts its containers in the v2 root",
        "v1": "no cgroup v2 mounted: CGROUP shows unknown and --cgroup is refused",
    }[cg.mode]
    _line(out, "cgroups", cg.mode != "v1", cg_detail)

    print("kernel features", file=out)
    lib_ok = libbpf.available()
    if not (lib_ok and root_ok):
        _line(out, "libbpf", lib_ok, "libbpf.so.1" if lib_ok else "libbpf.so.1 missing")
        print("  (run as root to probe BPF features)", file=out)
        return 0 if lib_ok else 1

    def prog(t: int) -> bool:
        return libbpf.prog_type_supported(t)

    has_tp = tracefs is not None and (tracefs / "events" / "syscalls").is_dir()
    _line(out, "tracepoints", has_tp and prog(libbpf.BPF_PROG_TYPE_TRACEPOINT), "syscalls:*, sched:*, task:*")
    _line(out, "raw tracepoints", prog(libbpf.BPF_PROG_TYPE_RAW_TRACEPOINT), "sys_enter, sys_exit")
    kprobe_pmu = Path("/sys/bus/event_source/devices/kprobe").exists()
    kprobe_events = tracefs is not None and (tracefs / "kprobe_events").exists()
    kp = kprobe_pmu or kprobe_events
    _line(out, "kprobes", kp, "" if kp else "no kprobe PMU or kprobe_events (CONFIG_KPROBES off)")
    fentry = prog(libbpf.BPF_PROG_TYPE_TRACING)
    _line(out, "fentry/fexit", fentry, "" if fentry else "the kernel refuses BPF_PROG_TYPE_TRACING")
    _line(out, "XDP", prog(libbpf.BPF_PROG_TYPE_XDP), "generic (skb) mode by default")
    _line(out, "ring buffer", libbpf.map_type_supported(libbpf.BPF_MAP_TYPE_RINGBUF), "BPF_MAP_TYPE_RINGBUF")
    _line(out, "LRU hash", libbpf.map_type_supported(libbpf.BPF_MAP_TYPE_LRU_HASH), "BPF_MAP_TYPE_LRU_HASH")
    _line(out, "batch map ops", libbpf.batch_ops_supported(), "BPF_MAP_LOOKUP_AND_DELETE_BATCH")
    try:
        fd = libbpf.enable_stats()
        os.close(fd)
        _line(out, "BPF stats", True, "BPF_ENABLE_STATS (on only while ebpftop runs)")
    except OSError as exc:
        _line(out, "BPF stats", False, str(exc))

    print("probes", file=out)
    from ebpftop.registry import SPECS

    runnable = 0
    for spec in SPECS:
        if not (bcc_ok and found):
            _line(out, spec.name, False, "needs bcc and kernel headers (see above)")
            continue
        try:
            reason = spec.make_probe().available()
        except Exception as exc:  # noqa: BLE001 - the doctor reports, never crashes
            reason = str(exc)
        runnable += reason is None
        _line(out, spec.name, reason is None, reason or f"can run (key {spec.key})")
    print(f"{runnable} of {len(SPECS)} probes can run", file=out)
    return 0
