"""Which kernel headers bcc will compile against, and the fallback `make setup` builds."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Built by scripts/setup.sh when the running kernel has no headers of its own:
# the distro's linux-headers common and arch trees merged into one. Headers of
# another kernel version are safe for ebpftop's programs only because they use
# tracepoint arguments and helpers, never kernel struct layouts.
FALLBACK_DIR = Path("/usr/local/share/ebpftop/kernel-headers")
_ENV = "BCC_KERNEL_SOURCE"


@dataclass(frozen=True, slots=True)
class Headers:
    """The header source bcc will use; ``path`` None means bcc finds it by itself."""

    kind: str  # "env" | "running" | "kheaders" | "fallback"
    path: Path | None
    detail: str


def find(release: str | None = None, fallback: Path = FALLBACK_DIR) -> Headers | None:
    """The best headers for this kernel, in bcc's own order, then the fallback; None if there are none."""
    release = release or os.uname().release
    env = os.environ.get(_ENV)
    if env and Path(env, "include").is_dir():
        return Headers("env", Path(env), f"{_ENV}={env}")
    build = Path("/lib/modules", release, "build")
    if (build / "include").is_dir():
        return Headers("running", None, f"running kernel's headers ({build})")
    if Path("/sys/kernel/kheaders.tar.xz").exists():
        return Headers("kheaders", None, "running kernel's built-in headers (/sys/kernel/kheaders.tar.xz)")
    if (fallback / "include").is_dir():
        version = (fallback / ".version").read_text().strip() if (fallback / ".version").exists() else "unknown"
        return Headers("fallback", fallback, f"fallback: headers of {version} at {fallback} (no headers for {release})")
    return None


def apply(headers: Headers) -> None:
    """Point bcc at the chosen headers (only the fallback needs telling)."""
    if headers.kind == "fallback" and headers.path is not None:
        os.environ[_ENV] = str(headers.path)
