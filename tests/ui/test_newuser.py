"""What a first-time user sees at 80x24: the footer names the probe keys in every pane."""

from __future__ import annotations

import re

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
        assert ("g", "Per path/process/cgroup totals (Files pane)") in EbpftopApp.key_bindings(app)


async def test_header_says_when_frames_stop_coming() -> None:
    """Switching a probe on compiles it in the sampler (10-15 s on a busy box); no frame comes meanwhile and
    the header kept the last rates ('2 syscalls 319k/s') as if current. It must say they are not."""
    app, source = make_app("syscalls")
    async with app.run_test(size=(80, 24)) as pilot:
        source.emit(syscall_frame())
        await pilot.pause()
        await pilot.pause()
        status = next(line for line in screen_lines(app) if "every 1s" in line)
        assert "no new frame" not in status
        assert app.frame_at is not None
        app.frame_at -= 12.0  # the latest frame is now 12 s old: the sampler has been busy that long
        app.show_self()
        await pilot.pause()
        status = next(line for line in screen_lines(app) if "every 1s" in line)
        late = re.search(r"no new frame for (\d+)s", status)
        assert late is not None and int(late.group(1)) >= 12, status
        await pilot.press("space")  # paused: the user froze the screen, nothing is overdue
        await pilot.pause()
        status = next(line for line in screen_lines(app) if "every 1s" in line)
        assert "PAUSED" in status and "no new frame" not in status, status
        source.emit(syscall_frame())  # frames come again
        await pilot.press("space")
        await pilot.pause()
        await pilot.pause()
        status = next(line for line in screen_lines(app) if "every 1s" in line)
        assert "no new frame" not in status, status


async def test_help_promises_an_htop_sort_only_where_a_pane_has_it() -> None:
    """Help said 'M  Sort by size (htop M)', but no pane has a size or memory column: M only ever says so."""
    from ebpftop.ui.panes import PANES

    app, _source = make_app("files")
    async with app.run_test(size=(80, 24)):
        rows = dict(EbpftopApp.key_bindings(app))
        for letter in ("P", "M", "T"):
            panes = [w for _k, _t, w in PANES if letter in getattr(w, "HTOP_SORTS", {})]
            if panes:
                assert rows[letter].startswith("Sort by"), rows[letter]
            else:
                assert not rows[letter].startswith("Sort by") and "no pane" in rows[letter], rows[letter]


async def test_tree_summary_at_80_columns_keeps_filter_sort_and_losses() -> None:
    """At 80x24 the summary was cut after the rates: 'filtered', 'sort: pid ▲' and 'N events lost' never showed."""
    from textual.widgets import Static

    from ebpftop.model.proctree import ProcTreeModel
    from ebpftop.pids import of_pids
    from tests.ui.test_proctree_pane import first_sample, procs_frame

    app, source = make_app("procs")
    async with app.run_test(size=(80, 24)) as pilot:
        app.set_pids(of_pids(frozenset({1})))
        source.emit(procs_frame(ProcTreeModel(), first_sample(lost=1234)))
        await pilot.pause()
        await pilot.pause()
        summary = app.query_one("#proctree-summary", Static)
        line = next(line for line in screen_lines(app) if "processes" in line)
        assert "filtered" in line and "sort: pid ▲" in line and "1,234 events lost" in line, line
        assert len(str(summary.render())) <= summary.content_size.width
    app, source = make_app("procs")
    async with app.run_test(size=(160, 40)) as pilot:  # wide: the rates stay
        source.emit(procs_frame(ProcTreeModel(), first_sample()))
        await pilot.pause()
        await pilot.pause()
        line = next(line for line in screen_lines(app) if "processes" in line)
        assert "forks/s" in line and "sort: pid ▲" in line, line
