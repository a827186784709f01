"""A probe that fails says why on screen, once, without a mouse (the badge's tooltip needs one)."""

from __future__ import annotations

from ebpftop.model.frame import ERROR, LIVE, OFF, UNAVAILABLE, ProbeStatus
from ebpftop.registry import SPECS
from ebpftop.settings import Settings
from ebpftop.ui.app import EbpftopApp
from tests.ui.scripted import ScriptedSource
from tests.ui.test_htop_attacks import shown


def statuses(**states: tuple[str, str | None]) -> tuple[ProbeStatus, ...]:
    """Every probe live but those named: name=(state, reason)."""
    return tuple(ProbeStatus(s.name, *states.get(s.name, (LIVE, None))) for s in SPECS)


async def test_failure_reason_is_said_once_as_text() -> None:
    source = ScriptedSource()
    app = EbpftopApp(Settings(), source)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert source.on_status is not None
        reason = "verifier rejected the program: [bold]R1 invalid mem access\x1b[2J\nline 2 of the verifier's log"
        source.on_status(statuses(files=(ERROR, reason)))
        await pilot.pause()
        said = [t for t in shown(app) if "probe" in t]
        assert said == [
            "files probe failed: verifier rejected the program: [bold]R1 invalid mem access\\x1b[2J"
            " (the rest on its badge's tooltip)"
        ]
        # The same state again (every interval repeats it): nothing more.
        source.on_status(statuses(files=(ERROR, reason)))
        source.on_status(statuses(files=(ERROR, reason)))
        await pilot.pause()
        assert len([t for t in shown(app) if "probe" in t]) == 1
        # Off, then failing again (the user pressed 1 twice): said again; a probe this kernel cannot run, too.
        source.on_status(statuses(files=(OFF, None)))
        await pilot.pause()
        source.on_status(statuses(files=(ERROR, "clang: out of memory"), xdp=(UNAVAILABLE, None)))
        await pilot.pause()
        said = [t for t in shown(app) if "probe" in t]
        assert said[1:] == ["files probe failed: clang: out of memory", "xdp probe cannot run here: no reason given"]
