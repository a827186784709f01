"""Layout at 80x24 and at dashboard size, and a header that fits, condenses and tells what it measured."""

from __future__ import annotations

import re
from typing import Any

from textual.widgets import TabbedContent, TabPane

from ebpftop.model.frame import LIVE, LOADING, OFF, Frame, ProbeStatus
from ebpftop.registry import SPECS
from ebpftop.settings import Settings
from ebpftop.ui.app import EbpftopApp
from ebpftop.ui.fasttable import FastTable
from ebpftop.ui.probebar import ProbeBadge
from tests.ui.scripted import ScriptedSource, syscall_frame
from tests.ui.test_files_pane import files_frame


def screen_lines(app: EbpftopApp) -> list[str]:
    return ["".join(seg.text for seg in strip._segments) for strip in app.screen._compositor.render_strips()]


def make_app(pane: str | None = "syscalls", **settings: object) -> tuple[EbpftopApp, ScriptedSource]:
    source = ScriptedSource()
    return EbpftopApp(Settings(**settings), source, initial_pane=pane), source  # type: ignore[arg-type]


def with_statuses(frame: Frame, statuses: tuple[ProbeStatus, ...]) -> Frame:
    return Frame(frame.time, frame.elapsed, statuses, frame.panes, frame.self_cpu_pct, rss_bytes=70 * 2**20)


async def test_files_at_80x24_keeps_byte_rates_and_gives_path_the_room() -> None:
    app, source = make_app("files")
    async with app.run_test(size=(80, 24)) as pilot:
        source.emit(files_frame())
        await pilot.pause()
        await pilot.pause()
        table = app.query_one("#files-table", FastTable)
        shown = {c.key: c.width for c in table.columns.values() if not c.hidden}
        assert "read_bps" in shown and "write_bps" in shown
        assert shown["path"] > shown["process"]
        total = sum(w + 2 for w in shown.values())
        assert total <= table.scrollable_content_region.width  # nothing off-screen to the right
        header = next(line for line in screen_lines(app) if "PATH" in line)
        assert "READ B/s" in header and "WRITE B/s" in header


async def test_column_widths_do_not_move_when_sorting_or_with_new_rows() -> None:
    from ebpftop.model.files import FILE, FilesSample
    from tests.ui.test_files_pane import io

    small = FilesSample((io(1, 3, "/a", FILE, "sh", 1, 1, 10, 10),))
    big = FilesSample(
        (io(1234567, 3, "/var/lib/postgresql/16/main/base/16384/2619", FILE, "postgres-worker", 9, 9, 9_999_999, 10),)
    )
    app, source = make_app("files")
    async with app.run_test(size=(160, 30)) as pilot:
        source.emit(files_frame(small))
        await pilot.pause()
        table = app.query_one("#files-table", FastTable)
        widths = [c.width for c in table.columns.values()]
        source.emit(files_frame(big))  # longer names and bigger numbers: no column moves
        await pilot.pause()
        assert [c.width for c in table.columns.values()] == widths
        for _ in range(len(table.columns)):
            await pilot.press("s")  # the sort arrow comes and goes: no column moves
            await pilot.pause()
            assert [c.width for c in table.columns.values()] == widths


async def test_sort_arrow_marks_the_sorted_column() -> None:
    app, source = make_app("syscalls")
    async with app.run_test(size=(120, 30)) as pilot:
        source.emit(syscall_frame())
        await pilot.pause()
        await pilot.press("s")  # COUNT, biggest first
        await pilot.pause()
        header = next(line for line in screen_lines(app) if "COUNT" in line)
        assert "COUNT▼" in header and "SYSCALLS/s▼" not in header


async def test_header_at_80_columns_condenses_but_shows_every_field() -> None:
    app, source = make_app("syscalls", pids=frozenset({1, 1542, 17449, 20001, 30001, 40001, 50001}))
    async with app.run_test(size=(80, 24)) as pilot:
        statuses = tuple(ProbeStatus(s.name, LIVE, events_per_s=139_400.0, avg_ns=41.5, cpu_pct=0.9) for s in SPECS)
        source.emit(with_statuses(syscall_frame(), statuses))
        await pilot.pause()
        await pilot.press("space")
        await pilot.pause()
        top = screen_lines(app)[:2]
        text = "\n".join(top)
        for badge in ("1 files 139k/s", "2 syscalls 139k/s", "3 proctree 139k/s", "4 xdp 139k/s"):
            assert badge in top[0]
        for field in ("PAUSED", "PID 1 +6", "self 1.2%", "70MiB", "every 1s"):
            assert field in text, field
        assert all(len(line.rstrip()) <= 80 for line in top)


