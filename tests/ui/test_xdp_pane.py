"""XDP pane driven by Pilot against a scripted source: rows, busy/missing, expand, sort, cursor, gone rows."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static, TabbedContent

import ebpftop.ui.app as app_module
from ebpftop.model.frame import LIVE, Frame, ProbeStatus
from ebpftop.model.xdp import ATTACHED, BUSY, MISSING, OFF, PROTOS, IfaceSample, LinkCounters, XdpModel, XdpSample
from ebpftop.registry import SPECS
from ebpftop.settings import Settings
from ebpftop.ui.app import EbpftopApp
from ebpftop.ui.fasttable import FastTable as DataTable
from ebpftop.ui.pane import ProbeRequest
from ebpftop.ui.xdp_pane import XdpPane
from tests.ui.scripted import HOSTILE, ScriptedSource


def counters(**slots: tuple[int, int]) -> tuple[int, ...]:
    return tuple([slots.get(p, (0, 0))[0] for p in PROTOS] + [slots.get(p, (0, 0))[1] for p in PROTOS])


def ifaces(with_veth: bool = True) -> tuple[IfaceSample, ...]:
    rows = [
        IfaceSample(
            "lo", 1, ATTACHED, up=True, mode="generic", link=LinkCounters(1000, 128_000, 0, 1000, 128_000, 0),
            xdp=counters(ipv4=(1000, 142_000), udp=(900, 127_800), tcp=(100, 14_200)), attach_id=1,
            prog_id=501, prog_name="xdp_count",
        ),
        IfaceSample(
            HOSTILE, 2, BUSY, up=True, mode="generic", prog_id=77, prog_name="[red]pass\x1b",
            reason="another XDP program is attached; left untouched",
        ),
        IfaceSample("nope", 0, MISSING, reason="no interface named 'nope' in this network namespace"),
    ]
    if with_veth:
        rows.insert(2, IfaceSample("veth0", 9, OFF, up=False, link=LinkCounters(5, 500)))
    return tuple(rows)


def xdp_frame(model: XdpModel, with_veth: bool = True, data: bool = True) -> Frame:
    table = model.update(XdpSample(ifaces(with_veth)), 1.0)
    statuses = tuple(ProbeStatus(s.name, LIVE) for s in SPECS)
    return Frame(time=1_700_000_000.0, elapsed=1.0, probes=statuses, panes={"xdp": table} if data else {})


def cell_texts(table: DataTable, column: int) -> list[str]:
    return [str(table.get_row_at(i)[column]).strip() for i in range(table.row_count)]


class RecordingApp(EbpftopApp):
    """The real app, recording the attach/detach requests the pane posts."""

    CSS_PATH = str(Path(app_module.__file__).with_name("app.tcss"))  # relative paths resolve next to this file

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.requests: list[tuple[str, bool]] = []

    def on_probe_request(self, message: ProbeRequest) -> None:
        self.requests.append((message.args[0], message.verb == "attach_iface"))


async def open_xdp(pilot, app: EbpftopApp, source: ScriptedSource, model: XdpModel) -> XdpPane:  # type: ignore[no-untyped-def]
    await pilot.pause()  # let the first tab activate before switching
    app.query_one("#tabs", TabbedContent).active = "tab-xdp"
    await pilot.pause()
    source.emit(xdp_frame(model))
    await pilot.pause()
    pane = app.query_one(XdpPane)
    assert app.active_pane() is pane
    assert app.focused is pane.table
    return pane


async def test_every_interface_listed_with_state_and_program() -> None:
    source = ScriptedSource()
    app, model = EbpftopApp(Settings(), source), XdpModel()
    async with app.run_test(size=(160, 40)) as pilot:
        pane = await open_xdp(pilot, app, source, model)
        table = pane.table
        assert cell_texts(table, 0) == ["lo", "\\x1b[2J[bold]x", "veth0", "nope"]
        assert cell_texts(table, 1) == ["attached", "busy", "off", "missing"]
        assert cell_texts(table, 3)[0] == "1.0k"  # XDP pkt/s on lo
        assert cell_texts(table, 3)[1] == "-"  # nothing of ours on the busy one
        assert cell_texts(table, 11)[1] == "77 [red]pass\\x1b"  # its program, as visible text
        assert "udp 90%" in cell_texts(table, 10)[0]
        summary = str(app.query_one("#xdp-summary", Static).render())
        assert "1 busy with another XDP program" in summary
        svg = app.export_screenshot()
        assert "\x1b" not in svg


async def test_enter_expands_breakdown_of_selected_row() -> None:
    source = ScriptedSource()
    app, model = EbpftopApp(Settings(), source), XdpModel()
    async with app.run_test(size=(160, 40)) as pilot:
        pane = await open_xdp(pilot, app, source, model)
        detail = app.query_one("#xdp-detail", Static)
        assert not detail.display
        await pilot.press("enter")
        await pilot.pause()
        assert pane.expanded and detail.display
        text = str(detail.render())
        assert "udp 900 pkt" in text and "tcp 100 pkt" in text and "ipv4 1,000 pkt" in text
        await pilot.press("down")  # the busy row: its program and why it is left alone
        await pilot.pause()
        text = str(detail.render())
        assert "program 77" in text and "left untouched" in text
        await pilot.press("enter")
        await pilot.pause()
        assert not detail.display


async def test_selection_sticks_and_gone_interface_row_goes() -> None:
    source = ScriptedSource()
    app, model = EbpftopApp(Settings(), source), XdpModel()
    async with app.run_test(size=(160, 40)) as pilot:
        pane = await open_xdp(pilot, app, source, model)
        await pilot.press("down", "down")
        assert pane.selected_iface() == "veth0"
        assert pane.selected_pid() is None
        source.emit(xdp_frame(model))
        await pilot.pause()
        assert pane.selected_iface() == "veth0"
        source.emit(xdp_frame(model, with_veth=False))  # veth0 deleted
        await pilot.pause()
        assert "veth0" not in cell_texts(pane.table, 0)
        assert pane.selected_iface() in {"lo", HOSTILE, "nope"}


async def test_sort_keys_and_probe_off() -> None:
    source = ScriptedSource()
    app, model = EbpftopApp(Settings(), source), XdpModel()
    async with app.run_test(size=(160, 40)) as pilot:
        pane = await open_xdp(pilot, app, source, model)
        await pilot.press("s")  # -> STATE
        assert pane.sort_index == 1
        assert cell_texts(pane.table, 1) == ["attached", "busy", "missing", "off"]
        await pilot.press("r")
        assert cell_texts(pane.table, 1) == ["off", "missing", "busy", "attached"]
        pane.sort_by("pps")
        assert cell_texts(pane.table, 0)[0] == "lo"
        source.emit(xdp_frame(model, data=False))
        await pilot.pause()
        assert pane.table.row_count == 0
        assert str(app.query_one("#xdp-summary", Static).render()) == "xdp probe off"
        assert pane.selected_iface() is None


async def test_probe_key_4_toggles_xdp() -> None:
    source = ScriptedSource()
    app = EbpftopApp(Settings(), source)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.press("4")
        assert source.toggled == ["xdp"]


async def test_a_asks_to_attach_or_detach_selected_interface_never_a_busy_one() -> None:
    source = ScriptedSource()
    app, model = RecordingApp(Settings(), source), XdpModel()
    async with app.run_test(size=(160, 40)) as pilot:
        await open_xdp(pilot, app, source, model)
        await pilot.press("a")  # lo: attached -> detach
        await pilot.press("down", "a")  # busy: refused with a notice, nothing asked
        await pilot.press("down", "a")  # veth0: off -> attach
        await pilot.press("down", "a")  # nope: missing, nothing to do
        await pilot.pause()
        assert app.requests == [("lo", False), ("veth0", True)]


def _frame(model: XdpModel, rows: tuple[IfaceSample, ...]) -> Frame:
    table = model.update(XdpSample(rows), 1.0)
    statuses = tuple(ProbeStatus(s.name, LIVE) for s in SPECS)
    return Frame(time=1_700_000_000.0, elapsed=1.0, probes=statuses, panes={"xdp": table})


async def test_the_cursor_and_graph_start_on_the_first_counted_interface() -> None:
    """`--xdp v6c`: lo is listed first and not counted; the graph started on lo ('now 0')."""
    source = ScriptedSource()
    app, model = EbpftopApp(Settings(), source, initial_pane="xdp"), XdpModel()
    rows = (
        IfaceSample("lo", 1, OFF, up=True, link=LinkCounters(5, 500)),
        IfaceSample("v6c", 7, ATTACHED, up=True, mode="generic", xdp=counters(ipv4=(3, 300)), attach_id=1),
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        source.emit(_frame(model, rows))
        await pilot.pause()
        pane = app.query_one(XdpPane)
        assert pane.selected_iface() == "v6c"
        assert "XDP pkt/s on v6c" in str(app.query_one("#xdp-spark-label").render())
        await pilot.press("up")  # the user's choice holds from then on
        source.emit(_frame(model, rows))
        await pilot.pause()
        assert pane.selected_iface() == "lo"


async def test_detached_and_gone_rows_show_their_last_counts() -> None:
    """The row detached with `a` (off) and the deleted one (gone) carry, for one frame, the packets
    counted since the previous read: the JSON had them, the pane drew '-'."""
    from ebpftop.model.xdp import GONE

    source = ScriptedSource()
    app, model = EbpftopApp(Settings(), source, initial_pane="xdp"), XdpModel()
    before = (
        IfaceSample("v6a", 5, ATTACHED, up=True, mode="generic", xdp=counters(ipv4=(10, 1000)), attach_id=1),
        IfaceSample("v6c", 7, ATTACHED, up=True, mode="generic", xdp=counters(ipv4=(10, 1000)), attach_id=2),
    )
    last = (
        IfaceSample("v6a", 5, GONE, mode="generic", xdp=counters(ipv4=(41, 4100), udp=(31, 3100)), attach_id=1),
        IfaceSample("v6c", 7, OFF, up=True, mode="generic", xdp=counters(ipv4=(50, 5000)), attach_id=2),
    )
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        source.emit(_frame(model, before))
        await pilot.pause()
        source.emit(_frame(model, last))
        await pilot.pause()
        table = app.query_one(XdpPane).table
        assert cell_texts(table, 1) == ["gone", "off"]
        assert cell_texts(table, 3) == ["31", "40"]  # XDP PKT/s over the 1 s frame
        source.emit(_frame(model, (IfaceSample("v6c", 7, OFF, up=True),)))
        await pilot.pause()
        assert cell_texts(table, 3) == ["-"]
