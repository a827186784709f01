"""--record / --replay on real probes: the replay prints the very lines --batch printed, real frames of all
four probes survive Frame -> JSON -> Frame and draw the same, a SIGKILL leaves a readable prefix, and a FIFO
nobody reads stalls neither the frames nor the exit."""

from __future__ import annotations

import html
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ebpftop.model.decode import frame_from_json, view_json
from ebpftop.output.batch import dumps
from ebpftop.replay import cut, load
from ebpftop.settings import Settings
from ebpftop.ui.app import EbpftopApp
from ebpftop.ui.panes import PANES
from tests.kernel.helpers import (
    ROOT,
    ebpftop_cmd,
    fresh_netns,
    loaded_prog_ids,
    orphaned,
    prog_ids_of,
    prog_names,
    scaled,
    wait_progs_gone,
)
from tests.kernel.workloads import GETPPID_LOOP
from tests.ui.scripted import ScriptedSource

SPAWNER = r"""
import ctypes, subprocess, sys
ctypes.CDLL(None).prctl(15, sys.argv[1].encode(), 0, 0, 0)
for _ in range(int(sys.argv[2])):
    subprocess.run(["sh", "-c", "exit 3"])
"""


class Lines:
    """Raw stdout lines of a running ebpftop, collected by a thread (bytes exactly as printed)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.lines: list[bytes] = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait(self, pred: Any, timeout: float = 120.0) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: pred(self.lines), scaled(timeout)), "ebpftop did not get there"


def start(*args: str) -> tuple[subprocess.Popen[bytes], Lines]:
    proc = subprocess.Popen(ebpftop_cmd("--batch", *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    return proc, Lines(proc)


def live(line: bytes, *probes: str) -> bool:
    frame = json.loads(line)
    return all(frame["probes"][p]["state"] == "live" for p in probes)


def replay_batch(path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ebpftop_cmd("--replay", str(path), "--batch", *args), capture_output=True, cwd=ROOT, timeout=scaled(120)
    )


def test_replay_prints_exactly_the_live_lines_with_the_workloads_counts(tmp_path: Path) -> None:
    name, calls, spawns = f"rr{os.getpid() % 100000}", 20_000, 4
    rec = tmp_path / "rec.gz"
    # The workloads start first and wait for a line: once the probes are live, their work takes a
    # moment. Two Python start-ups inside the 25 frames (7.5 s) bet on the box's speed: a run that
    # was not done by the 25th frame had its counts cut off.
    gate = "import sys; sys.stdin.readline()\n"
    looper = subprocess.Popen([sys.executable, "-c", gate + GETPPID_LOOP, name, str(calls)], stdin=subprocess.PIPE)
    spawner = subprocess.Popen([sys.executable, "-c", gate + SPAWNER, name, str(spawns)], stdin=subprocess.PIPE)
    proc, out = start("--interval", "0.3", "-n", "25", "--probes", "syscalls,proctree", "--record", str(rec))
    try:
        out.wait(lambda lines: any(live(line, "syscalls", "proctree") for line in lines))
        for worker in (looper, spawner):
            worker.communicate(b"go\n", timeout=scaled(60))
            assert worker.returncode == 0
        assert proc.wait(scaled(120)) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        for p in (proc, looper, spawner):
            if p.poll() is None:
                p.kill()
    out.thread.join(10)
    assert len(out.lines) == 25
    replayed = replay_batch(rec)
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stderr == b""
    assert replayed.stdout == b"".join(out.lines)  # byte for byte, every frame
    frames = [json.loads(line) for line in replayed.stdout.splitlines()]
    getppid = sum(
        t["count"]
        for f in frames
        for r in f["syscalls"]
        if r["comm"] == name
        for t in r["top"]
        if t["name"] == "getppid"
    )
    assert getppid == calls
    events = [e for f in frames for e in f["procs"]["events"]]
    assert sum(e["type"] == "fork" and e["ppid"] == spawner.pid for e in events) == spawns
    assert sum(e["type"] == "exit" and e["ppid"] == spawner.pid and e["exit_code"] == 3 for e in events) == spawns
    # --top: the same cut --batch --top makes live (Frame.to_json(top)), applied to the recorded frames.
    top2 = replay_batch(rec, "--top", "2")
    assert top2.returncode == 0
    for line, full in zip(top2.stdout.splitlines(), frames, strict=True):
        assert json.loads(line) == cut(full, 2)
        assert all(len(v) <= 2 for v in json.loads(line)["syscalls"] for v in [json.loads(line)["syscalls"]])


def _real_frames(tmp_path: Path) -> tuple[list[Any], Path]:
    with fresh_netns(f"ebpftop-test-rr-{os.getpid()}") as ns:
        subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, "-m", "tests.kernel.recordframes", str(tmp_path), "rrreal"],
            check=True,
            cwd=ROOT,
            timeout=scaled(300),
        )
    with open(tmp_path / "frames.pkl", "rb") as f:
        return pickle.load(f), tmp_path / "rec.gz"


def _screen(app: EbpftopApp) -> list[str]:
    """The text on screen, cell runs in order (colours left out: a focus or hover style that settles a moment
    later on a loaded box differed between two draws of the same frame)."""
    return [html.unescape(t) for t in re.findall(r"<text[^>]*>(.*?)</text>", app.export_screenshot())]


async def _draw(frame: Any, pane: str, size: tuple[int, int]) -> list[str]:
    source = ScriptedSource()
    # A long interval: a draw slowed by a loaded box must not say "no new frame for 5s" in one of the two.
    app = EbpftopApp(
        Settings(interval=3600, probes=("files", "syscalls", "proctree", "xdp")), source, initial_pane=pane
    )
    async with app.run_test(size=size) as pilot:
        source.emit(frame)
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        await pilot.pause(0.2)  # the table's widths and scrollbar settle (measured: one pause was not enough)
        return _screen(app)


async def test_real_frames_of_every_probe_round_trip_and_draw_the_same(tmp_path: Path) -> None:
    frames, rec = _real_frames(tmp_path)
    recording = load(str(rec))
    assert recording.notices == []
    assert len(recording.entries) == len(frames) >= 3
    assert {p for f in frames for p in f.panes} == {"files", "syscalls", "procs", "xdp"}
    assert any(r.packets for f in frames for r in f.panes["xdp"].rows)  # the UDP on lo was counted
    assert any(e.comm == "rrreal" for f in frames for e in f.panes["procs"].events)
    for frame, entry in zip(frames, recording.entries, strict=True):
        assert entry.line == dumps(frame)
        decoded = frame_from_json(json.loads(entry.line), json.loads(entry.view or "")["view"])
        assert dumps(decoded) == entry.line  # Frame -> JSON -> Frame -> JSON
        assert json.dumps(cut(json.loads(entry.line), 3), separators=(",", ":")) == dumps(frame, 3)
        # The view data: equal but for the syscall table's elapsed time (a rounded window_s after decoding).
        again, first = view_json(decoded), view_json(frame)
        for pane in ("syscalls", "xdp"):
            again[pane].pop("elapsed"), first[pane].pop("elapsed")
        assert again == first
        # Tables: equal but for the sparkline histories (kept to 3 decimals).
        assert replace(decoded.panes["syscalls"], history=()) == replace(frame.panes["syscalls"], history=())
        for grouping in ("path", "process"):
            assert decoded.panes["files"].rows(grouping) == frame.panes["files"].rows(grouping)
        xdp, xdp_live = decoded.panes["xdp"], frame.panes["xdp"]
        assert [replace(r, history=()) for r in xdp.rows] == [replace(r, history=()) for r in xdp_live.rows]
        assert replace(xdp, rows=(), history=()) == replace(xdp_live, rows=(), history=())
    # What the panes draw, original against decoded: every pane.
    last = frames[-1]
    decoded = frame_from_json(
        json.loads(recording.entries[-1].line), json.loads(recording.entries[-1].view or "")["view"]
    )
    for pane, _title, _widget in PANES:
        assert await _draw(decoded, pane, (140, 40)) == await _draw(last, pane, (140, 40)), pane


def test_sigkill_mid_record_leaves_a_readable_prefix(tmp_path: Path) -> None:
    rec = tmp_path / "rec.gz"
    proc, out = start("--interval", "0.2", "--probes", "syscalls", "--record", str(rec))
    try:
        out.wait(lambda lines: sum(live(line, "syscalls") for line in lines) >= 6)
        proc.kill()
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    out.thread.join(10)
    replayed = replay_batch(rec)
    assert replayed.returncode == 0, replayed.stderr
    assert b"was not closed" in replayed.stderr
    lines = replayed.stdout.splitlines(keepends=True)
    assert len(lines) >= 5
    n = min(len(lines), len(out.lines))
    assert lines[:n] == out.lines[:n]


def test_a_fifo_nobody_reads_stalls_neither_frames_nor_exit(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    proc, out = start("--interval", "0.2", "--probes", "syscalls", "--record", str(fifo))
    try:
        out.wait(lambda lines: sum(live(line, "syscalls") for line in lines) >= 8)  # frames go on
        ids = set(prog_ids_of(proc.pid))
        assert ids
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(scaled(15)) == 0
        waited = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    assert re.search(r"\d+ frames? not recorded to", err), err
    assert not wait_progs_gone(ids)
    print(f"exit {waited:.2f}s after INT with a FIFO nobody reads")  # a figure for the log, not an assert


def test_a_stalled_fuse_mount_stalls_neither_frames_nor_exit(tmp_path: Path) -> None:
    """FILE on a FUSE mount whose server stopped answering: the writer waits there forever, nothing else."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("fusestall.py")), str(mnt)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None and server.stdin is not None
    try:
        ready = server.stdout.readline().split()
        assert ready[:1] == ["ready"], ready
        server.stdin.write("stop\n")
        server.stdin.flush()
        assert server.stdout.readline().strip() == "stopped"
        before = loaded_prog_ids()
        # In the server's mount namespace (the mount is private to it), recording onto the mount.
        proc = subprocess.Popen(
            ["nsenter", "-m", "-t", ready[1], *ebpftop_cmd("--batch", "--interval", "0.2", "--probes", "syscalls",
                                                           "--record", str(mnt / "rec.gz"))],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
        )  # fmt: skip
        out = Lines(proc)
        try:
            out.wait(lambda lines: sum(live(line, "syscalls") for line in lines) >= 8)  # frames go on
            names = set(prog_names(set(prog_ids_of(proc.pid))).values())
            proc.send_signal(signal.SIGINT)
            assert proc.wait(scaled(15)) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
        assert re.search(r"\d+ frames? not recorded to", err), err
        assert names and orphaned(before, names) == {}
    finally:
        server.stdin.close()  # the server closes /dev/fuse: every waiter gets ENOTCONN
        server.wait(30)
