"""Process tree model: seed, events, reused PIDs, linger, orphans, subtree rates, filter and JSON shape."""

from __future__ import annotations

import json
import subprocess
import sys

from ebpftop.model.proctree import (
    EXEC,
    EXIT,
    EXITED,
    FORK,
    GONE,
    LIVE,
    NEW,
    RENAME,
    ProcEvent,
    ProcSample,
    ProcSeed,
    ProcTree,
    ProcTreeModel,
    decode_status,
    signal_name,
)
from ebpftop.pids import PidFilter

T0 = 1_700_000_000.0
SEED = (
    ProcSeed(1, 0, "systemd", ("/sbin/init",), T0 - 1000),
    ProcSeed(100, 1, "sshd", ("sshd", "-D"), T0 - 900),
    ProcSeed(200, 100, "bash", ("-bash",), T0 - 500),
)


def first(model: ProcTreeModel, events: tuple[ProcEvent, ...] = (), now: float = T0, lost_total: int = 0) -> ProcTree:
    return model.update(ProcSample(events, lost_total, now, seed=SEED, scan_time=T0 - 0.01), 1.0)


def step(
    model: ProcTreeModel,
    events: tuple[ProcEvent, ...],
    now: float,
    lost_total: int = 0,
    elapsed: float = 1.0,
    pids: PidFilter | None = None,
) -> ProcTree:
    return model.update(ProcSample(events, lost_total, now), elapsed, pids)


def fork(pid: int, ppid: int, t: float, comm: str = "bash") -> ProcEvent:
    return ProcEvent(FORK, pid, ppid, comm, t)


def exe(pid: int, ppid: int, t: float, argv: tuple[str, ...], comm: str | None = None) -> ProcEvent:
    return ProcEvent(EXEC, pid, ppid, comm or argv[0].rsplit("/", 1)[-1], t, filename=argv[0], argv=argv)


def exit_(pid: int, ppid: int, t: float, code: int | None = 0, sig: str | None = None) -> ProcEvent:
    return ProcEvent(EXIT, pid, ppid, "x", t, exit_code=code, signal=sig)


def test_decode_status_exit_code_or_signal() -> None:
    assert decode_status(0) == (0, None, False)
    assert decode_status(7 << 8) == (7, None, False)
    assert decode_status(3 << 8) == (3, None, False)
    assert decode_status(9) == (None, "KILL", False)
    assert decode_status(0x80 | 6) == (None, "ABRT", True)
    assert signal_name(15) == "TERM"
    assert signal_name(35) == "RTMIN+1"
    assert signal_name(200) == "200"


def test_seed_builds_the_tree() -> None:
    tree = first(ProcTreeModel())
    assert [r.pid for r in tree.roots] == [1]
    assert [c.pid for c in tree.roots[0].children] == [100]
    assert tree.roots[0].children[0].children[0].argv == ("-bash",)
    assert tree.live == 3 and tree.exited == 0
    assert tree.roots[0].state == LIVE  # seeded processes are not flashed as new


def test_fork_exec_exit_lifecycle() -> None:
    m = ProcTreeModel(linger=5.0, flash=2.0)
    first(m)
    tree = step(m, (fork(300, 200, T0 + 0.1), exe(300, 200, T0 + 0.2, ("/bin/ls", "-l"))), T0 + 1)
    ls = tree.find(300)
    assert ls is not None and ls.state == NEW and ls.argv == ("/bin/ls", "-l") and ls.comm == "ls"
    assert ls.filename == "/bin/ls"
    assert abs(ls.age - 0.9) < 1e-6
    tree = step(m, (exit_(300, 200, T0 + 1.5, code=2),), T0 + 2)
    ls = tree.find(300)
    assert ls is not None and ls.state == EXITED and ls.exit_code == 2 and ls.signal is None
    assert abs(ls.age - 1.4) < 1e-6  # lifetime, not time since start
    tree = step(m, (), T0 + 4.0)
    assert tree.find(300).state == GONE  # type: ignore[union-attr]
    tree = step(m, (), T0 + 6.6)  # 5.1 s after its exit
    assert tree.find(300) is None
    assert tree.live == 3


def test_forked_child_shows_parent_argv_until_it_execs() -> None:
    m = ProcTreeModel()
    first(m)
    tree = step(m, (fork(300, 200, T0 + 0.1),), T0 + 1)
    assert tree.find(300).argv == ("-bash",)  # type: ignore[union-attr]


