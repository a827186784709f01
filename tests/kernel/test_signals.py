"""Signals at random moments (during compiles, while live, during toggles): nothing stays attached."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.kernel.helpers import (
    ROOT,
    fresh_netns,
    loaded_prog_ids,
    orphaned,
    our_prog_names,
    wait_handling,
)

NETNS = f"ebpftop-test-signals-{os.getpid()}"  # one per test run: runs may overlap
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGKILL)
# Fixed seed: the "random" moments are the same on every run, so a failure reproduces.
MOMENTS = random.Random(20261123).sample([round(0.05 * i, 2) for i in range(1, 50)], 10)


def xdp_on_lo() -> bool:
    out = subprocess.run(
        ["ip", "-n", NETNS, "-j", "-d", "link", "show", "lo"], capture_output=True, text=True, check=True
    )
    return "xdp" in json.loads(out.stdout)[0]


@pytest.fixture(scope="module")
def our_names() -> set[str]:
    """The kernel names of every program ebpftop loads (all probes)."""
    return our_prog_names()


@pytest.fixture(scope="module")
def netns():  # type: ignore[no-untyped-def]
    with fresh_netns(NETNS) as name:
        yield name


@pytest.mark.parametrize("index", range(len(MOMENTS)))
def test_signal_at_any_moment_leaves_nothing(netns: str, our_names: set[str], index: int) -> None:
    delay = MOMENTS[index]
    sig = SIGNALS[index % len(SIGNALS)]
    progs = loaded_prog_ids()
    proc = subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, "-m", "ebpftop", "--batch", "--interval", "0.2", "--xdp", "lo"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    if sig != signal.SIGKILL:  # SIGKILL is timed from the spawn: no moment may leave anything
        wait_handling(proc.pid)
    time.sleep(delay)
    proc.send_signal(sig)
    proc.wait(30)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if sig != signal.SIGKILL:
        assert proc.returncode == 0, err
        assert "Traceback" not in err, err
    # A leaked link or attachment keeps its program loaded with no process
    # holding it: orphaned() finds exactly that.
    assert orphaned(progs, our_names) == {}
    assert not xdp_on_lo()


START_UP = [(0.025 * i, SIGNALS[i % 4]) for i in range(16)]  # INT, TERM, HUP, QUIT: 0-0.375 s into the imports


@pytest.mark.parametrize(("delay", "sig"), START_UP, ids=[f"{s.name}-{d:g}s" for d, s in START_UP])
def test_signal_during_start_up_imports_ends_quietly(our_names: set[str], delay: float, sig: signal.Signals) -> None:
    """Timed from the moment ebpftop.entry() has its handlers: the CLI's imports, the checks, the first compile.

    Every other moment goes through the `ebpftop` command, the rest through `python -m ebpftop`.
    """
    progs = loaded_prog_ids()
    script = str(Path(sys.executable).with_name("ebpftop"))
    argv = [script] if START_UP.index((delay, sig)) % 2 else [sys.executable, "-m", "ebpftop"]
    proc = subprocess.Popen(
        [*argv, "--batch", "--interval", "0.2"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT
    )
    wait_handling(proc.pid)
    time.sleep(delay)
    proc.send_signal(sig)
    proc.wait(30)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
    assert orphaned(progs, our_names) == {}


def test_signal_during_toggles_leaves_nothing(our_names: set[str]) -> None:
    """Toggle probes off and on through the sampler while a signal-like stop lands mid-way."""
    from ebpftop.registry import NAMES, SPECS
    from ebpftop.sampler import Sampler
    from ebpftop.settings import Settings

    progs = loaded_prog_ids()
    sampler = Sampler(SPECS, NAMES, 0.2, on_frame=lambda f: None, settings=Settings())
    sampler.start()
    time.sleep(1.0)
    for name in NAMES:
        sampler.toggle(name)
        sampler.toggle(name)
    time.sleep(0.3)
    sampler.stop()
    sampler.join(30)
    assert not sampler.is_alive()
    assert orphaned(progs, our_names) == {}


# The real TUI (in a pty, XDP attached to lo in the test's netns): a signal
# during the startup compiles, or right after toggle keys while a probe is
# being recompiled and XDP detached or re-attached. Fixed moments, so a
# failure reproduces.
TUI_CASES = [
    *(("startup", sig, 0.5 + 0.5 * i) for i, sig in enumerate(SIGNALS)),
    *(("toggle", sig, 0.1 * i) for i, sig in enumerate(SIGNALS)),
]


@pytest.mark.parametrize(("when", "sig", "delay"), TUI_CASES, ids=[f"{w}-{s.name}-{d:g}s" for w, s, d in TUI_CASES])
def test_signal_to_the_tui_leaves_nothing_and_restores_the_terminal(
    netns: str, our_names: set[str], when: str, sig: signal.Signals, delay: float
) -> None:
    from tests.kernel.floods import LIVE, tui

    progs = loaded_prog_ids()
    with tui(["--interval", "0.3", "--xdp", "lo"], prefix=("ip", "netns", "exec", netns)) as t:
        if when == "toggle":
            for marker in LIVE.values():
                t.wait_for(marker, timeout=60)
            assert xdp_on_lo()
            t.press(b"2", b"2 syscalls off")
            os.write(t.master, b"24")  # syscalls recompiling, XDP detaching
        elif sig != signal.SIGKILL:
            wait_handling(t.proc.pid)
        t.drain(delay)
        t.proc.send_signal(sig)
        deadline = time.monotonic() + 30
        while t.proc.poll() is None and time.monotonic() < deadline:
            t.drain(0.2)
        t.drain(0.3)
        rc = t.proc.wait(5)
        out = bytes(t.out)
    if sig != signal.SIGKILL:
        assert rc == 0, out[-2000:]
        assert b"Traceback" not in out
        if b"\x1b[?1049h" in out:  # the app had taken the screen: it gives it back
            assert b"\x1b[?1049l" in out[out.rindex(b"\x1b[?1049h") :]
    assert orphaned(progs, our_names) == {}
    assert not xdp_on_lo()
