"""Files model and the probe's pure /proc helpers: grouping, rates, JSON shape, typing, paths."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

from ebpftop.model.files import (
    ANON,
    BY_PATH,
    BY_PROCESS,
    DEVICE,
    FILE,
    PIPE,
    SOCKET,
    UNKNOWN,
    FileIO,
    FilesModel,
    FilesSample,
    group,
)


def io(
    tgid: int, fd: int, path: str, r: int = 0, w: int = 0, rb: int = 0, wb: int = 0,
    kind: str = FILE, comm: str = "c", gen: int = 1,
) -> FileIO:
    return FileIO(tgid, fd, gen, path, kind, comm, r, w, rb, wb)


def test_per_path_sums_processes_and_names_the_busiest() -> None:
    by_path = group(
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
    by_process = group((io(10, 3, "/log", r=1, rb=5), io(20, 4, "/log", r=3, rb=7)), elapsed=1.0, grouping=BY_PROCESS)
    assert sorted((r.pid, r.reads, r.read_bytes, r.processes) for r in by_process) == [(10, 1, 5, 1), (20, 3, 7, 1)]


def test_same_fd_number_two_generations_are_two_files() -> None:
    items = (io(10, 3, "/a", w=3, wb=333, gen=5), io(10, 3, "/b", w=1, wb=2222, gen=9))
    by_process = group(items, elapsed=1.0, grouping=BY_PROCESS)
    assert {r.path: r.write_bytes for r in by_process} == {"/a": 333, "/b": 2222}


def test_unknown_fds_of_different_processes_never_merge() -> None:
    by_path = group(
        (
            io(1, 5, "fd:5", r=1, kind=UNKNOWN),
            io(2, 5, "fd:5", r=1, kind=UNKNOWN),
            io(3, 6, "socket:[9]", r=1, kind=SOCKET),
            io(4, 7, "socket:[9]", w=1, kind=SOCKET),
        ),
        elapsed=1.0,
    )
    assert sorted((r.path, r.processes) for r in by_path) == [("fd:5", 1), ("fd:5", 1), ("socket:[9]", 2)]


def test_identity_kept_for_one_file_and_unknown_when_a_path_held_two() -> None:
    one = FileIO(1, 3, 5, "/log", FILE, "a", 0, 1, 0, 10, dev=2049, ino=7)
    same = FileIO(2, 4, 6, "/log", FILE, "b", 0, 1, 0, 20, dev=2049, ino=7)
    rotated = FileIO(1, 3, 9, "/log", FILE, "a", 0, 1, 0, 30, dev=2049, ino=8)
    (row,) = group((one, same), 1.0)
    assert (row.dev, row.ino, row.write_bytes) == (2049, 7, 30)
    (row,) = group((one, rotated), 1.0)
    assert (row.dev, row.ino, row.write_bytes) == (None, None, 40)
    (row,) = FilesModel().update(FilesSample((rotated,)), 1.0).to_json()
    assert (row["dev"], row["ino"], row["deleted"], row["truncated"]) == (2049, 8, False, False)


def test_hottest_first_and_pid_filter() -> None:
    by_path = group((io(1, 3, "/cold", r=1, rb=1), io(2, 3, "/hot", w=1, wb=10)), elapsed=1.0)
    assert [r.path for r in by_path] == ["/hot", "/cold"]
    by_path = group((io(1, 3, "/cold", r=1, rb=1), io(2, 3, "/hot", w=1, wb=10)), elapsed=1.0, pids=frozenset({1}))
    assert [r.path for r in by_path] == ["/cold"]


def test_rates_guarded_on_zero_elapsed_and_empty_input() -> None:
    table = FilesModel().update(FilesSample((io(1, 3, "/x", r=1, rb=10),)), elapsed=0.0)
    assert table.rows(BY_PATH)[0].read_bps == 0.0 and table.read_bps == 0.0
    empty = FilesModel().update(FilesSample(()), elapsed=1.0)
    assert empty.rows(BY_PATH) == () and empty.to_json() == [] and empty.lost_total == 0
    assert FilesModel().update(None, 1.0).to_json() == []


def test_json_shape_and_exact_hostile_strings() -> None:
    hostile = "/tmp/a\x1b[2J\n[bold]x\udcff"
    sample = FilesSample((io(7, 3, hostile, r=2, w=1, rb=20, wb=5, comm="\x1b]0;t\x07"),), lost_total=4)
    table = FilesModel().update(sample, 2.0)
    (row,) = table.to_json()
    fields = ("path", "type", "pid", "comm", "reads", "writes", "read_bytes", "write_bytes", "read_bps", "write_bps",
              "dev", "ino", "deleted", "truncated", "cgroup")
    assert set(row) == set(fields)
    assert row == {
        "path": hostile, "type": "file", "pid": 7, "comm": "\x1b]0;t\x07", "reads": 2, "writes": 1,
        "read_bytes": 20, "write_bytes": 5, "read_bps": 10.0, "write_bps": 2.5,
        "dev": None, "ino": None, "deleted": False, "truncated": False, "cgroup": 0,
    }
    text = json.dumps(row, ensure_ascii=True)
    assert "\x1b" not in text and json.loads(text)["path"] == hostile
    assert table.lost_total == 4 and table.read_bps == 10.0 and table.write_bps == 2.5


# -- naming from the kernel's record (pure; no bcc needed) -------------------------

def rec(
    name: bytes = b"", mode: int = stat.S_IFREG | 0o644, ino: int = 7, dev: int = (8 << 20) | 3, flags: int = 0,
    family: int = 0, sk_type: int = 0, proto: int = 0, sport: int = 0, dport: int = 0,
    saddr: bytes = b"", daddr: bytes = b"",
) -> bytes:
    """A struct fl_name as the kernel writes it (dport in network order, as the kernel keeps it)."""
    from ebpftop.probes.fdnames import _HEAD, NAME_LEN

    dport_raw = int.from_bytes(dport.to_bytes(2, "big"), "little")
    head = _HEAD.pack(ino, dev, mode, flags, len(name), family, sk_type, proto, sport, dport_raw, 0,
                      saddr.ljust(16, b"\0"), daddr.ljust(16, b"\0"))
    return head + name.ljust(NAME_LEN, b"\0")


def test_record_size_matches_the_c_struct() -> None:
    from ebpftop.probes.fdnames import NAME_LEN, RECORD_SIZE

    assert RECORD_SIZE == 64 + NAME_LEN  # struct fl_name: 64 bytes of fields, then name


def test_type_of_mode() -> None:
    from ebpftop.probes.fdnames import type_of_mode

    assert type_of_mode(stat.S_IFREG | 0o644) == FILE
    assert type_of_mode(stat.S_IFDIR) == FILE
    assert type_of_mode(stat.S_IFCHR) == DEVICE
    assert type_of_mode(stat.S_IFBLK) == DEVICE
    assert type_of_mode(stat.S_IFIFO) == PIPE
    assert type_of_mode(stat.S_IFSOCK) == SOCKET
    assert type_of_mode(0o600) == ANON  # anon inodes have no type bits


def test_describe_paths_identity_and_markers() -> None:
    from ebpftop.probes.fdnames import DELETED, PSEUDO, TRUNCATED, FdName, describe

    dev = os.makedev(8, 3)
    assert describe(rec(b"/var/log/x.log")) == FdName(FILE, "/var/log/x.log", dev, 7)
    assert describe(rec(b"/dev/null", mode=stat.S_IFCHR | 0o666)).type == DEVICE
    assert describe(rec(b"/tmp/#7", flags=DELETED)) == FdName(FILE, "/tmp/#7 (deleted)", dev, 7, deleted=True)
    cut = describe(rec(b"/c/d/e", flags=TRUNCATED))
    assert (cut.path, cut.truncated) == ("\u2026/c/d/e", True)
    # A file whose own name ends " (deleted)" is told apart by the flag.
    hostile = describe(rec(b"/tmp/x (deleted)"))
    assert (hostile.path, hostile.deleted) == ("/tmp/x (deleted)", False)
    assert describe(rec(b"/abs\xff\x1b")).path == "/abs\udcff\x1b"  # exact; the pane sanitizes
    assert describe(rec(b"", mode=stat.S_IFIFO | 0o600, ino=66, flags=PSEUDO)).path == "pipe:[66]"
    assert describe(rec(b"[eventfd]", mode=0o600, flags=PSEUDO)) == FdName(ANON, "anon_inode:[eventfd]", dev, 7)
    assert describe(rec(b"memfd:x", flags=PSEUDO)) == FdName(ANON, "memfd:x", dev, 7)
    assert describe(rec(b"", mode=stat.S_IFSOCK, ino=55, flags=PSEUDO)).path == "socket:[55]"


def test_describe_socket_endpoints() -> None:
    from ebpftop.probes.fdnames import PSEUDO, SOCK, UNIX_PEER, describe

    lo = bytes([127, 0, 0, 1])
    flags, mode = SOCK | PSEUDO, stat.S_IFSOCK | 0o777
    tcp = describe(rec(mode=mode, flags=flags, family=2, sk_type=1, proto=6, sport=5432, dport=41822,
                       saddr=lo, daddr=lo))
    assert (tcp.type, tcp.path) == (SOCKET, "tcp 127.0.0.1:5432 \u2192 127.0.0.1:41822")
    listen = describe(rec(mode=mode, flags=flags, family=2, sk_type=1, proto=6, sport=80))
    assert listen.path == "tcp 0.0.0.0:80"
    udp6 = describe(rec(mode=mode, flags=flags, family=10, sk_type=2, proto=17, sport=53, dport=9,
                        saddr=bytes(15) + b"\1", daddr=bytes(15) + b"\1"))
    assert udp6.path == "udp [::1]:53 \u2192 [::1]:9"
    assert describe(rec(b"/run/x.sock", mode=mode, flags=flags, family=1, sk_type=1)).path == "unix /run/x.sock"
    peer = describe(rec(b"/run/x.sock", mode=mode, flags=flags, family=1, sk_type=1 | UNIX_PEER))
    assert peer.path == "unix \u2192 /run/x.sock"
    assert describe(rec(b"\0abs", mode=mode, flags=flags, family=1, sk_type=2)).path == "unix @abs"
    assert describe(rec(b"", mode=mode, ino=9, flags=flags, family=1, sk_type=1)).path == "unix socket:[9]"
    assert describe(rec(b"", mode=mode, ino=9, flags=flags, family=16, sk_type=3)).path == "netlink socket:[9]"


def test_probe_makes_no_filesystem_call_to_name() -> None:
    """The sampler holds BPF programs: no stat/readlink/open of a user's path may be reachable from naming."""
    import ast
    import inspect

    from ebpftop.probes import fdnames, files

    for module in (files, fdnames):
        tree = ast.parse(inspect.getsource(module))
        calls = {
            f"{n.func.value.id}.{n.func.attr}"
            for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name)
        }
        banned = {"os.stat", "os.lstat", "os.readlink", "os.open", "os.listdir", "os.path.exists", "os.scandir"}
        assert not calls & banned, (module.__name__, calls & banned)
        assert "open(" not in inspect.getsource(module).replace("os.uname", "")


def test_model_imports_neither_bcc_nor_textual() -> None:
    code = "import sys, ebpftop.model.files; print('bcc' in sys.modules, 'textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_table_builds_each_grouping_once_and_only_when_asked() -> None:
    items = (io(10, 3, "/log", r=1, rb=5), io(20, 4, "/log", r=3, rb=7), io(20, 5, "/other", w=1, wb=1))
    table = FilesModel().update(FilesSample(items), elapsed=2.0, pids=frozenset({20}))
    assert (table.read_bps, table.write_bps) == (3.5, 0.5)  # totals need no grouping, and honour the filter
    assert table._built == {}
    table.to_json()  # --batch: its dicts straight from the samples (json_rows), no rows built
    assert table._built == {}
    table.rows(BY_PROCESS)
    assert set(table._built) == {BY_PROCESS}
    assert table.rows(BY_PROCESS) is table.rows(BY_PROCESS)  # built once
    by_path, by_process = group(items, 2.0, frozenset({20}), BY_PATH), group(items, 2.0, frozenset({20}), BY_PROCESS)
    assert (table.rows(BY_PATH), table.rows(BY_PROCESS)) == (by_path, by_process)
