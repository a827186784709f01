"""Preflight checks, each failing with one line that says what is wrong and what to do."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from ebpftop.env import headers as kheaders

TRACEFS = Path("/sys/kernel/tracing")
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH, _CAP_NET_ADMIN, _CAP_SYS_ADMIN, _CAP_PERFMON, _CAP_BPF = 1, 2, 12, 21, 38, 39


class EnvError(Exception):
    """The environment cannot run ebpftop; str() is the one-line message (exit code 2)."""


def effective_caps() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return 0


def _tracefs_readable() -> bool:
    """Whether this process may read tracefs (0700, root's, by default) where it is mounted."""
    for path in (TRACEFS, Path("/sys/kernel/debug/tracing")):
        try:
            if (path / "events").is_dir():
                return True
        except PermissionError:
            return False
    return True  # not mounted: ensure_tracefs() says so on its own


def missing_capabilities(settings: object = None, caps: int | None = None) -> list[str]:
    """The capabilities ebpftop lacks for what it was asked to do (measured as non-root here:
    CAP_BPF + CAP_PERFMON load and attach, tracefs needs CAP_DAC_READ_SEARCH, XDP CAP_NET_ADMIN;
    CAP_SYS_ADMIN covers the first two, CAP_DAC_OVERRIDE the third)."""
    caps = effective_caps() if caps is None else caps
    has = lambda bit: bool(caps & (1 << bit))  # noqa: E731
    missing = []
    if not (has(_CAP_BPF) or has(_CAP_SYS_ADMIN)):
        missing.append("CAP_BPF")
    if not (has(_CAP_PERFMON) or has(_CAP_SYS_ADMIN)):
        missing.append("CAP_PERFMON")
    if not (has(_CAP_DAC_READ_SEARCH) or has(_CAP_DAC_OVERRIDE)) and not _tracefs_readable():
        missing.append("CAP_DAC_READ_SEARCH")
    if getattr(settings, "xdp_ifaces", None) and not has(_CAP_NET_ADMIN):
        missing.append("CAP_NET_ADMIN")
    return missing


def check_privileges(settings: object = None) -> None:
    missing = missing_capabilities(settings)
    if not missing:
        return
    what = " and ".join([", ".join(missing[:-1]), missing[-1]] if len(missing) > 1 else missing)
    noun = "capability" if len(missing) == 1 else "capabilities"
    xdp = " (and CAP_NET_ADMIN for --xdp)" if "CAP_NET_ADMIN" in missing else ""
    raise EnvError(f"missing {noun} {what}: run it with sudo, or grant CAP_BPF, CAP_PERFMON, CAP_DAC_READ_SEARCH{xdp}")


def check_bcc() -> None:
    if importlib.util.find_spec("bcc") is None:
        raise EnvError(
            f"bcc's Python bindings are not importable by {sys.executable}: "
            "run `sudo make setup` (installs python3-bpfcc) and start ebpftop from its venv or `sudo make install`"
        )


def check_headers() -> kheaders.Headers:
    found = kheaders.find()
    if found is None:
        raise EnvError(
            f"no kernel headers bcc can use for {os.uname().release}: "
            "run `sudo make setup` (installs linux-headers and builds a fallback it can use)"
        )
    kheaders.apply(found)
    return found


def tracefs_events() -> Path | None:
    for path in (TRACEFS, Path("/sys/kernel/debug/tracing")):
        if (path / "events").is_dir():
            return path
    return None


def ensure_tracefs() -> Path:
    found = tracefs_events()
    if found:
        return found
    try:
        subprocess.run(
            ["mount", "-t", "tracefs", "nodev", str(TRACEFS)], check=True, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError) as exc:
        why = getattr(exc, "stderr", None) or str(exc)
        raise EnvError(
            f"tracefs is not mounted and mounting it failed ({why.strip()}): "
            f"mount it with `mount -t tracefs nodev {TRACEFS}`"
        ) from None
    found = tracefs_events()
    if not found:
        raise EnvError(f"tracefs mounted at {TRACEFS} but has no events/: is CONFIG_FTRACE off?")
    return found


def check_bpf() -> None:
    from ebpftop.probes import libbpf

    if not libbpf.available():
        raise EnvError("libbpf.so.1 is missing: run `sudo make setup` (installs libbpf1)")
    if not libbpf.prog_type_supported(libbpf.BPF_PROG_TYPE_RAW_TRACEPOINT):
        raise EnvError(
            "the kernel refused to load a BPF program: check kernel.unprivileged_bpf_disabled, "
            "lockdown (/sys/kernel/security/lockdown) and that CONFIG_BPF_SYSCALL is on"
        )


def preflight(settings: object = None) -> kheaders.Headers:
    """Every check, cheapest first; raises EnvError on the first failure."""
    check_privileges(settings)
    check_bcc()
    found = check_headers()
    ensure_tracefs()
    check_bpf()
    return found
