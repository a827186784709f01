"""A container named by its whole id, as `docker ps --no-trunc`, `docker inspect` and Kubernetes'
containerID give it, is found like one named by a prefix (it was refused: only the 12 digits of the
shown name were compared)."""

from __future__ import annotations

from pathlib import Path

from ebpftop.cgroups import Cgroups, describe
from ebpftop.ui.replayapp import parse_recorded_filter

DOCKER = "3f2a9c1b7d0e11223344556677889900aabbccddeeff00112233445566778899"


def test_the_whole_container_id_finds_its_group(tmp_path: Path) -> None:
    scope = tmp_path / "system.slice" / f"docker-{DOCKER}.scope"
    scope.mkdir(parents=True)
    (tmp_path / "system.slice" / "other.service").mkdir()
    groups = Cgroups(mount=str(tmp_path))
    for spec in (f"docker:{DOCKER}", f"docker:{DOCKER[:20]}", f"docker:{DOCKER[:12]}", "docker:3f2a"):
        found = groups.find(spec)
        assert [cg.path for cg in found] == [f"/system.slice/docker-{DOCKER}.scope"], spec
    assert groups.find(f"docker:{DOCKER[:20]}ff") == []  # a longer id that differs past the 12th digit
    assert groups.find(f"podman:{DOCKER}") == []  # another runtime


def test_a_replay_filter_takes_the_whole_container_id() -> None:
    cg = describe(994, f"/nu.slice/docker-{DOCKER}.scope")
    flt = parse_recorded_filter(f"docker:{DOCKER}", {994: cg})
    assert flt.cgroups == frozenset({994})
