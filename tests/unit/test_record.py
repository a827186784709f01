"""The recorder and the reader: header, rotation, a FIFO nobody reads, a full disk, version refusal,
a truncated tail, corrupt and hostile recordings, --top applied as live."""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import threading
import zlib
from pathlib import Path
from typing import Any

import pytest

from ebpftop import __version__
from ebpftop.model.frame import Frame
from ebpftop.model.syscalls import SyscallsModel
from ebpftop.output.batch import dumps
from ebpftop.output.record import FORMAT_VERSION, MAGIC, Recorder, frame_lines, header, rotate
from ebpftop.replay import ReplayError, cut, load, parse_jump, run_batch
from tests.ui.scripted import syscall_frame

ROOT = Path(__file__).resolve().parents[2]


def frames(n: int) -> list[Frame]:
    model = SyscallsModel()
    out = []
    for i in range(n):
        f = syscall_frame(model, extra_pid=1000 + i)
        out.append(type(f)(f.time + i, f.elapsed, f.probes, f.panes, f.self_cpu_pct))
    return out


def record(path: Path, items: list[Frame], **kw: Any) -> Recorder:
    notices: list[str] = []
    rec = Recorder(str(path), header(1.0, ("syscalls",)), on_notice=notices.append, queue_frames=1000, **kw)
    for f in items:
        assert rec.put(f)
    assert rec.close(10.0) == 0
    rec.notices = notices  # type: ignore[attr-defined]
    return rec


def test_header_says_what_recorded_it(tmp_path: Path) -> None:
    path = tmp_path / "r.gz"
    record(path, frames(1))
    head = json.loads(gzip.decompress(path.read_bytes()).split(b"\n")[0])
    assert head[MAGIC] == FORMAT_VERSION == 1
    assert head["ebpftop"] == __version__
    assert head["host"] == socket.gethostname()
    assert head["kernel"] == os.uname().release
    assert head["interval"] == 1.0 and head["probes"] == ["syscalls"] and head["part"] == 0
    assert isinstance(head["start"], float)
    assert oct(path.stat().st_mode & 0o777) == "0o600"  # argv and paths of every process: root's eyes only


def test_lines_come_back_exactly_and_the_file_is_plain_gzip(tmp_path: Path) -> None:
    path = tmp_path / "r.gz"
    items = frames(5)
    rec = record(path, items)
    loaded = load(str(path))
    assert [e.line for e in loaded.entries] == [dumps(f) for f in items]
    assert loaded.notices == [] and rec.frames == 5 and rec.written == path.stat().st_size
    assert gzip.decompress(path.read_bytes()).decode().count("\n") == 1 + 2 * 5  # header, then 2 lines a frame
    out = tmp_path / "out"
    with open(out, "wb") as f:
        assert run_batch(str(path), out_fd=f.fileno()) == 0
    assert out.read_text() == "".join(dumps(f) + "\n" for f in items)


def test_rotation_by_size_keeps_n_files_each_with_its_header(tmp_path: Path) -> None:
    path = tmp_path / "r.gz"
    items = frames(6)
    one = len(zlib.compress(frame_lines(items[0]).encode()))
    record(path, items, max_size=one, keep=3)  # every frame fills a file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.gz", "r.gz.1", "r.gz.2"]
    parts = {p.name: load(str(p)) for p in tmp_path.iterdir()}
    for name, part in parts.items():
        assert part.header[MAGIC] == 1 and part.notices == [], name
    # The newest frames survive, newest in FILE; every file is complete on its own.
    lines = [e.line for n in ("r.gz.2", "r.gz.1", "r.gz") for e in parts[n].entries]
    assert lines == [dumps(f) for f in items][-len(lines) :]
    assert parts["r.gz"].header["part"] > parts["r.gz.1"].header["part"]


def test_an_existing_recording_is_kept_as_file_1(tmp_path: Path) -> None:
    path = tmp_path / "r.gz"
    first, second = frames(2), frames(3)
    record(path, first)
    record(path, second)
    assert [e.line for e in load(str(path)).entries] == [dumps(f) for f in second]
    assert [e.line for e in load(str(path) + ".1").entries] == [dumps(f) for f in first]


def test_rotate_with_keep_1_removes(tmp_path: Path) -> None:
    path = tmp_path / "r"
    path.write_text("x")
    rotate(str(path), 1)
    assert not path.exists()


