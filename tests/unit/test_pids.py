"""The one parser of typed PIDs and names, against a /proc of our own making: identity, limits, one-line reasons."""

from __future__ import annotations

from pathlib import Path

import pytest

from ebpftop import pids as pids_mod
from ebpftop.pids import GONE, PidFilter, of_pids, parse_pid, parse_pids


def fake_proc(root: Path, procs: dict[int, tuple[bytes, int, int]]) -> str:
    """procs: pid -> (comm, tgid, start ticks), as /proc/PID/stat and /proc/PID/status say."""
    for pid, (comm, tgid, start) in procs.items():
        d = root / str(pid)
        d.mkdir()
        rest = " ".join(["S", "1"] + ["0"] * 17 + [str(start), "0"])
        (d / "stat").write_bytes(b"%d (%s) %s\n" % (pid, comm, rest.encode()))
        (d / "status").write_bytes(b"Name:\t%s\nTgid:\t%d\nPid:\t%d\n" % (comm, tgid, pid))
    return str(root)


def test_a_typed_pid_is_that_process_with_its_start(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, {10: (b"a b) c", 10, 777), 11: (b"worker", 10, 778)})
    flt = parse_pids("10", proc=proc)
    assert flt.procs == frozenset({(10, 777)})
    assert flt.keeps(10, 777) and not flt.keeps(10, 900)  # same PID, later process: not it
    with pytest.raises(ValueError, match=r"^no process with PID 11$"):  # a thread ID
        parse_pids("11", proc=proc)


def test_names_are_live_and_shown_as_names(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, {20: (b"nginx", 20, 5), 21: (b"nginx", 21, 6), 30: (b"sh", 30, 7)})
    flt = parse_pids("nginx,30", proc=proc)
    assert flt.procs == frozenset({(20, 5), (21, 6), (30, 7)})
    assert flt.describe() == "nginx, 30" and flt.text() == "nginx,30"
    assert flt.keeps(99, 1, "nginx") and not flt.keeps(99, 1, "bash")
    assert 99 in flt  # data without a start: the kernel may have let it join by name


def test_past_the_limit_is_refused_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proc = fake_proc(tmp_path, {p: (b"many", p, p) for p in range(100, 105)})
    monkeypatch.setattr(pids_mod, "FILTER_MAX_PIDS", 4)
    with pytest.raises(ValueError, match=r"^5 processes match; a filter holds at most 4$"):
        parse_pids("many", proc=proc)


@pytest.mark.parametrize(
    "typed", ["\uff11", "\u0663", "\u00b2", "1\u0660", "0", "32768", "32769", "2147483648", "9" * 40]
)
def test_only_ascii_pids_in_range(typed: str) -> None:
    with pytest.raises(ValueError):
        parse_pid(typed, limit=32768)
    # pid_max is one past the largest PID the kernel gives
    assert parse_pid("32767", limit=32768) == 32767


def test_a_gone_pid_matches_nothing(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, {40: (b"x", 40, 9)})
    flt = of_pids(frozenset({40, 41}), proc=proc)
    assert isinstance(flt, PidFilter) and flt.procs == frozenset({(40, 9), (41, GONE)})
    assert flt == frozenset({40, 41})  # a filter of processes equals the set of their PIDs