def test_reused_pid_is_a_new_node() -> None:
    m = ProcTreeModel(linger=10.0)
    first(m)
    events = (
        fork(300, 200, T0 + 0.1),
        exe(300, 200, T0 + 0.2, ("/bin/true",)),
        exit_(300, 200, T0 + 0.3),
        fork(300, 200, T0 + 0.4),
        exe(300, 200, T0 + 0.5, ("/bin/false",)),
    )
    tree = step(m, events, T0 + 1)
    nodes = [v for v in tree.walk() if v.pid == 300]
    assert len(nodes) == 2
    assert {v.key for v in nodes} == {(300, T0 + 0.1), (300, T0 + 0.4)}
    assert tree.find(300).argv == ("/bin/false",)  # type: ignore[union-attr]
    assert [v.exited for v in sorted(nodes, key=lambda v: v.start)] == [True, False]


def test_fork_of_a_live_pid_means_its_exit_was_lost() -> None:
    m = ProcTreeModel(linger=10.0)
    first(m)
    step(m, (fork(300, 200, T0 + 0.1),), T0 + 1)
    tree = step(m, (fork(300, 100, T0 + 1.5),), T0 + 2)
    nodes = sorted((v for v in tree.walk() if v.pid == 300), key=lambda v: v.start)
    assert [v.exited for v in nodes] == [True, False]
    assert nodes[0].exit_code is None and nodes[0].signal is None


def test_fork_seen_before_the_scan_does_not_duplicate_seeded_process() -> None:
    seed = (*SEED, ProcSeed(300, 200, "sleep", ("sleep", "9"), T0 - 0.5))
    m = ProcTreeModel()
    ev = (fork(300, 200, T0 - 0.02), exe(300, 200, T0 - 0.015, ("sleep", "9")))
    tree = m.update(ProcSample(ev, 0, T0, seed=seed, scan_time=T0 - 0.01), 1.0)
    assert sum(1 for v in tree.walk() if v.pid == 300) == 1
    assert tree.live == 4


def test_exit_of_unknown_process_is_only_in_json() -> None:
    m = ProcTreeModel()
    first(m)
    tree = step(m, (exit_(999, 1, T0 + 0.1, code=1),), T0 + 1)
    assert tree.find(999) is None
    assert tree.to_json()["events"][0]["pid"] == 999


def test_orphans_go_to_init_then_to_the_reaper_the_kernel_names() -> None:
    m = ProcTreeModel(linger=10.0)
    first(m)
    step(m, (fork(300, 200, T0 + 0.1), fork(301, 300, T0 + 0.2)), T0 + 1)
    tree = step(m, (exit_(300, 200, T0 + 1.1),), T0 + 2)
    orphan = tree.find(301)
    assert orphan is not None and orphan.ppid == 1
    assert 301 in {c.pid for c in tree.roots[0].children}
    # Its exec says the kernel gave it to sshd (a subreaper): believe that.
    tree = step(m, (exe(301, 100, T0 + 2.1, ("/bin/sleep", "1")),), T0 + 3)
    sshd = tree.find(100)
    assert sshd is not None and 301 in {c.pid for c in sshd.children}


def test_removed_parent_keeps_lingering_children_visible() -> None:
    m = ProcTreeModel(linger=2.0)
    first(m)
    step(m, (fork(300, 200, T0 + 0.1), fork(301, 300, T0 + 0.2)), T0 + 0.5)
    step(m, (exit_(300, 200, T0 + 0.6), exit_(301, 1, T0 + 1.9)), T0 + 2.0)
    tree = step(m, (), T0 + 3.0)  # 300 expired (2.4 s), 301 not yet (1.1 s)
    assert tree.find(300) is None
    assert tree.find(301) is not None


def test_subtree_rates_count_descendants() -> None:
    m = ProcTreeModel()
    first(m)
    events = (
        fork(300, 200, T0 + 0.1),
        exe(300, 200, T0 + 0.2, ("/bin/sh", "-c", "x")),
        fork(301, 300, T0 + 0.3),
        exe(301, 300, T0 + 0.4, ("/bin/true",)),
        fork(302, 300, T0 + 0.5),
    )
    tree = step(m, events, T0 + 1, elapsed=2.0)
    bash, sh, init = tree.find(200), tree.find(300), tree.find(1)
    assert bash and sh and init
    assert sh.forks_per_s == 1.0  # 2 forks by sh over 2 s
    assert sh.execs_per_s == 1.0  # its own exec and its child's
    assert bash.forks_per_s == 1.5  # 3 forks in its subtree
    assert init.execs_per_s == 1.0
    assert tree.forks_per_s == 1.5 and tree.execs_per_s == 1.0
    # Next interval: nothing happened, rates drop to zero; a zero period gives zero.
    tree = step(m, (), T0 + 2, elapsed=0.0)
    assert tree.find(200).forks_per_s == 0.0  # type: ignore[union-attr]
    assert tree.forks_per_s == 0.0


