"""cgroup ids, as the kernel saw them at the event, to paths and readable names.

The probes record the cgroup v2 id of a task (``bpf_get_current_cgroup_id()``,
or ``task->cgroups->dfl_cgrp->kn->id`` for a new task). On the v2 hierarchy a
cgroup directory's inode number is that id, so the id's path is found by
walking the mounted hierarchy, and a name is read off the path: the systemd
unit (``nginx.service``), the container (docker, containerd, CRI-O, podman,
Kubernetes pods, ids shortened to 12 hex digits, runtime named), else the
path itself. Ids are never reused within a boot, so a path found later
belongs to the cgroup the kernel counted in; a cgroup removed before it was
looked up is said to be gone, never guessed.

Hosts without a mounted v2 hierarchy (cgroup v1 only) give every task the v2
root's id: the resolver says so (``Cgroups.mode``) rather than name it.
Hybrid hosts (v2 at ``/sys/fs/cgroup/unified``) name what v2 knows.

Nothing here blocks for long: cgroupfs is in the kernel, read with readdir
only (no stat of anything a user could mount a FUSE file system over).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

ROOT_ID = 1  # the v2 root cgroup's id (its directory's inode number)
_HEX = re.compile(r"[0-9a-f]{12,}")
# Runtime scope/directory names, most specific first: (pattern, runtime).
_CONTAINERS = (
    (re.compile(r"^docker-([0-9a-f]{12,})\.scope$"), "docker"),
    (re.compile(r"^cri-containerd-([0-9a-f]{12,})\.scope$"), "containerd"),
    (re.compile(r"^crio-(?:conmon-)?([0-9a-f]{12,})\.scope$"), "cri-o"),
    (re.compile(r"^libpod-(?:conmon-)?([0-9a-f]{12,})(?:\.scope)?$"), "podman"),
    (re.compile(r"^([0-9a-f]{64})$"), None),  # cgroupfs drivers: /docker/<id>, /kubepods/.../<id>
)
_RUNTIME_DIRS = {"docker": "docker", "containerd": "containerd", "libpod_parent": "podman", "lxc": "lxc"}
_POD = re.compile(r"^(?:kubepods-(?:besteffort-|burstable-)?)?pod([0-9a-f_-]{8,})(?:\.slice)?$")
_UNIT = re.compile(r"^[^/]+\.(service|scope|socket|mount|swap|target|timer)$")
_SLICE = re.compile(r"^[^/]+\.slice$")


@dataclass(frozen=True, slots=True)
class Cgroup:
    """What is known of one cgroup id."""

    id: int
    path: str | None  # from the v2 root, "/" for the root; None when unknown
    name: str  # the readable name: a unit, a container, a pod, the path, or why unknown
    kind: str  # "root", "unit", "slice", "container", "pod", "path", "unknown"
    runtime: str | None = None  # the container runtime, where the path names one

    def to_json(self) -> dict[str, object]:
        return {"path": self.path, "name": self.name, "kind": self.kind, "runtime": self.runtime}


def describe(cgroup_id: int, path: str) -> Cgroup:
    """The readable name of a v2 path: the deepest container, pod or unit in it, else the path."""
    if path in ("", "/"):
        return Cgroup(cgroup_id, "/", "/", "root")
    parts = [p for p in path.split("/") if p]
    for i in range(len(parts) - 1, -1, -1):
        part = parts[i]
        for pattern, runtime in _CONTAINERS:
            m = pattern.match(part)
            if m:
                rt = runtime or _runtime_of(parts[:i])
                pod_of = _pod_of(parts[:i])
                cid = m.group(1)[:12]
                name = f"{rt or 'container'}:{cid}" if pod_of is None else f"pod {pod_of}/{rt or 'container'}:{cid}"
                return Cgroup(cgroup_id, path, name, "container", rt or ("kubernetes" if pod_of else None))
        if m := _POD.match(part):
            return Cgroup(cgroup_id, path, f"pod {m.group(1).replace('_', '-')[:8]}", "pod", "kubernetes")
        if _UNIT.match(part):
            return Cgroup(cgroup_id, path, part, "unit")
    if _SLICE.match(parts[-1]):
        return Cgroup(cgroup_id, path, parts[-1], "slice")
    return Cgroup(cgroup_id, path, path, "path")


def _runtime_of(parents: list[str]) -> str | None:
    for part in reversed(parents):
        if part in _RUNTIME_DIRS:
            return _RUNTIME_DIRS[part]
        if part.startswith("kubepods"):
            return "kubernetes"
    return None


def _pod_of(parents: list[str]) -> str | None:
    for part in reversed(parents):
        if m := _POD.match(part):
            return m.group(1).replace("_", "-")[:8]
    return None


def v2_mount(mountinfo: str = "/proc/self/mountinfo") -> str | None:
    """Where the cgroup v2 hierarchy is mounted in our mount namespace (the first one), if anywhere."""
    try:
        with open(mountinfo, encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        left, _, right = line.partition(" - ")
        if right.split(" ", 1)[0] == "cgroup2":
            point = left.split(" ")[4]
            return _unescape(point)
    return None


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as \\ooo."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


class Cgroups:
    """Resolves cgroup ids to Cgroup, caching what it found (ids are not reused within a boot).

    ``mode`` says what this host lets us know: "v2" (a mounted v2 hierarchy, all of it named),
    "hybrid" (v2 mounted beside v1 controllers: named, though v1-only runtimes put nothing in
    v2), or "v1" (no v2 mount: every id is the v2 root's and means nothing).
    """

    RESCAN_EVERY = 1.0  # seconds: at most one walk of the hierarchy per second for unknown ids
    MAX_CACHED = 65536

    def __init__(self, mount: str | bool | None = True) -> None:
        self.mount = v2_mount() if mount is True else (mount or None)
        self.mode = "v1" if self.mount is None else ("hybrid" if _has_v1() else "v2")
        self._known: dict[int, Cgroup] = {}
        self._paths: dict[int, str] = {}
        self._scanned = 0.0
        self._absent: set[int] = set()  # ids the last walk did not find

    def resolve(self, ids: Iterable[int]) -> dict[int, Cgroup]:
        """Each id's Cgroup. An id not found is looked for again in a fresh walk (at once if it is new
        since the last walk, else at most once per RESCAN_EVERY); until found it is said gone."""
        wanted = {i for i in ids if i}
        missing = {i for i in wanted if i not in self._known}
        if (
            missing
            and self.mount is not None
            and (missing - self._absent or time.monotonic() - self._scanned >= self.RESCAN_EVERY)
        ):
            self._scan()
            for cid in missing:
                if (path := self._paths.get(cid)) is not None:
                    self._remember(describe(cid, path))
            self._absent = {cid for cid in missing if cid not in self._known}
        return {cid: self._known.get(cid) or self._unknown(cid) for cid in wanted}

    def _unknown(self, cid: int) -> Cgroup:
        if self.mount is None:
            return Cgroup(cid, None, "unknown (no cgroup v2 mounted)", "unknown")
        if cid == ROOT_ID:
            return Cgroup(cid, "/", "/", "root")
        return Cgroup(cid, None, f"cgroup {cid} (gone)", "unknown")

    def paths(self) -> dict[int, str]:
        """id -> path of every cgroup in the last walk."""
        return self._paths

    def find(self, spec: str) -> list[Cgroup]:
        """Cgroups a user named: a path from the v2 root ("/system.slice/nginx.service"), a unit, a
        container or pod id prefix ("docker:3f2a", "3f2a9c1b7d0e"), or a readable name as shown."""
        if self.mount is None:
            return []
        self._scan()
        found = []
        spec_path = "/" + spec.strip("/") if spec.startswith("/") else None
        if spec.startswith("pod:"):
            spec = "pod " + spec.removeprefix("pod:")
        for cid, path in self._paths.items():
            cg = self._known.get(cid) or describe(cid, path)
            if spec_path is not None:
                if path == spec_path:
                    found.append(cg)
            elif spec in (cg.name, path.rsplit("/", 1)[-1]) or _id_matches(spec, cg):
                found.append(cg)
        # A name that names a parent and its children (pod and containers): the parents suffice,
        # since a filter keeps descendants.
        paths = sorted(found, key=lambda c: len(c.path or ""))
        keep: list[Cgroup] = []
        for cg in paths:
            if not any((cg.path or "").startswith((k.path or "").rstrip("/") + "/") for k in keep):
                keep.append(cg)
        return keep

    def _scan(self) -> None:
        """Walk the v2 hierarchy: directory inode -> path (readdir's d_ino is the cgroup id)."""
        assert self.mount is not None
        paths: dict[int, str] = {}
        try:
            root_ino = os.stat(self.mount).st_ino
        except OSError:
            root_ino = ROOT_ID
        paths[root_ino] = "/"
        stack = [(self.mount, "")]
        while stack and len(paths) < self.MAX_CACHED:
            top, rel = stack.pop()
            try:
                with os.scandir(top) as it:
                    for entry in it:
                        if entry.is_dir(follow_symlinks=False):
                            sub = f"{rel}/{entry.name}"
                            paths[entry.inode()] = sub
                            stack.append((entry.path, sub))
            except OSError:
                continue  # removed while we walked it
        self._paths = paths
        self._scanned = time.monotonic()

    def _remember(self, cg: Cgroup) -> None:
        if len(self._known) >= self.MAX_CACHED:
            self._known.clear()
        self._known[cg.id] = cg


def container_id(cg: Cgroup) -> str:
    """A container's whole id as its path holds it (64 hex digits for docker and containerd); the
    shortened one of its name if the path has no longer one."""
    _, _, short = cg.name.rpartition(":")
    for m in _HEX.finditer(cg.path or ""):
        if m.group().startswith(short):
            return m.group()
    return short


def _id_matches(spec: str, cg: Cgroup) -> bool:
    """docker:3f2a.. or a bare hex prefix of at least 4 digits, up to the whole id (as `docker ps
    --no-trunc` and Kubernetes give it), matches a container's id."""
    if cg.kind != "container":
        return False
    rt, _, want = spec.rpartition(":")
    if rt and rt != (cg.runtime or ""):
        return False
    return len(want) >= 4 and bool(_HEX.fullmatch(want.ljust(12, "0"))) and container_id(cg).startswith(want)


def _has_v1() -> bool:
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            return any(line.partition(" - ")[2].startswith("cgroup ") for line in f)
    except OSError:
        return False