def test_a_fifo_nobody_reads_blocks_neither_put_nor_close(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    notices: list[str] = []
    rec = Recorder(str(fifo), header(1.0, ()), on_notice=notices.append, queue_frames=4)
    results = [rec.put(f) for f in frames(10)]  # the writer is stuck in open(): the queue fills
    assert results[:4] == [True] * 4 and not any(results[4:])
    assert rec.dropped == 6 and len(notices) == 1 and "falls behind" in notices[0]
    done = threading.Event()

    def close() -> None:
        rec.close(0.2)
        done.set()

    threading.Thread(target=close, daemon=True).start()
    assert done.wait(30)  # bounded by its timeout, never by the FIFO
    # Release the stuck writer thread so it does not outlive the test.
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    os.close(fd)


def test_a_full_disk_stops_the_recording_with_one_notice(tmp_path: Path) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    notices: list[str] = []
    rec = Recorder("/dev/full", header(1.0, ()), on_notice=notices.append)
    rec.close(10.0)
    assert rec.error is not None
    assert len(notices) == 1 and "stopped" in notices[0] and "monitoring goes on" in notices[0]
    assert not rec.put(frames(1)[0])  # later frames are refused at once, silently
    assert len(notices) == 1


def _gzip_lines(path: Path, *objs: object) -> None:
    path.write_bytes(gzip.compress("".join(json.dumps(o) + "\n" for o in objs).encode()))


def test_a_future_format_is_refused_with_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "future.gz"
    _gzip_lines(path, {MAGIC: FORMAT_VERSION + 1, "ebpftop": "9.0", "schema": 1})
    with pytest.raises(ReplayError, match=f"format {FORMAT_VERSION + 1}"):
        load(str(path))
    for args in (["--batch"], ["--batch", "--top", "3"]):
        r = subprocess.run(
            [sys.executable, "-m", "ebpftop", "--replay", str(path), *args], capture_output=True, text=True, cwd=ROOT
        )
        assert r.returncode == 2 and r.stdout == ""
        assert r.stderr.count("\n") == 1 and "newer ebpftop" in r.stderr, r.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        (b"", "is empty"),
        (b"not gzip at all", "not gzip"),
        (gzip.compress(b'{"schema":1}\n'), "no header"),
        (gzip.compress(b"garbage\n"), "no header"),
    ],
)
def test_missing_or_corrupt_files_get_one_line_exit_2(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "bad.gz"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ReplayError, match=message):
        load(str(path))
    r = subprocess.run(
        [sys.executable, "-m", "ebpftop", "--replay", str(path), "--batch"], capture_output=True, text=True, cwd=ROOT
    )
    assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1, r.stderr