def test_lost_is_per_interval_and_total_is_kept() -> None:
    m = ProcTreeModel()
    tree = first(m, lost_total=0)
    assert tree.to_json() == {"events": [], "lost": 0, "lost_total": 0}
    tree = step(m, (), T0 + 1, lost_total=5)
    assert (tree.lost_interval, tree.lost_total) == (5, 5)
    tree = step(m, (), T0 + 2, lost_total=7)
    assert (tree.lost_interval, tree.lost_total) == (2, 7)
    # Re-enabled probe: its counter starts again from zero with a new seed.
    tree = m.update(ProcSample((), 1, T0 + 3, seed=SEED, scan_time=T0 + 3), 1.0)
    assert tree.lost_interval == 1


def test_json_shape_matches_the_issue() -> None:
    m = ProcTreeModel()
    first(m)
    events = (
        fork(300, 200, T0 + 0.1),
        exe(300, 200, T0 + 0.2, ("/bin/x", "\x1b[2J", "\udcff")),
        exit_(300, 200, T0 + 0.3, code=None, sig="KILL"),
    )
    out = json.loads(json.dumps(step(m, events, T0 + 1).to_json(), ensure_ascii=True))
    keys = {"type", "pid", "ppid", "comm", "filename", "argv", "exit_code", "signal", "time"}
    assert [e["type"] for e in out["events"]] == ["fork", "exec", "exit"]
    assert all(keys <= set(e) for e in out["events"])
    assert out["events"][0]["argv"] is None and out["events"][0]["filename"] is None
    assert out["events"][1]["argv"] == ["/bin/x", "\x1b[2J", "\udcff"]  # exact, surrogate escape kept
    assert out["events"][1]["argv_truncated"] is False
    assert out["events"][2]["signal"] == "KILL" and out["events"][2]["exit_code"] is None
    assert out["events"][2]["time"] == round(T0 + 0.3, 6)
    assert out["lost"] == 0


def test_pid_filter_keeps_the_subtree_and_its_ancestors() -> None:
    m = ProcTreeModel()
    first(m)
    events = (fork(300, 200, T0 + 0.1), fork(301, 300, T0 + 0.2), fork(400, 100, T0 + 0.3))
    tree = step(m, events, T0 + 1, pids=PidFilter(frozenset({(200, 7)})))
    assert [r.pid for r in tree.roots] == [1]
    # 200's ancestors for context, 200 and its descendants; not 100's other child 400.
    assert {v.pid for v in tree.walk()} == {1, 100, 200, 300, 301}
    assert {e.pid for e in tree.events} == {300, 301}


def test_exited_cap_drops_oldest_first() -> None:
    m = ProcTreeModel(linger=100.0, max_exited=10)
    first(m)
    events = []
    for i in range(30):
        t = T0 + i * 0.01
        events += [fork(1000 + i, 200, t), exit_(1000 + i, 200, t + 0.001)]
    step(m, tuple(events), T0 + 1)  # shown once, then capped
    tree = step(m, (), T0 + 2)
    gone = sorted(v.pid for v in tree.walk() if v.exited)
    assert gone == list(range(1020, 1030))


def test_short_lived_process_is_shown_once_even_with_zero_linger() -> None:
    m = ProcTreeModel(linger=0.0)
    first(m)
    tree = step(m, (fork(300, 200, T0 + 0.1), exit_(300, 200, T0 + 0.2)), T0 + 1)
    assert tree.find(300) is not None
    assert step(m, (), T0 + 2).find(300) is None


def test_zombie_in_seed_is_exited() -> None:
    seed = (*SEED, ProcSeed(300, 200, "defunct", (), T0 - 5, zombie=True))
    tree = ProcTreeModel().update(ProcSample((), 0, T0, seed=seed, scan_time=T0), 1.0)
    assert tree.find(300).exited  # type: ignore[union-attr]


