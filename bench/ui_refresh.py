"""CPU per TUI refresh: the real app, headless, fed scripted frames of N file rows (python bench/ui_refresh.py N).

Isolates what the UI thread spends per interval (building the visible pane,
layout, rendering the screen) from the probes and from any terminal: prints
the median CPU milliseconds per frame over 15 frames.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ebpftop.model import frame as fr
from ebpftop.model.files import FileIO, FilesModel, FilesSample
from ebpftop.model.frame import Frame, ProbeStatus
from ebpftop.registry import SPECS
from ebpftop.settings import Settings
from ebpftop.ui.app import EbpftopApp
from tests.ui.scripted import ScriptedSource


def frame(i: int, rows: int) -> Frame:
    rnd = random.Random(i)
    io = tuple(
        FileIO(1000 + k, 3, 1, f"/var/log/app/file-{k}.log", "file", "writer",
               rnd.randint(1, 50), rnd.randint(1, 50), rnd.randint(1, 5000), rnd.randint(1, 5000))
        for k in range(rows)
    )
    statuses = tuple(ProbeStatus(s.name, fr.LIVE, events_per_s=1000.0 + i, avg_ns=40, cpu_pct=0.1) for s in SPECS)
    return Frame(1.7e9 + i, 1.0, statuses, {"files": FilesModel().update(FilesSample(io), 1.0)}, rss_bytes=150 << 20)


async def measure(rows: int, frames: int = 15) -> float:
    source = ScriptedSource()
    app = EbpftopApp(Settings(), source, initial_pane="files")
    data = [frame(i, rows) for i in range(frames + 1)]
    costs = []
    async with app.run_test(size=(160, 40)) as pilot:
        source.emit(data[0])
        await pilot.pause()
        await asyncio.sleep(0.3)
        for f in data[1:]:
            t0 = time.process_time()
            source.emit(f)
            await pilot.pause()
            await asyncio.sleep(0.1)  # the screen's refresh timer runs: the frame is drawn
            costs.append(time.process_time() - t0)
    return statistics.median(costs) * 1000


if __name__ == "__main__":
    print(f"{asyncio.run(measure(int(sys.argv[1]))):.1f}")
