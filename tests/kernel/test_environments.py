"""Hostile or unusual environments: read-only /tmp, capabilities instead of root, closed or non-terminal
standard streams, probes that cannot start, signals to --doctor. One clear line and exit code each, no traceback."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.kernel.floods import read_until, spawn_in_pty
from tests.kernel.helpers import ROOT

LIVENESS = 120.0  # a bound for the test only (compiles on a busy 2-core box), never a timing assert
PY = [sys.executable, "-m", "ebpftop"]
ALL = ("files", "syscalls", "proctree", "xdp")


def _sh(script: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a shell script (so fds can be closed with >&-) with ebpftop's command as "$@"."""
    return subprocess.run(
        ["sh", "-c", script, "sh", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=LIVENESS,
        env={**os.environ, **(env or {})},
    )


def _frames(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def _one_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ebpftop: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


# -- /tmp ---------------------------------------------------------------------------


def test_read_only_tmp_every_probe_goes_live() -> None:
    """The compiler's stderr capture needed a temporary file: with no writable temporary directory
    (/tmp, and /var/tmp and the cwd that Python's tempfile falls back to) every probe failed."""
    ro = " && ".join(
        f"mount --bind {d} {d} && mount -o remount,bind,ro {d} && ! touch {d}/.ebpftop-rw-check 2>/dev/null"
        for d in ("/tmp", "/var/tmp", str(ROOT))
    )
    script = f'mount --make-rprivate / && {ro} && exec "$@"'
    result = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", *PY, "--batch", "-n", "2", "-i", "0.5"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=LIVENESS,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 0, result.stderr
    last = _frames(result.stdout)[-1]
    assert {name: p["state"] for name, p in last["probes"].items()} == {n: "live" for n in ALL}, result.stderr


# -- probes that cannot start ----------------------------------------------------------


def _broken_bpf_dir(tmp_path: Path, broken: str) -> Path:
    """A copy of bpf/ in which ``broken`` (a file name) does not compile."""
    d = tmp_path / "bpf"
    shutil.copytree(ROOT / "bpf", d)
    with open(d / broken, "a") as f:
        f.write("\n#error broken on purpose by the test\n")
    return d


def test_batch_exits_3_when_no_probe_could_be_started(tmp_path: Path) -> None:
    d = _broken_bpf_dir(tmp_path, "ebpftop.h")  # every probe includes it
    result = _sh('exec "$@"', *PY, "--batch", "-i", "0.3", env={"EBPFTOP_BPF_DIR": str(d)})
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[-1] == "ebpftop: no probe could be started", result.stderr
    assert {ln.split()[2] for ln in lines[:-1]} == set(ALL), result.stderr  # each probe's reason, once
    assert all(" error: " in ln or " unavailable: " in ln for ln in lines[:-1]), result.stderr


def test_batch_runs_the_probes_that_started(tmp_path: Path) -> None:
    d = _broken_bpf_dir(tmp_path, "files.bpf.c")
    result = _sh('exec "$@"', *PY, "--batch", "-n", "2", "-i", "0.3", env={"EBPFTOP_BPF_DIR": str(d)})
    assert result.returncode == 0, result.stderr
    assert [ln.split(":")[1].strip() for ln in result.stderr.splitlines()] == ["probe files error"], result.stderr
    states = {name: p["state"] for name, p in _frames(result.stdout)[-1]["probes"].items()}
    assert states == {"files": "error", "syscalls": "live", "proctree": "live", "xdp": "live"}


# -- standard streams ------------------------------------------------------------------


def test_batch_with_stdout_closed_says_so_and_exits_2() -> None:
    result = _sh('exec "$@" >&-', *PY, "--batch", "-n", "1")
    assert result.returncode == 2
    assert "stdout is closed" in _one_line(result.stderr)


def test_batch_into_a_full_disk_says_so_and_exits_1() -> None:
    result = _sh('exec "$@" >/dev/full', *PY, "--batch", "-n", "3", "-i", "0.3")
    assert result.returncode == 1
    assert _one_line(result.stderr) == "ebpftop: cannot write to stdout: No space left on device"


@pytest.mark.parametrize("redirect", ["2>&-", "<&-", "<&- 2>&-"])
def test_batch_with_stdin_or_stderr_closed_runs(redirect: str) -> None:
    result = _sh(f'exec "$@" {redirect}', *PY, "--batch", "-n", "2", "-i", "0.3")
    assert result.returncode == 0, result.stderr
    frames = _frames(result.stdout)  # nothing but JSON on stdout
    assert len(frames) == 2 and all(p["state"] == "live" for p in frames[-1]["probes"].values())
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "redirect, culprit",
    [
        ("</dev/null", "stdin is a device"),
        ("<&-", "stdin is closed"),
        (">/dev/null", "stdout is a device"),
        ("| cat", "stdout is a pipe"),
    ],
)
def test_tui_without_a_terminal_refuses_before_loading_anything(redirect: str, culprit: str) -> None:
    """`ebpftop </dev/null` spun at ~80% CPU and could not be quit with q; now one line, exit 2."""
    if redirect.startswith("|"):
        script = f'{{ "$@"; echo "rc=$?" >&2; }} {redirect}'
    else:
        script = f'"$@" {redirect}; echo "rc=$?"'
    proc, master = spawn_in_pty(["sh", "-c", script, "sh", *PY, "--probes", "syscalls"])
    out = bytearray()
    try:
        end = time.monotonic() + LIVENESS
        while proc.poll() is None and time.monotonic() < end:
            read_until(master, out, 0.2)
        read_until(master, out, 0.3)
        assert proc.poll() is not None, f"the TUI did not refuse: {bytes(out[-2000:])!r}"
    finally:
        if proc.poll() is None:
            os.write(master, b"q")
            time.sleep(1)
            proc.kill()
        proc.wait(10)
        os.close(master)
    text = bytes(out).decode(errors="replace").replace("\r", "")
    assert "rc=2" in text, text
    lines = [ln for ln in text.splitlines() if ln.startswith("ebpftop: ")]
    assert len(lines) == 1 and "needs a terminal" in lines[0] and culprit in lines[0], text
    assert "Traceback" not in text and "\x1b[?1049h" not in text  # never took the screen


# -- capabilities instead of root ----------------------------------------------------------


def _as_nobody(caps: str, *args: str) -> subprocess.CompletedProcess[str]:
    spec = ",".join(f"+{c}" for c in caps.split(",")) if caps else ""
    return subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            f"--inh-caps=-all{',' + spec if spec else ''}",
            f"--ambient-caps=-all{',' + spec if spec else ''}",
            *PY,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=LIVENESS,
        cwd="/",
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.mark.parametrize(
    "caps, args, missing",
    [
        ("bpf,net_admin,dac_read_search", (), "CAP_PERFMON"),
        ("perfmon,dac_read_search", (), "CAP_BPF"),
        ("bpf,perfmon", (), "CAP_DAC_READ_SEARCH"),  # tracefs is root's, mode 0700
        ("bpf,perfmon,dac_read_search", ("--xdp", "lo"), "CAP_NET_ADMIN"),
    ],
)
def test_capabilities_missing_named_in_one_line(caps: str, args: tuple[str, ...], missing: str) -> None:
    result = _as_nobody(caps, "--batch", "-n", "1", *args)
    assert result.returncode == 2, result.stderr
    line = _one_line(result.stderr)
    assert line.startswith(f"ebpftop: missing capability {missing}:"), line
    assert result.stdout == ""


def test_capabilities_instead_of_root_run_every_probe() -> None:
    result = _as_nobody("bpf,perfmon,dac_read_search,net_admin", "--batch", "-n", "2", "-i", "0.3")
    assert result.returncode == 0, result.stderr
    states = {name: p["state"] for name, p in _frames(result.stdout)[-1]["probes"].items()}
    assert states == {n: "live" for n in ALL}, result.stderr


# -- --doctor and signals ------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
@pytest.mark.parametrize("after", ["ebpftop doctor:", "kernel features"])
def test_doctor_ends_on_a_signal_with_no_traceback(sig: signal.Signals, after: str) -> None:
    """A signal once the doctor runs (its first line, or once it probes kernel features): one line, no traceback.

    (Sent after a line it printed, not at a fixed moment: before Python has imported its site
    packages a SIGINT is Python's own KeyboardInterrupt, which no program can catch.)
    """
    proc = subprocess.Popen([*PY, "--doctor"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    seen = ""
    for line in proc.stdout:  # the pipe holds the rest: the doctor is not slowed by this reader
        seen += line
        if line.startswith(after):
            break
    proc.send_signal(sig)
    try:
        rest, err = proc.communicate(timeout=LIVENESS)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"--doctor ignored {sig.name}") from None
    assert after in seen, seen + rest
    assert proc.returncode in (0, 1), (proc.returncode, err)  # ended by itself, never killed by the signal
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    if proc.returncode == 1:  # interrupted: says so in one line
        assert err.splitlines()[-1] == f"ebpftop: doctor interrupted by {sig.name}", err
