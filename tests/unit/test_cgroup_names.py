"""cgroup paths to readable names, and cgroup items in a filter."""

from __future__ import annotations

import pytest

from ebpftop.cgroups import _unescape, describe
from ebpftop.pids import PidFilter, combine, is_cgroup_spec

DOCKER = "3f2a9c1b7d0e11223344556677889900aabbccddeeff00112233445566778899"


@pytest.mark.parametrize(
    ("path", "name", "kind", "runtime"),
    [
        ("/", "/", "root", None),
        ("/system.slice/nginx.service", "nginx.service", "unit", None),
        ("/system.slice/nginx.service/worker", "nginx.service", "unit", None),
        ("/user.slice/user-1000.slice/session-3.scope", "session-3.scope", "unit", None),
        ("/system.slice", "system.slice", "slice", None),
        (f"/system.slice/docker-{DOCKER}.scope", "docker:3f2a9c1b7d0e", "container", "docker"),
        (f"/docker/{DOCKER}", "docker:3f2a9c1b7d0e", "container", "docker"),
        (f"/machine.slice/libpod-{DOCKER}.scope", "podman:3f2a9c1b7d0e", "container", "podman"),
        (f"/machine.slice/libpod-conmon-{DOCKER}.scope", "podman:3f2a9c1b7d0e", "container", "podman"),
        (
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234abcd_5678_90ef.slice"
            f"/cri-containerd-{DOCKER}.scope",
            "pod 1234abcd/containerd:3f2a9c1b7d0e",
            "container",
            "containerd",
        ),
        (
            f"/kubepods/burstable/pod1234abcd-5678/{DOCKER}",
            "pod 1234abcd/kubernetes:3f2a9c1b7d0e",
            "container",
            "kubernetes",
        ),
        (
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod99aabbcc_1122_3344_5566_778899aabbcc.slice",
            "pod 99aabbcc",
            "pod",
            "kubernetes",
        ),
        ("/my/own/group", "/my/own/group", "path", None),
        # Bytes a local user chose stay the path's own (sanitized where shown, exact in JSON).
        ("/evil\x1b[2J.slice/x", "/evil\x1b[2J.slice/x", "path", None),
    ],
)
def test_describe(path: str, name: str, kind: str, runtime: str | None) -> None:
    cg = describe(42, path)
    assert (cg.name, cg.kind, cg.runtime, cg.path) == (name, kind, runtime, path)


def test_mountinfo_escapes() -> None:
    assert _unescape(r"/sys/fs/cgroup/with\040space") == "/sys/fs/cgroup/with space"


@pytest.mark.parametrize(
    ("item", "cgroup"),
    [
        ("/system.slice", True),
        ("nginx.service", True),
        ("session-3.scope", True),
        ("user.slice", True),
        ("docker:3f2a", True),
        ("pod:1234abcd", True),
        ("cgroup:anything", True),
        ("nginx", False),
        ("1234", False),
        ("python3.11", False),
    ],
)
def test_which_items_are_cgroups(item: str, cgroup: bool) -> None:
    assert is_cgroup_spec(item) is cgroup


def test_a_cgroup_filter_keeps_named_groups_those_below_and_newer_ones() -> None:
    flt = PidFilter(frozenset(), cgroups=frozenset({50}), cgroups_below=frozenset({51, 60}), cgroup_horizon=70)
    assert flt.keeps_cgroup(50) and flt.keeps_cgroup(51) and flt.keeps_cgroup(60)
    assert not flt.keeps_cgroup(1) and not flt.keeps_cgroup(55)
    # Made after the filter: only the kernel, which checked its ancestors, could have counted it.
    assert flt.keeps_cgroup(71)
    assert flt.keeps(999, None, "x", 51) and not flt.keeps(999, None, "x", 1)
    assert 999 in flt  # data without a start may belong to it


def test_pid_and_cgroup_filters_combine_as_alternatives() -> None:
    by_pid = PidFilter(frozenset({(7, 100)}))
    by_cgroup = PidFilter(
        frozenset(), cgroups=frozenset({50}), cgroup_specs=frozenset({"a.service"}), cgroup_horizon=70
    )
    both = combine(by_pid, by_cgroup)
    assert both is not None
    assert both.keeps(7, 100) and both.keeps(8, None, None, 50) and not both.keeps(8, None, None, 1)
    assert both.describe() == "a.service, 7" and both.text() == "a.service,7"
    assert both.to_json() == {"names": [], "pids": [7], "cgroups": ["a.service"]}
    assert both != by_pid and combine(None, by_pid) is by_pid


def test_a_replay_filter_names_cgroups_from_the_recording_not_this_machine() -> None:
    from ebpftop.ui.replayapp import parse_recorded_filter

    names = {
        40: describe(40, "/system.slice/nginx.service"),
        41: describe(41, "/system.slice/nginx.service/worker"),
        50: describe(50, f"/system.slice/docker-{DOCKER}.scope"),
        60: describe(60, "/user.slice"),
    }
    flt = parse_recorded_filter("nginx.service", names)
    assert flt.keeps(1, None, None, 40) and flt.keeps(1, None, None, 41)
    assert not flt.keeps(1, None, None, 50) and not flt.keeps(1, None, None, 999)  # no newer groups in a replay
    assert parse_recorded_filter("docker:3f2a", names).keeps(1, None, None, 50)
    assert parse_recorded_filter("/system.slice/nginx.service", names).cgroups == {40}
    with pytest.raises(ValueError, match="no cgroup"):
        parse_recorded_filter("redis.service", names)


def test_decoded_frames_keep_their_cgroups_and_old_recordings_have_none() -> None:
    from ebpftop.model.decode import cgroups_from_json

    named = {"40": {"path": "/a.service", "name": "a.service", "kind": "unit", "runtime": None}}
    assert cgroups_from_json(named)[40] == describe(40, "/a.service")
    assert cgroups_from_json(None) == {}
    for bad in ({"x": named["40"]}, {"40": {"path": 3, "name": "a", "kind": "unit", "runtime": None}}, []):
        with pytest.raises(ValueError):
            cgroups_from_json(bad)
