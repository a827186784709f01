"""A report on stdout that cannot be written: one line and exit 1 (a full disk), or a quiet exit 0 (its
reader went away, as `--batch | head` ends); never a traceback, never Python's exit 120.

`--doctor > /dev/full` and `--help > /dev/full` printed a traceback; `--version` to a pipe closed
early ended with "Exception ignored ... BrokenPipeError" and status 120 when stdout was buffered.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECORDING = ROOT / "tests" / "ui" / "data" / "recording-real.gz"
MODES = {
    "doctor": ["--doctor"],
    "version": ["--version"],
    "help": ["--help"],
    "replay-batch": ["--replay", str(RECORDING), "--batch"],
}


def _env(buffered: bool) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONUNBUFFERED", None)
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize("mode", sorted(MODES))
def test_a_full_disk_is_one_line_and_exit_1(mode: str, buffered: bool) -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "ebpftop", *MODES[mode]],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=_env(buffered),
            timeout=120,
        )
    assert (done.returncode, done.stderr) == (1, "ebpftop: cannot write to stdout: No space left on device\n")


@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize("mode", sorted(MODES))
def test_a_reader_gone_ends_it_quietly(mode: str, buffered: bool) -> None:
    read, write = os.pipe()
    os.close(read)  # nobody will ever read: the first write (or the last flush) meets EPIPE
    try:
        done = subprocess.run(
            [sys.executable, "-m", "ebpftop", *MODES[mode]],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=_env(buffered),
            timeout=120,
        )
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (0, "")
