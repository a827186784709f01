"""--batch for scripts: real frames match ebpftop/output/schema.json; schema, final, argv_truncated, --top, busy XDP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.kernel.helpers import ROOT, batch, fresh_netns

SCHEMA = json.loads((ROOT / "ebpftop" / "output" / "schema.json").read_text())
NETNS = f"ebpftop-test-schema-{os.getpid()}"
LONG_ARGV = ["x" * 200] * 20  # past the documented 16 x 128 limit: argv_truncated


@pytest.fixture(scope="module")
def netns():  # type: ignore[no-untyped-def]
    with fresh_netns(NETNS) as name:
        yield name


def _validate(frames: list[dict[str, Any]]) -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for i, frame in enumerate(frames):
        errors = sorted(validator.iter_errors(frame), key=str)
        assert not errors, f"frame {i}: {errors[0].message} at {list(errors[0].absolute_path)}"


def _udp(netns: str, n: int) -> None:
    code = (
        "import socket\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        f"for _ in range({n}): s.sendto(b'x' * 100, ('127.0.0.1', 9))\n"
    )
    subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", code], check=True)


def test_real_frames_match_the_schema(netns: str) -> None:
    prefix = ("ip", "netns", "exec", netns)
    with batch("--interval", "0.3", "--xdp", "lo", prefix=prefix) as run:
        for name in ("files", "syscalls", "proctree", "xdp"):
            run.wait_live(name)
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "data").write_bytes(b"y" * 65536)
            Path(tmp, "data").read_bytes()
        subprocess.run(["/bin/true", *LONG_ARGV], check=True)
        subprocess.run(["sh", "-c", "exit 3"])
        _udp(netns, 50)
        # A second ebpftop in the same netns finds lo busy (ours), says so
        # on stderr once, and --top caps every list.
        with batch("--interval", "0.3", "--xdp", "lo", "--top", "1", "-n", "3", prefix=prefix) as second:
            second.proc.wait(120)
            capped = second.stop()
            warning = second.proc.stderr.read() if second.proc.stderr else ""
        frames = run.stop(signal.SIGINT)
    assert run.proc.returncode == 0

    _validate(frames)
    _validate(capped)
    assert {f["schema"] for f in frames} == {1}
    assert [f["final"] for f in frames] == [False] * (len(frames) - 1) + [True]
    events = [e for f in frames for e in f["procs"]["events"]]
    assert all("argv_truncated" in e for e in events)
    long = [e for e in events if e["type"] == "exec" and e["argv"] and e["argv"][1:2] == ["x" * 128]]
    assert len(long) == 1 and long[0]["argv_truncated"] is True and len(long[0]["argv"]) == 16
    assert {e["type"] for e in events} >= {"fork", "exec", "exit"}
    assert all(e["argv_truncated"] is None for e in events if e["argv"] is None)
    assert any(
        r["ifname"] == "lo" and r["state"] == "attached" and r["packets"] >= 50 for f in frames for r in f["xdp"]
    )

    assert warning.count("ebpftop: xdp lo is busy: program") == 1, warning
    assert len(capped) == 3 and capped[-1]["final"] is False  # -n: the last counted frame is not a flush
    for f in capped:
        assert f["top"] == 1
        for key, full in f["rows"].items():
            pane, _, sub = key.partition(".")
            shown = f[pane][sub] if sub else f[pane]
            assert len(shown) == min(full, 1)
    assert max(f["rows"]["syscalls"] for f in capped) > 1  # something was really cut
    busy = [r for r in capped[-1]["xdp"] if r["ifname"] == "lo"]
    assert busy == [] or busy[0]["state"] == "busy"  # cut by --top 1 unless lo sorts first


def test_every_frame_has_final_and_schema_without_xdp() -> None:
    with batch("--probes", "syscalls", "--interval", "0.2", "-n", "2") as run:
        run.proc.wait(120)
        frames = run.stop()
    _validate(frames)
    assert [(f["schema"], f["final"], f["top"]) for f in frames] == [(1, False, None)] * 2
    assert "files" not in frames[0] and frames[0]["probes"]["files"]["state"] == "off"


def test_top_needs_batch_and_a_positive_number() -> None:
    for args, msg in ((["--top", "3"], "--top only applies with --batch"), (["--batch", "--top", "0"], "top must be")):
        out = subprocess.run([sys.executable, "-m", "ebpftop", *args], capture_output=True, text=True, cwd=ROOT)
        assert out.returncode == 2 and msg in out.stderr and out.stderr.count("\n") == 1, out.stderr