async def test_wide_header_shows_cost_with_its_age_and_dash_when_unmeasured() -> None:
    app, source = make_app("syscalls")
    async with app.run_test(size=(200, 30)) as pilot:
        statuses = (
            ProbeStatus("files", LIVE),  # just came back: nothing counted or timed yet
            ProbeStatus("syscalls", LIVE, events_per_s=139_400.0, avg_ns=41.5, cpu_pct=0.9, cost_age_s=6.2),
            ProbeStatus("proctree", OFF),
            ProbeStatus("xdp", LOADING),
        )
        source.emit(with_statuses(syscall_frame(), statuses))
        await pilot.pause()
        top = screen_lines(app)[0]
        assert "1 files –/s – – " in top
        assert "2 syscalls 139.4k/s 42ns 0.9% 6s ago" in top
        assert "3 proctree off" in top and "4 xdp loading" in top


async def test_badges_say_loading_before_the_sampler_reports() -> None:
    class Silent(ScriptedSource):
        def start(self, on_frame, on_status, on_notice) -> None:  # type: ignore[no-untyped-def]
            self.on_frame, self.on_status = on_frame, on_status

    source = Silent()
    app = EbpftopApp(Settings(probes=("syscalls", "xdp")), source)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        states = {b.spec.name: b.status.state for b in app.query(ProbeBadge)}
        assert states == {"files": OFF, "syscalls": LOADING, "proctree": OFF, "xdp": LOADING}


async def test_probes_option_opens_on_a_pane_that_is_on() -> None:
    app, _source = make_app(None, probes=("xdp",))
    async with app.run_test(size=(120, 30)):
        assert app.query_one("#tabs", TabbedContent).active == "tab-xdp"


async def test_probe_key_switches_the_probe_and_shows_its_pane() -> None:
    app, source = make_app("syscalls")
    async with app.run_test(size=(120, 30)) as pilot:
        source.on_status(tuple(ProbeStatus(s.name, OFF if s.name == "xdp" else LIVE) for s in SPECS))
        await pilot.pause()
        await pilot.press("4")  # xdp is off: switch it on and show it
        await pilot.pause()
        assert source.toggled == ["xdp"]
        assert app.query_one("#tabs", TabbedContent).active == "tab-xdp"
        await pilot.press("2")  # syscalls is live: switch it off; the pane on screen stays
        await pilot.pause()
        assert source.toggled == ["xdp", "syscalls"]
        assert app.query_one("#tabs", TabbedContent).active == "tab-xdp"


async def test_large_terminal_shows_every_pane_in_titled_boxes_small_one_tabs() -> None:
    app, source = make_app("syscalls")
    async with app.run_test(size=(200, 60)) as pilot:
        source.emit(syscall_frame())
        await pilot.pause()
        assert app.dashboard
        panes = list(app.query(TabPane))
        assert all(p.display and p.region.area > 0 for p in panes)
        titles = [str(p.border_title) for p in panes]
        assert titles == ["1 Files · live", "2 Syscalls · live", "3 Tree · live", "4 XDP · live"]
        await pilot.press("right_square_bracket")  # moves between boxes; all stay on screen
        await pilot.pause()
        assert all(p.display and p.region.area > 0 for p in app.query(TabPane))
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert not app.dashboard
        assert [p.id for p in app.query(TabPane) if p.region.area > 0] == [app.query_one("#tabs", TabbedContent).active]


async def test_tree_sort_arrow_matches_the_order_on_screen() -> None:
    from ebpftop.model.proctree import ProcTreeModel
    from tests.ui.test_proctree_pane import first_sample, procs_frame

    app, source = make_app("procs")
    async with app.run_test(size=(120, 30)) as pilot:
        source.emit(procs_frame(ProcTreeModel(), first_sample()))
        await pilot.pause()
        tree = app.query_one("#proctree-tree")
        summary = app.query_one("#proctree-summary")

        def roots() -> list[str]:
            return [str(node.label).split()[0].rstrip("0123456789") for node in tree.root.children]

        await pilot.press("s")  # pid -> name, A to Z
        source.emit(procs_frame(ProcTreeModel(), first_sample()))
        await pilot.pause()
        assert "sort: name ▲" in str(summary.render())
        assert roots() == sorted(roots())
        await pilot.press("r")  # Z to A
        source.emit(procs_frame(ProcTreeModel(), first_sample()))
        await pilot.pause()
        assert "sort: name ▼" in str(summary.render())
        assert roots() == sorted(roots(), reverse=True)