def test_model_module_stays_pure() -> None:
    code = (
        "import sys, ebpftop.model.proctree\n"
        "print(','.join(n for n in ('bcc', 'textual', 'psutil') if n in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_split_argv_applies_the_documented_limit() -> None:
    from ebpftop.probes.proctree import ARG_LEN, MAX_ARGS, split_argv

    area = b"/bin/true\0a\0\0b\0"
    assert split_argv(area, len(area)) == (("/bin/true", "a", "", "b"), False)
    full = [bytes([97 + i]) * ARG_LEN for i in range(MAX_ARGS)]
    area = b"\0".join(full) + b"\0"
    assert split_argv(area, len(area)) == (tuple(a.decode() for a in full), False)
    more = area + b"17th\0"
    assert split_argv(more, len(more)) == (tuple(a.decode() for a in full), True)
    long = b"x" * (ARG_LEN + 1) + b"\0"
    assert split_argv(long, len(long)) == (("x" * ARG_LEN,), True)
    # The kernel copied only a prefix of the area: the cut argument is kept, marked.
    assert split_argv(b"ls\0-l", 100) == (("ls", "-l"), True)
    assert split_argv(b"\xff\x1b\0", 3) == (("\udcff\x1b",), False)
    assert split_argv(b"", 0) == ((), False)


def test_reparents_from_the_probe_move_orphans_to_their_real_reaper() -> None:
    m = ProcTreeModel(linger=10.0)
    first(m)
    step(m, (fork(300, 200, T0 + 0.1), fork(301, 300, T0 + 0.2)), T0 + 1)
    sample = ProcSample((exit_(300, 200, T0 + 1.1),), 0, T0 + 2, reparents=((301, 100),))
    tree = m.update(sample, 1.0)
    assert tree.find(301).ppid == 100  # type: ignore[union-attr]
    assert 301 in {c.pid for c in tree.find(100).children}  # type: ignore[union-attr]


def test_probe_orphan_bookkeeping_reads_proc_only_for_live_orphans() -> None:
    from ebpftop.probes.proctree import _Orphans

    orphans = _Orphans(SEED)
    asked: list[int] = []

    def ppid_of(pid: int) -> int:
        asked.append(pid)
        return 100

    events = (
        fork(300, 200, T0 + 0.1),
        fork(301, 300, T0 + 0.2),
        fork(302, 300, T0 + 0.3),
        exit_(302, 300, T0 + 0.4),  # gone before its parent: not an orphan
        exit_(300, 200, T0 + 0.5),
    )
    assert orphans.reconcile(events, ppid_of) == ((301, 100),)
    assert asked == [301]
    assert orphans.reconcile((exit_(301, 100, T0 + 1),), ppid_of) == ()
    assert asked == [301]


def test_deep_fork_chain_and_bogus_loop_are_harmless() -> None:
    m = ProcTreeModel()
    first(m)
    chain = tuple(fork(1000 + i, (1000 + i - 1) if i else 200, T0 + i * 1e-4) for i in range(3000))
    tree = step(m, chain, T0 + 1)
    assert tree.live == 3 + 3000
    assert sum(1 for _ in tree.walk()) < 3000  # cut at MAX_DEPTH, no RecursionError
    # An exec naming a descendant as parent must not make a cycle that hides both.
    tree = step(m, (exe(1000, 1002, T0 + 1.1, ("/bin/x",)),), T0 + 2)
    assert tree.find(1000) is not None and tree.find(1000).ppid == 1002  # type: ignore[union-attr]


def test_filter_follows_the_process_not_the_pid() -> None:
    """Filter on (500, start 10); 500 exits and a new process gets PID 500: it is not shown, nor its child."""
    m = ProcTreeModel(linger=0.0)
    first(m)
    flt = PidFilter(frozenset({(500, 10)}))
    t = step(m, (ProcEvent(FORK, 500, 200, "bash", T0 + 0.1, start_ticks=10),), T0 + 1, pids=flt)
    assert [v.pid for v in t.walk() if v.pid >= 500] == [500]
    events = (
        ProcEvent(EXIT, 500, 200, "bash", T0 + 1.1, exit_code=0, start_ticks=10),
        ProcEvent(FORK, 500, 200, "bash", T0 + 1.2, start_ticks=25),
        ProcEvent(FORK, 501, 500, "bash", T0 + 1.3, start_ticks=26),
    )
    t = step(m, events, T0 + 10, pids=flt)
    # Only the filtered process, shown once more as it ended in this update.
    assert [(v.pid, v.start, v.exited) for v in t.walk() if v.pid >= 500] == [(500, T0 + 0.1, True)]
    t = step(m, (), T0 + 11, pids=flt)
    assert [v.pid for v in t.walk() if v.pid >= 500] == []
    # Unfiltered, the new 500 and its child are there.
    t = step(m, (), T0 + 12)
    assert sorted(v.pid for v in t.walk() if v.pid >= 500) == [500, 501]


def test_rename_gives_the_name_a_process_has_now() -> None:
    """prctl(PR_SET_NAME) and exec renames: the node shows the last name, and a live name filter finds it."""
    m = ProcTreeModel()
    first(m)
    events = (
        ProcEvent(FORK, 600, 200, "bash", T0 + 0.1, start_ticks=40),
        ProcEvent(RENAME, 600, 200, "worker", T0 + 0.2, start_ticks=40),
    )
    t = step(m, events, T0 + 1)
    node = t.find(600)
    assert node is not None and node.comm == "worker"
    flt = PidFilter(frozenset({(1, 1)}), frozenset({"worker"}), frozenset())
    t = step(m, (), T0 + 2, pids=flt)
    assert [v.pid for v in t.walk() if v.comm == "worker"] == [600]
