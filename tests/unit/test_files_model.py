"""Files model and the probe's pure /proc helpers: grouping, rates, JSON shape, typing, paths."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

from ebpftop.model import files as m
from ebpftop.model.files import FileIO, FilesModel, FilesSample, build


def io(
    tgid: int, fd: int, path: str, r: int = 0, w: int = 0, rb: int = 0, wb: int = 0,
    kind: str = m.FILE, comm: str = "c", gen: int = 1,
) -> FileIO:
    return FileIO(tgid, fd, gen, path, kind, comm, r, w, rb, wb)


def test_per_path_sums_processes_and_names_the_busiest() -> None:
    by_path, _ = build(
        (
            io(10, 3, "/log", w=2, wb=100, comm="small"),
            io(20, 4, "/log", w=1, wb=900, comm="big"),
            io(20, 5, "/log", w=1, wb=100, comm="big", gen=2),  # reopened: same path, same row
        ),
        elapsed=2.0,
    )
    assert len(by_path) == 1
    row = by_path[0]
    assert (row.pid, row.comm, row.processes) == (20, "big", 2)
    assert (row.writes, row.write_bytes) == (4, 1100)
    assert row.writes_per_s == 2.0 and row.write_bps == 550.0


def test_per_process_rows_keep_each_process() -> None:
    _, by_process = build((io(10, 3, "/log", r=1, rb=5), io(20, 4, "/log", r=3, rb=7)), elapsed=1.0)
    assert sorted((r.pid, r.reads, r.read_bytes, r.processes) for r in by_process) == [(10, 1, 5, 1), (20, 3, 7, 1)]


def test_same_fd_number_two_generations_are_two_files() -> None:
    _, by_process = build((io(10, 3, "/a", w=3, wb=333, gen=5), io(10, 3, "/b", w=1, wb=2222, gen=9)), elapsed=1.0)
    assert {r.path: r.write_bytes for r in by_process} == {"/a": 333, "/b": 2222}


def test_unknown_fds_of_different_processes_never_merge() -> None:
    by_path, _ = build(
        (
            io(1, 5, "fd:5", r=1, kind=m.UNKNOWN),
            io(2, 5, "fd:5", r=1, kind=m.UNKNOWN),
            io(3, 6, "socket:[9]", r=1, kind=m.SOCKET),
            io(4, 7, "socket:[9]", w=1, kind=m.SOCKET),
        ),
        elapsed=1.0,
    )
    assert sorted((r.path, r.processes) for r in by_path) == [("fd:5", 1), ("fd:5", 1), ("socket:[9]", 2)]


def test_hottest_first_and_pid_filter() -> None:
    by_path, _ = build((io(1, 3, "/cold", r=1, rb=1), io(2, 3, "/hot", w=1, wb=10)), elapsed=1.0)
    assert [r.path for r in by_path] == ["/hot", "/cold"]
    by_path, _ = build((io(1, 3, "/cold", r=1, rb=1), io(2, 3, "/hot", w=1, wb=10)), elapsed=1.0, pids=frozenset({1}))
    assert [r.path for r in by_path] == ["/cold"]


def test_rates_guarded_on_zero_elapsed_and_empty_input() -> None:
    table = FilesModel().update(FilesSample((io(1, 3, "/x", r=1, rb=10),)), elapsed=0.0)
    assert table.by_path[0].read_bps == 0.0 and table.read_bps == 0.0
    empty = FilesModel().update(FilesSample(()), elapsed=1.0)
    assert empty.by_path == () and empty.to_json() == [] and empty.lost == 0
    assert FilesModel().update(None, 1.0).to_json() == []


def test_json_shape_and_exact_hostile_strings() -> None:
    hostile = "/tmp/a\x1b[2J\n[bold]x\udcff"
    sample = FilesSample((io(7, 3, hostile, r=2, w=1, rb=20, wb=5, comm="\x1b]0;t\x07"),), lost=4)
    table = FilesModel().update(sample, 2.0)
    (row,) = table.to_json()
    fields = ("path", "type", "pid", "comm", "reads", "writes", "read_bytes", "write_bytes", "read_bps", "write_bps")
    assert set(row) == set(fields)
    assert row == {
        "path": hostile, "type": "file", "pid": 7, "comm": "\x1b]0;t\x07", "reads": 2, "writes": 1,
        "read_bytes": 20, "write_bytes": 5, "read_bps": 10.0, "write_bps": 2.5,
    }
    text = json.dumps(row, ensure_ascii=True)
    assert "\x1b" not in text and json.loads(text)["path"] == hostile
    assert table.lost == 4 and table.read_bps == 10.0 and table.write_bps == 2.5


# -- the probe's /proc side (pure helpers; no bcc needed) ---------------------------

def test_classify_link_targets() -> None:
    from ebpftop.probes.files import classify_link

    assert classify_link("socket:[123]") == (m.SOCKET, "socket:[123]")
    assert classify_link("pipe:[9]") == (m.PIPE, "pipe:[9]")
    assert classify_link("anon_inode:[eventfd]") == (m.ANON, "anon_inode:[eventfd]")
    assert classify_link("anon_inode:inotify")[0] == m.ANON
    assert classify_link("/memfd:x (deleted)")[0] == m.ANON
    assert classify_link("/var/log/x (deleted)") == (m.FILE, "/var/log/x (deleted)")


def test_type_of_mode() -> None:
    from ebpftop.probes.files import type_of_mode

    assert type_of_mode(stat.S_IFREG | 0o644) == m.FILE
    assert type_of_mode(stat.S_IFDIR) == m.FILE
    assert type_of_mode(stat.S_IFCHR) == m.DEVICE
    assert type_of_mode(stat.S_IFBLK) == m.DEVICE
    assert type_of_mode(stat.S_IFIFO) == m.PIPE
    assert type_of_mode(stat.S_IFSOCK) == m.SOCKET


def _fake_proc(tmp_path: Path, tgid: int, links: dict[str, str]) -> Path:
    proc = tmp_path / "proc"
    (proc / str(tgid) / "fd").mkdir(parents=True)
    for name, target in links.items():
        os.symlink(target, proc / str(tgid) / name)
    return proc


def test_resolve_fd_from_proc(tmp_path: Path) -> None:
    from ebpftop.probes.files import resolve_fd

    real = tmp_path / "data.txt"
    real.write_text("x")
    links = {
        "fd/3": str(real),
        "fd/4": "socket:[77]",
        "fd/5": "pipe:[8]",
        "fd/6": "/dev/null",
        "fd/7": "anon_inode:[eventfd]",
    }
    proc = _fake_proc(tmp_path, 42, links)
    assert resolve_fd(42, 3, str(proc)) == (m.FILE, str(real))
    assert resolve_fd(42, 4, str(proc)) == (m.SOCKET, "socket:[77]")
    assert resolve_fd(42, 5, str(proc)) == (m.PIPE, "pipe:[8]")
    assert resolve_fd(42, 6, str(proc)) == (m.DEVICE, "/dev/null")
    assert resolve_fd(42, 7, str(proc)) == (m.ANON, "anon_inode:[eventfd]")
    assert resolve_fd(42, 9, str(proc)) == (m.UNKNOWN, "fd:9")
    assert resolve_fd(43, 3, str(proc)) == (m.UNKNOWN, "fd:3")


def test_resolve_fd_on_a_live_socket_and_pipe() -> None:
    from ebpftop.probes.files import resolve_fd

    a, b = socket.socketpair()
    r, w = os.pipe()
    try:
        assert resolve_fd(os.getpid(), a.fileno())[0] == m.SOCKET
        assert resolve_fd(os.getpid(), r)[0] == m.PIPE
    finally:
        a.close(), b.close(), os.close(r), os.close(w)


def test_absolute_uses_cwd_or_dirfd(tmp_path: Path) -> None:
    from ebpftop.probes.files import AT_FDCWD, absolute

    proc = _fake_proc(tmp_path, 42, {"cwd": "/srv/app", "fd/9": "/etc"})
    assert absolute(42, AT_FDCWD, b"log/x.txt", str(proc)) == b"/srv/app/log/x.txt"
    assert absolute(42, AT_FDCWD, b"./x", str(proc)) == b"/srv/app/x"
    assert absolute(42, 9, b"passwd", str(proc)) == b"/etc/passwd"
    assert absolute(42, AT_FDCWD, b"/abs\xff", str(proc)) == b"/abs\xff"
    assert absolute(99, AT_FDCWD, b"rel", str(proc)) == b"rel"  # process gone: no guess


def test_type_of_path() -> None:
    from ebpftop.probes.files import type_of_path

    assert type_of_path(b"/dev/null") == m.DEVICE
    assert type_of_path(b"/no/such/file") == m.FILE


def test_model_imports_neither_bcc_nor_textual() -> None:
    code = "import sys, ebpftop.model.files; print('bcc' in sys.modules, 'textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_seen_name_from_mode_ino_and_dentry() -> None:
    from ebpftop.probes.files import seen_name

    assert seen_name(stat.S_IFSOCK | 0o777, 55, b"") == (m.SOCKET, "socket:[55]")
    assert seen_name(stat.S_IFIFO | 0o600, 66, b"") == (m.PIPE, "pipe:[66]")
    assert seen_name(stat.S_IFIFO | 0o600, 66, b"myfifo") == (m.PIPE, "\u2026/myfifo")
    assert seen_name(stat.S_IFREG | 0o644, 1, b"data.bin") == (m.FILE, "\u2026/data.bin")
    assert seen_name(stat.S_IFCHR | 0o666, 4, b"null") == (m.DEVICE, "\u2026/null")
    assert seen_name(0o600, 9, b"[eventfd]") == (m.ANON, "anon_inode:[eventfd]")
    assert seen_name(stat.S_IFREG, 7, b"") == (m.FILE, "inode:7")
    assert seen_name(stat.S_IFREG, 7, b"\xff\x1b") == (m.FILE, "\u2026/\udcff\x1b")  # exact; the pane sanitizes


def test_table_builds_each_grouping_once_and_only_when_asked() -> None:
    items = (io(10, 3, "/log", r=1, rb=5), io(20, 4, "/log", r=3, rb=7), io(20, 5, "/other", w=1, wb=1))
    table = FilesModel().update(FilesSample(items), elapsed=2.0, pids=frozenset({20}))
    assert (table.read_bps, table.write_bps) == (3.5, 0.5)  # totals need no grouping, and honour the filter
    assert table._built == {}
    table.to_json()  # --batch: rows per process only
    assert set(table._built) == {m.BY_PROCESS}
    assert table.by_process is table.by_process  # built once
    by_path, by_process = build(items, 2.0, frozenset({20}))
    assert (table.by_path, table.by_process) == (by_path, by_process)