def test_a_truncated_recording_replays_up_to_its_last_whole_frame(tmp_path: Path) -> None:
    path = tmp_path / "r.gz"
    items = frames(6)
    record(path, items)
    data = path.read_bytes()
    whole = [dumps(f) for f in items]
    seen = set()
    for cut_at in range(40, len(data), max(1, len(data) // 60)):
        part = tmp_path / "part.gz"
        part.write_bytes(data[:cut_at])
        try:
            loaded = load(str(part))
        except ReplayError as exc:
            assert "no frame" in str(exc) or "no header" in str(exc) or "empty" in str(exc)
            continue
        lines = [e.line for e in loaded.entries]
        assert lines == whole[: len(lines)]  # a prefix, never a broken frame
        assert loaded.notices and "not closed" in loaded.notices[0]
        seen.add(len(lines))
    assert len(seen) >= 4  # cuts landed between many different frames


def test_a_corrupt_middle_keeps_what_came_before(tmp_path: Path) -> None:
    path = tmp_path / "r.gz"
    items = frames(4)
    record(path, items)
    data = bytearray(path.read_bytes())
    data[-30:-20] = b"\xff" * 10
    path.write_bytes(bytes(data))
    loaded = load(str(path))
    assert [e.line for e in loaded.entries] == [dumps(f) for f in items][: len(loaded.entries)]
    assert loaded.notices


def test_hostile_strings_never_reach_stdout_raw(tmp_path: Path) -> None:
    """A forged recording (another machine's) with raw non-ASCII in a frame line: re-encoded as escapes."""
    path = tmp_path / "evil.gz"
    frame = json.loads(dumps(frames(1)[0]))
    frame["syscalls"][0]["comm"] = "\u202eevil\u009b31m"
    text = json.dumps({MAGIC: 1, "schema": 1}) + "\n" + json.dumps(frame, ensure_ascii=False) + "\n"
    path.write_bytes(gzip.compress(text.encode()))
    out = tmp_path / "out"
    with open(out, "wb") as f:
        assert run_batch(str(path), out_fd=f.fileno()) == 0
    printed = out.read_bytes()
    assert printed.isascii() and b"\\u202eevil\\u009b31m" in printed
    assert json.loads(printed)["syscalls"][0]["comm"] == "\u202eevil\u009b31m"  # the exact string, escaped


def test_cut_is_what_top_prints_live() -> None:
    for f in frames(3):
        for top in (None, 1, 2, 10):
            assert json.dumps(cut(json.loads(dumps(f)), top), separators=(",", ":")) == dumps(f, top)


def test_jump_targets() -> None:
    from ebpftop.replay import Entry

    entries = [Entry(1_700_000_000.0 + i, "") for i in range(10)]
    assert parse_jump("#3", entries) == 2
    assert parse_jump("+4s", entries) == 4
    assert parse_jump("-2", entries) == 7
    assert parse_jump("#999", entries) == 9
    import time

    t = time.localtime(entries[5].time)
    assert parse_jump(f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}", entries) == 5
    for bad in ("soon", "25:00", "+x"):
        with pytest.raises(ValueError):
            parse_jump(bad, entries)


def test_replay_batch_count_stops_after_n(tmp_path: Path) -> None:
    path = tmp_path / "r.gz"
    items = frames(4)
    record(path, items)
    out = tmp_path / "out"
    with open(out, "wb") as f:
        assert run_batch(str(path), count=2, out_fd=f.fileno()) == 0
    assert out.read_text() == "".join(dumps(f) + "\n" for f in items[:2])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--replay", "x", "--record", "y"], "do not go together"),
        (["--replay", "x", "--pid", "1"], "--pid does not apply to --replay"),
        (["--replay", "x", "-i", "2"], "--interval does not apply to --replay"),
        (["--replay", "x", "--probes", "files"], "--probes does not apply to --replay"),
        (["--record-keep", "3"], "only apply with --record"),
        (["--record", "x", "--record-max-size", "1K"], "between 64K and 1T"),
        (["--record", "x", "--record-max-size", "lots"], "size must be"),
        (["--record", "x", "--record-keep", "0"], "files to keep must be between 1 and 1000"),
        (["--replay", "x", "--count", "3"], "--count only applies with --batch"),
    ],
)
def test_bad_record_and_replay_flags_get_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from ebpftop.cli import parse

    with pytest.raises(SystemExit) as exc:
        parse(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_record_flags_parse() -> None:
    from ebpftop.cli import parse

    settings, _ns = parse(["--batch", "--record", "r.gz", "--record-max-size", "512K", "--record-keep", "7"])
    assert (settings.record, settings.record_max_size, settings.record_keep) == ("r.gz", 512 << 10, 7)
    assert parse(["--record", "r.gz", "--record-max-size", "2G"])[0].record_max_size == 2 << 30
    assert parse(["--replay", "r.gz", "--batch", "--top", "3"])[0].replay == "r.gz"


@pytest.mark.parametrize(
    ("where", "problem"),
    [("missing/dir/r.gz", "has no directory"), (".", "is a directory")],
)
def test_a_path_that_cannot_be_recorded_to_is_refused_before_anything_loads(
    tmp_path: Path, where: str, problem: str
) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "ebpftop", "--batch", "--record", str(tmp_path / where)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and problem in r.stderr, r.stderr


def test_a_line_nested_past_what_json_parses_is_a_corrupt_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.gz"
    good = dumps(frames(1)[0])
    text = json.dumps({MAGIC: 1, "schema": 1}) + "\n" + good + "\n" + "[" * 100_000 + "\n"
    path.write_bytes(gzip.compress(text.encode()))
    loaded = load(str(path))
    assert [e.line for e in loaded.entries] == [good]
    assert loaded.notices and "not JSON" in loaded.notices[0]
