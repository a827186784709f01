"""At start every probe asked for says "loading" until it is live: the probes compile one after another,
and one still waiting its turn is not "off" (a user reads "off" as "not asked for" or "failed")."""

from __future__ import annotations

import threading

from ebpftop.model import frame as fr
from ebpftop.model.frame import ProbeStatus
from ebpftop.registry import SPECS
from ebpftop.sampler import Sampler
from ebpftop.settings import Settings

WANTED = ("syscalls", "proctree")


def test_probes_waiting_to_compile_say_loading_not_off() -> None:
    published: list[dict[str, str]] = []
    all_live = threading.Event()

    def on_status(statuses: tuple[ProbeStatus, ...]) -> None:
        states = {s.name: s.state for s in statuses}
        published.append(states)
        if all(states[n] == fr.LIVE for n in WANTED):
            all_live.set()

    s = Sampler(SPECS, WANTED, 0.5, on_frame=lambda f: None, on_status=on_status, settings=Settings())
    s.start()
    try:
        assert all_live.wait(120), published[-1:]
    finally:
        s.stop()
        s.join(30)
    before_live = published[: next(i for i, st in enumerate(published) if all(st[n] == fr.LIVE for n in WANTED))]
    assert before_live  # the loading phase was published at all
    for states in before_live:
        for name in WANTED:
            assert states[name] in (fr.LOADING, fr.LIVE), (name, states)
        # A probe not asked for is off from the first status on, never "loading".
        assert states["files"] == fr.OFF and states["xdp"] == fr.OFF, states
    # The second probe waits while the first compiles: that wait was published, as loading.
    assert any(st["syscalls"] == fr.LOADING and st["proctree"] == fr.LOADING for st in before_live)
