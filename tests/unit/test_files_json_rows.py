"""The files table's JSON fast path (model/files.py json_rows) gives what the FileRow path gives, in the same order."""

from __future__ import annotations

import random

from ebpftop.model.files import BY_PROCESS, FILE, PIPE, UNKNOWN, FileIO, FilesModel, FilesSample, group, json_rows


def _io(rng: random.Random, n: int) -> tuple[FileIO, ...]:
    out = []
    for i in range(n):
        tgid = rng.choice((100, 200, 300))
        kind = rng.choice((FILE, FILE, FILE, PIPE, UNKNOWN))
        path = rng.choice(("/a", "/b", "/c", "fd:3")) if rng.random() < 0.5 else f"/burst/f{i}"
        reads, writes = rng.randrange(3), rng.randrange(3)
        out.append(
            FileIO(
                tgid, rng.randrange(8), i + 1, path, kind, f"c{tgid}", reads, writes,
                reads * rng.randrange(5), writes * rng.randrange(5),
                rng.choice((None, 27)), rng.choice((None, 5, 6)), rng.random() < 0.1, rng.random() < 0.1,
            )
        )
    return tuple(out)


def test_json_rows_equal_the_row_path_for_any_mix() -> None:
    rng = random.Random(17)
    for n in (0, 1, 2, 50, 500):
        io = _io(rng, n)
        for elapsed in (0.0, 0.7, 1.0):
            for pids in (None, frozenset({100, 300})):
                want = [r.to_json() for r in group(io, elapsed, pids, BY_PROCESS)]
                assert json_rows(io, elapsed, pids) == want


def test_table_to_json_same_before_and_after_rows_were_built() -> None:
    io = _io(random.Random(3), 300)
    fresh = FilesModel().update(FilesSample(io), 1.3)
    built = FilesModel().update(FilesSample(io), 1.3)
    built.rows(BY_PROCESS)
    assert fresh.to_json() == built.to_json() == [r.to_json() for r in built.rows(BY_PROCESS)]
