"""What a first-time user sees at 80x24: the footer names the probe keys in every pane."""

from __future__ import annotations

import pytest

from ebpftop.ui.app import EbpftopApp
from tests.ui.scripted import syscall_frame
from tests.ui.test_files_pane import files_frame
from tests.ui.test_layout import make_app, screen_lines


@pytest.mark.parametrize("pane", ["files", "syscalls", "procs", "xdp"])
async def test_footer_at_80x24_shows_the_probe_keys_in_every_pane(pane: str) -> None:
    """1-4 unload probes: the footer must say so in 80 columns, also on Files, the pane a user starts on
    (its long 'Per path/process totals' label pushed '1-4 Probes' off the edge there)."""
    app, source = make_app(pane)
    async with app.run_test(size=(80, 24)) as pilot:
        source.emit(files_frame() if pane == "files" else syscall_frame())
        await pilot.pause()
        await pilot.pause()
        footer = screen_lines(app)[-1]
        assert "1-4 Probes" in footer, footer
        assert "? Help" in footer and "q Quit" in footer, footer


async def test_help_still_explains_the_files_grouping_key() -> None:
    app, _source = make_app("files")
    async with app.run_test(size=(80, 24)):
        assert ("g", "Per path/process totals (Files pane)") in EbpftopApp.key_bindings(app)