async def test_sparklines_have_a_label_and_scale_and_reset_when_the_filter_changes() -> None:
    from ebpftop.model.syscalls import SyscallsModel

    app, source = make_app("syscalls")
    async with app.run_test(size=(120, 30)) as pilot:
        model = SyscallsModel()
        for _ in range(3):
            source.emit(syscall_frame(model))
            await pilot.pause()
        label = str(app.query_one("#syscalls-spark-label").render())
        assert "syscalls/s: now 207.2k · peak 207.2k (graph top) · last 3 intervals" in label
        # The sampler hands the model the new filter with the next read: the old totals go.
        from ebpftop.model.frame import Frame
        from ebpftop.model.syscalls import SyscallCount, SyscallSample
        from ebpftop.pids import PidFilter

        only = PidFilter(frozenset({(4242, 0)}))  # what the sampler hands the model: a filter of processes
        table = model.update(SyscallSample((SyscallCount(4242, 110, "getppid", 10, "getppid-loop"),)), 1.0, only)
        frame = syscall_frame()
        source.emit(Frame(frame.time, 1.0, frame.probes, {"syscalls": table}))
        await pilot.pause()
        assert "now 10 · peak 10 (graph top) · last 1 intervals" in str(app.query_one("#syscalls-spark-label").render())


async def test_xdp_sparkline_names_its_interface() -> None:
    from ebpftop.model.xdp import XdpModel
    from tests.ui.test_xdp_pane import xdp_frame

    app, source = make_app("xdp")
    async with app.run_test(size=(120, 30)) as pilot:
        model = XdpModel()
        source.emit(xdp_frame(model))
        await pilot.pause()
        source.emit(xdp_frame(model))
        await pilot.pause()
        assert "XDP pkt/s on lo: now" in str(app.query_one("#xdp-spark-label").render())


