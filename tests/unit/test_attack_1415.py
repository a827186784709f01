"""Attacks on the exporter and the recorder (#14) that need no kernel."""

from __future__ import annotations

import socket
import urllib.request
from typing import Any

from ebpftop.model.metrics import MetricsOptions
from ebpftop.output.metrics import MAX_CLIENTS, Exporter


def test_peers_trickling_their_requests_cannot_lock_the_scrapes_out() -> None:
    """MAX_CLIENTS peers that each send a request line and then a header line now and then are never
    idle for HANDLER_TIMEOUT, so they held every place for good and every scrape was closed unanswered
    (a local user's denial of the metrics). A scrape now takes the oldest one's place."""
    exp = Exporter("127.0.0.1", 0, MetricsOptions())
    exp.start()
    peers = []
    try:
        for _ in range(MAX_CLIENTS):
            peer = socket.create_connection(("127.0.0.1", exp.port))
            peer.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            peers.append(peer)
        for peer in peers:  # a header line each: still sending, never idle
            peer.sendall(b"X-Slow: 1\r\n")
        for _ in range(3):  # scrape after scrape, each answered in full
            with urllib.request.urlopen(exp.url, timeout=30) as r:
                assert r.status == 200
                assert b"ebpftop_build_info" in r.read()
            for peer in peers[1:]:
                peer.sendall(b"X-Slow: 2\r\n")
    finally:
        for peer in peers:
            peer.close()
        exp.stop()


def test_answered_scrapes_are_not_cut_by_newcomers() -> None:
    """A scraper whose request was read keeps its place: newcomers beyond MAX_CLIENTS, when nobody is
    still sending a request, are closed unanswered as before."""
    exp = Exporter("127.0.0.1", 0, MetricsOptions())
    exp.start()
    try:
        for _ in range(MAX_CLIENTS * 3):
            with urllib.request.urlopen(exp.url, timeout=30) as r:
                assert r.status == 200 and b"ebpftop_frames_total" in r.read()
    finally:
        exp.stop()


def _bomb(path: str, line_mib: int) -> None:
    """A recording: its header, one frame, then one line of line_mib MiB of spaces (a few hundred KB of gzip)."""
    import json
    import zlib

    from ebpftop.model.frame import SCHEMA_VERSION
    from ebpftop.output.record import FORMAT_VERSION, MAGIC

    head = {MAGIC: FORMAT_VERSION, "ebpftop": "0", "schema": SCHEMA_VERSION, "interval": 1.0, "probes": []}
    frame = {"schema": SCHEMA_VERSION, "time": 1000.0, "interval": 1.0}
    z = zlib.compressobj(1, zlib.DEFLATED, 31)
    with open(path, "wb") as f:
        f.write(z.compress((json.dumps(head) + "\n" + json.dumps(frame) + "\n").encode()))
        spaces = b" " * (1 << 20)
        for _ in range(line_mib):
            f.write(z.compress(spaces))
        f.write(z.flush())


def test_a_gzip_bomb_of_one_line_is_refused_before_it_is_held(tmp_path: Any) -> None:
    """One line of 400 MiB (about 400 KB of gzip): the replay held all of it (and a copy) before
    finding it was no JSON, about 850 MB for a file a mail attachment holds; a few MB of file more
    and the kernel kills it. Now the line ends the replay past MAX_LINE, and what came before plays."""
    import subprocess
    import sys

    bomb = str(tmp_path / "bomb.gz")
    _bomb(bomb, 400)
    probe = (
        "import resource, subprocess, sys\n"
        "r = subprocess.run([sys.executable, '-m', 'ebpftop', '--replay', sys.argv[1], '--batch'],"
        " capture_output=True, text=True, timeout=120)\n"
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.stdout.count('\\n'))\n"
        "print(r.stderr, file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe, bomb], capture_output=True, text=True, timeout=180)
    rc, max_rss_kib, frames = map(int, out.stdout.split())
    assert rc == 0 and frames == 1, out
    assert max_rss_kib < 300 * 1024, f"{max_rss_kib} KiB held for a 400 MiB line"
    assert "longer than 64 MiB" in out.stderr, out.stderr


def test_a_forged_huge_number_in_a_recording_is_one_notice_and_the_replay_goes_on() -> None:
    """A count of 10**400 in a recorded frame (JSON has no bound on integers): the decoder's
    float(count) and math.isfinite raised OverflowError, which the player did not expect, so its
    thread died and the replay froze on the frame before. Now that frame is one notice, and the
    next plays."""
    import json
    import re
    import threading
    from pathlib import Path

    from ebpftop.model.decode import DecodeError
    from ebpftop.replay import ReplaySource, load

    recording = load(str(Path(__file__).parent.parent / "ui" / "data" / "recording-real.gz"))
    assert len(recording.entries) >= 3
    forged = recording.entries[1]
    obj = json.loads(forged.line)
    assert obj["syscalls"], "the recording has syscall rows"
    obj["syscalls"][0]["count"] = 10**400
    obj["work_ms"] = 10**400
    forged.line = json.dumps(obj)
    source = ReplaySource(recording, paused=True)
    try:
        source.decode(1)
    except DecodeError:
        pass
    frames: list[float] = []
    notices: list[str] = []
    seen = threading.Event()

    def on_frame(frame: Any) -> None:
        frames.append(frame.time)
        seen.set()

    def on_notice(text: str) -> None:
        notices.append(text)
        seen.set()

    source.start(on_frame, lambda probes: None, on_notice)
    try:
        for want in (1, 2, 3):  # frame 1, the forged frame 2, frame 3
            assert seen.wait(30), (frames, notices)
            seen.clear()
            if want < 3:
                source.step(1)
        assert frames == [recording.entries[0].time, recording.entries[2].time], (frames, notices)
        assert any(re.search(r"frame 2 cannot be shown", n) for n in notices), notices
    finally:
        source.stop()


def test_record_never_follows_a_symlink_another_user_planted(tmp_path: Any) -> None:
    """A user links /tmp/rec.gz to a file of root's that is empty (or absent at rotation time):
    root's --record /tmp/rec.gz wrote the recording into that file. Refused now before any probe
    loads (check_path: exit 2), and by the writer itself; root's own links are still followed."""
    import os
    import time

    from ebpftop.output.record import Recorder, check_path, header

    target = tmp_path / "roots-file"
    target.write_bytes(b"")
    link = tmp_path / "rec.gz"
    link.symlink_to(target)
    os.lchown(link, 65534, 65534)
    why = check_path(str(link))
    assert why is not None and "symlink owned by another user" in why, why
    notices: list[str] = []
    rec = Recorder(str(link), header(1.0, ()), on_notice=notices.append)
    for _ in range(600):
        if notices:
            break
        time.sleep(0.05)
    rec.close(5)
    assert target.read_bytes() == b"", "the recording went through the user's link"
    assert notices and "not followed" in notices[0], notices
    # Root's own link is followed as before.
    os.lchown(link, 0, 0)
    assert check_path(str(link)) is None
