"""Probe toggles are real: off unloads a probe's programs from the kernel, on loads them again."""

from __future__ import annotations

import threading
import time

import pytest

from ebpftop.model import frame as fr
from ebpftop.model.frame import ProbeStatus
from ebpftop.registry import NAMES, SPECS
from ebpftop.sampler import Sampler
from ebpftop.settings import Settings
from tests.kernel.helpers import STARTUP, loaded_prog_ids, scaled, wait_progs_gone


class Watcher:
    def __init__(self) -> None:
        self.states: dict[str, str] = {}
        self.changed = threading.Condition()

    def on_status(self, statuses: tuple[ProbeStatus, ...]) -> None:
        with self.changed:
            self.states = {s.name: s.state for s in statuses}
            self.changed.notify_all()

    def wait(self, name: str, state: str, timeout: float = STARTUP) -> None:
        """Until the probe is in state; going live waits for its compile (seconds each on a busy box)."""
        deadline = time.monotonic() + scaled(timeout)
        with self.changed:
            while self.states.get(name) != state:
                left = deadline - time.monotonic()
                assert left > 0, f"{name} never became {state} (is {self.states.get(name)})"
                self.changed.wait(left)


def probe_ids(sampler: Sampler, name: str) -> set[int]:
    probe = sampler._slots[name].probe  # the test looks inside: it asks the kernel about these ids
    return set(probe.prog_ids()) if probe is not None and probe.enabled else set()


@pytest.fixture
def sampler():  # type: ignore[no-untyped-def]
    watcher = Watcher()
    s = Sampler(SPECS, NAMES, 0.5, on_frame=lambda f: None, on_status=watcher.on_status, settings=Settings())
    s.watcher = watcher  # type: ignore[attr-defined]
    s.start()
    for name in NAMES:
        watcher.wait(name, fr.LIVE)
    yield s
    s.stop()
    s.join(30)


@pytest.mark.parametrize("name", NAMES)
def test_toggle_off_unloads_and_on_reloads(sampler: Sampler, name: str) -> None:
    watcher = sampler.watcher  # type: ignore[attr-defined]
    before = probe_ids(sampler, name)
    assert before and before <= loaded_prog_ids()
    sampler.toggle(name)
    watcher.wait(name, fr.OFF)
    assert wait_progs_gone(before) == set()
    sampler.toggle(name)
    watcher.wait(name, fr.LIVE)
    after = probe_ids(sampler, name)
    assert after and after <= loaded_prog_ids() and not (after & before)


def test_stopping_the_sampler_unloads_everything() -> None:
    watcher = Watcher()
    s = Sampler(SPECS, NAMES, 0.5, on_frame=lambda f: None, on_status=watcher.on_status, settings=Settings())
    s.start()
    for name in NAMES:
        watcher.wait(name, fr.LIVE)
    ids = set().union(*(probe_ids(s, n) for n in NAMES))
    assert ids
    s.stop()
    s.join(30)
    assert wait_progs_gone(ids) == set()


def test_toggles_that_come_faster_than_a_compile_do_not_stop_the_frames() -> None:
    """A probe toggled off and on again each time it starts compiling (a held key: toggles faster than a
    compile): frames still come between the compiles. The command loop took every queued command before
    a frame, and a toggle queued during each compile kept it there: no frame at all, every pane frozen."""
    chain = 4  # compiles of proctree queued back to back
    compiles = 0
    frames: list[fr.Frame] = []
    done = threading.Event()
    sampler: Sampler

    def on_status(statuses: tuple[ProbeStatus, ...]) -> None:
        nonlocal compiles
        states = {s.name: s.state for s in statuses}
        if states.get("syscalls") == fr.LIVE and states.get("proctree") == fr.LOADING and not done.is_set():
            compiles += 1
            if compiles <= chain:
                sampler.toggle("proctree")  # queued while it compiles: off, then on again (another compile)
                sampler.toggle("proctree")
            else:
                done.set()

    sampler = Sampler(SPECS, ["syscalls"], 0.2, frames.append, on_status=on_status, stats="off", settings=Settings())
    sampler.start()
    try:
        deadline = time.monotonic() + 60
        while not frames:
            assert time.monotonic() < deadline, "no first frame"
            time.sleep(0.02)
        first = len(frames)
        sampler.toggle("proctree")  # the first compile: the chain starts from its LOADING
        assert done.wait(300), f"the chain of compiles did not end ({compiles})"
        during = len(frames) - first
    finally:
        sampler.stop()
        sampler.join(60)
    assert sampler.error is None
    # Each compile outlasts the 0.2 s interval: a frame is due after every one of them.
    assert during >= chain - 1, f"{during} frames during {chain} back-to-back compiles"
