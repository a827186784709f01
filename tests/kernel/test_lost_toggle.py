"""A cumulative figure never decreases: lost counts survive switching a probe off and on.

The real sampler drives the real proctree probe with a one-page ring buffer,
where every exec record (argv area included) is too big to fit, so each burst
of execs is lost for sure; between bursts the probe is toggled off and on.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Any

from ebpftop.model.frame import Frame
from ebpftop.registry import BY_NAME, ProbeSpec
from ebpftop.sampler import Sampler
from tests.kernel.helpers import FrameCollector, probe_status

BURST = "i=0; while [ $i -lt 60 ]; do /bin/true; i=$((i+1)); done"


@dataclass
class _TinyRing:
    ringbuf_pages: int = 1


def test_lost_never_decreases_across_toggles() -> None:
    base = BY_NAME["proctree"]
    spec = ProbeSpec(
        base.name,
        base.pane_key,
        base.key,
        base.title,
        base.probe,
        base.model,
        settings_args=(("ringbuf_pages", "ringbuf_pages"),),
    )
    seen = FrameCollector()
    frames = seen.frames

    def status(f: Frame) -> Any:
        return probe_status(f, "proctree")

    sampler = Sampler([spec], ["proctree"], 0.2, seen.on_frame, stats="off", settings=_TinyRing())
    sampler.start()
    try:
        lost_after = []
        for _cycle in range(3):
            seen.next(lambda f: status(f).state == "live")
            before = status(frames[-1]).lost_total
            subprocess.run(["sh", "-c", BURST], check=True)
            # 60 execs, none fits: at least that many more lost.
            f = seen.next(lambda f, b=before: status(f).state == "live" and status(f).lost_total >= b + 60)
            lost_after.append(status(f).lost_total)
            sampler.toggle("proctree")
            seen.next(lambda f: status(f).state == "off")
            sampler.toggle("proctree")
        seen.next(lambda f: status(f).state == "live")
    finally:
        sampler.stop()
        sampler.join(30)
    assert sampler.error is None
    assert lost_after[0] >= 60 and lost_after == sorted(lost_after) and lost_after[-1] >= 180
    lost = [status(f).lost_total for f in frames]
    assert lost == sorted(lost), lost  # never down, on or off
    since = {status(f).lost_since for f in frames if status(f).lost_since is not None}
    assert len(since) == 1  # one origin for the whole run
    # The pane's own cumulative figure agrees and never decreases either; its
    # per-interval figure adds up to it.
    trees = [f.panes["procs"] for f in frames if "procs" in f.panes]
    totals = [t.lost_total for t in trees]
    assert totals == sorted(totals) and totals[-1] >= 180
    assert sum(t.lost_interval for t in trees) == totals[-1]