async def test_ctrl_s_and_the_palette_save_a_screenshot_where_they_say(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HOME", str(tmp_path / "no-such-home"))  # root's case: no ~/Downloads
    monkeypatch.chdir(tmp_path)
    app, source = make_app("syscalls")

    def told(path: object) -> bool:
        return any(f"screenshot saved to {path}" == str(n.message) for n in app._notifications)

    async def wait_for(condition) -> None:  # type: ignore[no-untyped-def]
        for _ in range(600):  # the write runs on its own thread: wait on the result, generously
            if condition():
                return
            await pilot.pause(0.05)
        raise AssertionError("condition not met")

    async with app.run_test(size=(120, 30)) as pilot:
        source.emit(syscall_frame())
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_for(lambda: any(told(p) for p in tmp_path.glob("ebpftop-*.svg")))
        (saved,) = tmp_path.glob("ebpftop-*.svg")
        assert "getppid-loop" in saved.read_text()
        saved.unlink()
        # The palette's Screenshot command (Textual's own) goes the same way.
        command = next(c for c in app.get_system_commands(app.screen) if c.title == "Screenshot")
        command.callback()
        await wait_for(lambda: any(told(p) for p in tmp_path.glob("ebpftop-*.svg")))


async def _colours_drawn(app: EbpftopApp) -> set[str]:
    """Every foreground/background colour in what the app would send to the terminal (after its filters)."""
    colours = set()
    for strip in app.screen._compositor.render_strips():
        for line_filter in app._filters:
            strip = strip.apply_filter(line_filter, app.screen.styles.background)
        for segment in strip._segments:
            if segment.style is not None:
                for colour in (segment.style.color, segment.style.bgcolor):
                    if colour is not None:
                        triplet = colour.get_truecolor()
                        if len({triplet.red, triplet.green, triplet.blue}) > 1:
                            colours.add(triplet.hex)
    return colours


async def test_no_color_and_term_dumb_draw_without_colour(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for env in ({"NO_COLOR": "1"}, {"TERM": "dumb"}, {}):
        monkeypatch.delenv("NO_COLOR", raising=False)
        monkeypatch.setenv("TERM", "xterm-256color")
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        app, source = make_app("syscalls")
        async with app.run_test(size=(120, 30)) as pilot:
            source.emit(syscall_frame())
            await pilot.pause()
            colours = await _colours_drawn(app)
            if env:
                assert app.no_color and not colours, env  # greys only
            else:
                assert colours  # the check can see colour when there is some


async def test_xdp_breakdown_sits_under_its_rows_with_totals_since_attach() -> None:
    from ebpftop.model.xdp import XdpModel
    from tests.ui.test_xdp_pane import xdp_frame

    app, source = make_app("xdp")
    async with app.run_test(size=(120, 40)) as pilot:
        model = XdpModel()
        source.emit(xdp_frame(model))
        await pilot.pause()
        source.emit(xdp_frame(model))  # nothing new this interval: 1 000 packets since attach
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        detail = app.query_one("#xdp-detail")
        table = app.query_one("#xdp-table", FastTable)
        text = str(detail.render())
        assert "ipv4 0 pkt" in text  # this interval
        assert "since attach  ipv4 1,000 pkt" in text and "(1,000 packets in all)" in text
        assert detail.region.y - table.region.bottom <= 1  # right under the rows, not at the bottom of the pane


async def test_losses_are_never_cut_from_a_narrow_badge() -> None:
    app, source = make_app("syscalls")
    for size in ((80, 24), (160, 40)):
        async with app.run_test(size=size) as pilot:
            statuses = tuple(
                ProbeStatus(
                    s.name, LIVE, events_per_s=139_400.0, avg_ns=312.0, cpu_pct=0.9, cost_age_s=4.0, lost_total=12_345
                )
                for s in SPECS
            )
            source.emit(with_statuses(syscall_frame(), statuses))
            await pilot.pause()
            top = screen_lines(app)[0]
            for key, name in (("1", "files"), ("2", "syscalls"), ("3", "proctree"), ("4", "xdp")):
                # Within its own badge (single spaces), from the full name down to just the key.
                assert re.search(rf"{key}( {name})?( \S+)*? lost 12(\.3)?k", top), (size, top)
        app, source = make_app("syscalls")


async def test_lost_badge_says_what_it_counts_since() -> None:
    """Hovering a badge with losses names the moment they are counted from; the figure never resets."""
    import time

    app, source = make_app("syscalls")
    since = time.time() - 120
    async with app.run_test(size=(200, 30)) as pilot:
        statuses = (ProbeStatus("syscalls", LIVE, events_per_s=10.0, lost_total=1234, lost_since=since),)
        source.emit(with_statuses(syscall_frame(), statuses))
        await pilot.pause()
        badge = next(b for b in app.query(ProbeBadge) if b.spec.name == "syscalls")
        assert "lost 1.2k" in str(badge.render()) or "lost 1,234" in str(badge.render())
        tip = str(badge.tooltip)
        assert "lost 1,234" in tip and time.strftime("%H:%M:%S", time.localtime(since)) in tip and "never reset" in tip


async def test_self_line_timer_survives_no_main_screen() -> None:
    """The 1 s self-line timer can fire before mount or while the app tears down: no main screen, no crash."""
    app, _source = make_app("syscalls")
    app.show_self()  # not running: no screen at all
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")  # another screen on top: the main screen's bar is still found
        await pilot.pause()
        app.show_self()


async def test_rows_outgrowing_the_pane_at_80x24_never_push_a_column_off_screen() -> None:
    """The rows that brought the vertical scrollbar were laid out before it came: the table was 2
    cells too wide, a horizontal scrollbar appeared and WRITE B/s (the last column) was cut. Each
    table pane, from a few rows to more than fit and back."""
    from ebpftop.model.files import FILE, FileIO, FilesModel, FilesSample
    from ebpftop.model.syscalls import SyscallCount, SyscallSample, SyscallsModel
    from ebpftop.model.xdp import ATTACHED, IfaceSample, XdpModel, XdpSample
    from ebpftop.ui.fasttable import FastTable

    def files(n: int) -> Any:
        ios = tuple(FileIO(100 + i, 3, 9, f"/var/log/f{i}.log", FILE, "w", 1, 1, 10 * i, 10) for i in range(n))
        return FilesModel().update(FilesSample(ios), 1.0)

    def syscalls(n: int) -> Any:
        counts = tuple(SyscallCount(100 + i, 39, "getpid", 10 + i, f"p{i}") for i in range(n))
        return SyscallsModel().update(SyscallSample(counts), 1.0)

    def xdp(n: int) -> Any:
        rows = tuple(IfaceSample(f"veth{i}", i + 1, ATTACHED, up=True, mode="generic", attach_id=1) for i in range(n))
        return XdpModel().update(XdpSample(rows), 1.0)

    statuses = tuple(ProbeStatus(s.name, LIVE) for s in SPECS)
    for pane, make in (("files", files), ("syscalls", syscalls), ("xdp", xdp)):
        app, source = make_app(pane)
        async with app.run_test(size=(80, 24)) as pilot:
            for n in (3, 60, 3, 60):
                source.emit(Frame(1_700_000_000.0 + n, 1.0, statuses, {pane: make(n)}))
                await pilot.pause()
                await pilot.pause()
                table = app.query_one(f"#tab-{pane}").query_one(FastTable)
                assert not table.show_horizontal_scrollbar, (pane, n)
                assert table.virtual_size.width <= table.scrollable_content_region.width, (pane, n)
                assert table.show_vertical_scrollbar == (n == 60), (pane, n)
