"""Syscall model: grouping per process, rates over measured time, filters, history, JSON."""

from ebpftop.model.syscalls import SyscallCount, SyscallSample, SyscallsModel, build_rows
from ebpftop.pids import PidFilter


def c(tgid: int, name: str, count: int, comm: str = "p") -> SyscallCount:
    return SyscallCount(tgid, hash(name) % 400, name, count, comm)


def test_rows_group_by_pid_busiest_first() -> None:
    rows = build_rows((c(1, "read", 10), c(2, "write", 35), c(1, "getppid", 30)), elapsed=2.0)
    assert [r.pid for r in rows] == [1, 2]
    assert rows[0].count == 40 and rows[0].rate == 20.0
    assert [(t.name, t.count) for t in rows[0].top] == [("getppid", 30), ("read", 10)]


def test_empty_sample() -> None:
    table = SyscallsModel().update(SyscallSample(()), 1.0)
    assert table.rows == () and table.total_rate == 0.0 and table.to_json() == []


def test_zero_elapsed_gives_zero_rates() -> None:
    table = SyscallsModel().update(SyscallSample((c(1, "read", 10),)), 0.0)
    assert table.rows[0].rate == 0.0 and table.rows[0].count == 10


def test_pid_filter() -> None:
    rows = build_rows((c(1, "read", 10), c(2, "read", 5)), 1.0, pids=PidFilter(frozenset({(2, 500)})))
    assert [r.pid for r in rows] == [2]


def test_live_name_filter_keeps_a_process_that_took_the_name() -> None:
    """A name filter is live: a PID not in the snapshot that has the name now is kept, others are not."""
    flt = PidFilter(frozenset({(2, 500)}), frozenset({"worker"}), frozenset({2}))
    rows = build_rows((c(1, "read", 10, "bash"), c(2, "read", 5, "worker"), c(9, "read", 3, "worker")), 1.0, pids=flt)
    assert [r.pid for r in rows] == [2, 9]
    assert flt.describe() == "worker"  # the header shows the name, not a growing PID list
    assert flt.to_json() == {"names": ["worker"], "pids": []}


def test_comm_of_busiest_key_wins() -> None:
    rows = build_rows((c(7, "read", 1, "old"), c(7, "write", 9, "new")), 1.0)
    assert rows[0].comm == "new"


def test_history_is_bounded_and_ordered() -> None:
    model = SyscallsModel(history=3)
    for n in range(5):
        table = model.update(SyscallSample((c(1, "read", n + 1),)), 1.0)
    assert table.history == (3.0, 4.0, 5.0)


def test_json_shape() -> None:
    table = SyscallsModel().update(SyscallSample((c(3, "getppid", 4, "\x1b[2J"),), lost_total=2), 0.5)
    assert table.to_json() == [
        {"pid": 3, "comm": "\x1b[2J", "count": 4, "rate": 8.0, "top": [{"name": "getppid", "count": 4}], "cgroup": 0}
    ]
    assert table.lost_total == 2
